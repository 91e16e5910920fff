"""The exercise checkers are honest both ways (issue 10): each passes its reference solution and
every correct alternative in exercises/correct/, fails the untouched starter, fails every wrong
answer in exercises/wrong/ with the hint that names its mistake, refuses the library shortcuts
and the reference solutions, and can't be fooled by what the student's file does at import."""
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "exercises"))
import check  # noqa: E402

EXERCISES = sorted(check.CHECKS)
SEEDS = (11, 12)  # fixed here so CI is repeatable; the command line draws fresh ones


def starter(n):
    return os.path.join(HERE, "exercises", check.STARTERS[n])


def verdict(capsys, n, path, seed):
    status = check.main([str(n), "--file", path, "--seed", str(seed)])
    return status, capsys.readouterr().out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", EXERCISES)
def test_checker_passes_the_reference_solution(capsys, n, seed):
    status, out = verdict(capsys, n, os.path.join(HERE, "exercises", "solutions",
                                                  check.STARTERS[n]), seed)
    assert status == 0 and ": passed: " in out, out


CORRECT = sorted(glob.glob(os.path.join(HERE, "exercises", "correct", "ex*_*.py")))


@pytest.mark.parametrize("path", CORRECT, ids=os.path.basename)
def test_checker_passes_correct_answers_written_differently(capsys, path):
    status, out = verdict(capsys, int(os.path.basename(path)[2]), path, SEEDS[0])
    assert status == 0 and ": passed: " in out, out


@pytest.mark.parametrize("n", EXERCISES)
def test_checker_fails_the_untouched_starter(capsys, n):
    status, out = verdict(capsys, n, starter(n), SEEDS[0])
    assert status == 1 and ": not yet: " in out and "NotImplementedError" in out, out


WRONG = sorted(glob.glob(os.path.join(HERE, "exercises", "wrong", "ex*_*.py")))
EXPECTED = {  # the hint each wrong answer must get: one per mistake
    "ex1_support_set.py": "on the support points",
    "ex1_before_the_step.py": "before any gradient step",
    "ex1_alpha_ignored.py": "α is not passed on",
    "ex1_hard_coded.py": "expected",
    "ex2_sign_error.py": "goes UP the gradient",
    "ex2_divided_by_k_again.py": "K = 5 times too small",
    "ex2_not_through_the_step.py": "differentiate THROUGH the inner step",
    "ex2_alpha_ignored.py": "α is not passed on",
    "ex2_in_place.py": "changed θ in place",
    "ex2_flat_list.py": "a flat list of 6 arrays",
    "ex2_last_layer_only.py": "only the last layer moves",
    "ex2_library_shortcut.py": "shortcut: your code calls maml.inner_update",
    "ex2_imports_solution.py": "shortcut: your code imports the reference solutions",
    "ex2_exit_at_import.py": "called exit()",
    "ex2_raises_at_import.py": "raised ModuleNotFoundError",
    "ex2_prints_a_verdict.py": "θ' differs",
    "ex3_through_the_step.py": "EXACT meta-gradient",
    "ex3_averaged_twice.py": "times too small",
    "ex3_summed_query_loss.py": "times too big",
    "ex3_gradient_at_theta.py": "the gradient is taken at θ instead of θ'",
    "ex3_swapped.py": "support and query are swapped",
    "ex3_alpha_ignored.py": "α is not passed on",
    "ex3_task_zero_only.py": "only task 0's gradient",
    "ex3_keeps_task_axis.py": "It keeps the task axis",
    "ex3_library_shortcut.py": "shortcut: your code calls maml.maml_loss",
    "ex4_one_shared_gradient.py": "changed task 0's adapted weights",
    "ex4_mean_over_tasks.py": "T = 4 times too small",
    "ex4_one_step_only.py": "only one step was taken",
    "ex4_gradient_at_theta.py": "the gradient is taken at θ every step",
    "ex4_alpha_ignored.py": "α is not passed on",
    "ex4_library_shortcut.py": "shortcut: your code calls maml.adapt",
    "ex5_global_random_state.py": "the same seed gave different tasks",
    "ex5_missing_feature_axis.py": "expected (6, 4, 1)",
    "ex5_fixed_seed_inside.py": "two calls with the same rng returned the same tasks",
    "ex5_query_wrong_range.py": "x_query should be uniform on [-5, 5]",
    "ex5_query_is_support.py": "the query points are the support points",
    "ex5_slope_is_intercept.py": "not drawn independently",
    "ex5_normal_slopes.py": "amplitude should be uniform",
    "ex6_one_scalar_alpha.py": "elementwise",
    "ex6_not_through_the_step.py": "the meta-gradient with respect to θ is wrong",
}


def test_every_wrong_answer_has_its_hint_and_every_exercise_wrong_answers():
    assert sorted(EXPECTED) == sorted(os.path.basename(w) for w in WRONG)
    assert {int(os.path.basename(w)[2]) for w in WRONG} == set(EXERCISES)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", WRONG, ids=os.path.basename)
def test_checker_fails_each_wrong_answer_with_its_hint(capsys, path, seed):
    status, out = verdict(capsys, int(os.path.basename(path)[2]), path, seed)
    lines = out.strip().splitlines()
    assert status == 1 and lines[0].startswith(f"Exercise {os.path.basename(path)[2]} ("), out
    assert ": failed: " in lines[0] and EXPECTED[os.path.basename(path)] in lines[0], out
    assert len(lines) == 2 and lines[1].startswith("(checked with seed")  # nothing else printed


def test_library_functions_are_back_after_a_check(capsys):
    import maml
    before = {name: getattr(maml, name) for names in check.SWITCHED_OFF.values() for name in names}
    verdict(capsys, 2, os.path.join(HERE, "exercises", "wrong", "ex2_library_shortcut.py"), 1)
    assert all(getattr(maml, name) is f for name, f in before.items())


def test_the_exact_starter_file_is_checked_not_a_backup_copy(tmp_path, capsys):
    shutil.copy(os.path.join(HERE, "exercises", "solutions", check.STARTERS[2]),
                tmp_path / check.STARTERS[2])
    shutil.copy(os.path.join(HERE, "exercises", "wrong", "ex2_sign_error.py"),
                tmp_path / "ex2_inner_update copy.py")
    assert check.main(["--all", "--dir", str(tmp_path), "--json", "--seed", "3"]) == 1
    verdicts = json.loads(capsys.readouterr().out)["verdicts"]
    assert verdicts[1]["status"] == "passed", verdicts[1]


def test_teacher_mode_json_lists_all_six_with_the_right_verdicts(tmp_path, capsys):
    ex = os.path.join(HERE, "exercises")
    shutil.copy(os.path.join(ex, "solutions", check.STARTERS[1]), tmp_path / check.STARTERS[1])
    shutil.copy(starter(2), tmp_path / check.STARTERS[2])
    shutil.copy(os.path.join(ex, "wrong", "ex3_swapped.py"), tmp_path / check.STARTERS[3])
    shutil.copy(os.path.join(ex, "correct", "ex4_task_by_task.py"), tmp_path / check.STARTERS[4])
    # exercise 5: no file handed in
    shutil.copy(os.path.join(ex, "wrong", "ex2_exit_at_import.py"), tmp_path / check.STARTERS[6])
    assert check.main(["--all", "--dir", str(tmp_path), "--json", "--seed", "5"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["seed"] == 5
    assert [(v["exercise"], v["status"]) for v in report["verdicts"]] == [
        (1, "passed"), (2, "not yet"), (3, "failed"), (4, "passed"), (5, "not yet"),
        (6, "failed")]
    assert "swapped" in report["verdicts"][2]["message"]
    assert "exit()" in report["verdicts"][5]["message"]


def test_teacher_mode_prints_one_line_per_exercise(capsys):
    assert check.main(["--all", "--seed", "1"]) == 1  # the untouched starters
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and all(": not yet: " in line for line in lines)


def test_checker_command_line_draws_fresh_seeds():
    seeds = set()
    for _ in range(2):
        result = subprocess.run([sys.executable, "exercises/check.py", "2", "--file",
                                 "exercises/wrong/ex2_sign_error.py"], cwd=HERE,
                                capture_output=True, text=True)
        assert result.returncode == 1 and "goes UP the gradient" in result.stdout
        seeds.add(result.stdout.split("--seed ")[1].split()[0])
    assert len(seeds) == 2
    result = subprocess.run([sys.executable, "exercises/check.py", "9"], cwd=HERE,
                            capture_output=True, text=True)
    assert result.returncode == 2
