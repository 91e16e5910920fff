"""The exercise checkers are honest both ways (issues 10 and 17): each passes its reference
solution and every correct alternative in exercises/correct/, fails the untouched starter, fails
every wrong answer in exercises/wrong/ with the hint that names its mistake and every answer in
exercises/shortcuts/, on a few seeds here and on many under `-m slow`. In a hand-out (no
solutions, wrong, correct or shortcuts folders) the tests that need them skip."""
import concurrent.futures
import csv
import glob
import json
import os
import subprocess
import sys
import zipfile

import numpy
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EX = os.path.join(HERE, "exercises")
sys.path.insert(0, EX)
import check  # noqa: E402

EXERCISES = sorted(check.EXERCISES)
SEEDS = (11, 12)  # fixed here so CI is repeatable; the command line draws fresh ones
MANY = range(100, 110)  # the slow suite's seeds (about 6 minutes on 2 cores)


def answers(folder):
    return sorted(glob.glob(os.path.join(EX, folder, "ex*_*.py")))


def number(path):
    return int(os.path.basename(path)[2])


SOLUTIONS, CORRECT, WRONG, SHORTCUTS = (answers(f) for f in ("solutions", "correct", "wrong",
                                                              "shortcuts"))
needs = pytest.mark.skipif(not SOLUTIONS, reason="a hand-out: the answer folders are removed")

EXPECTED = {  # the hint each wrong answer must get: one per mistake
    "ex1_support_set.py": "on the support points",
    "ex1_before_the_step.py": "before any gradient step",
    "ex1_alpha_ignored.py": "α is not passed on",
    "ex1_hard_coded.py": "one_step_mse is wrong: got",
    "ex1_k_fixed.py": "K is not passed on",
    "ex1_per_task_vector.py": "should be one number, got one array of shape (100,)",
    "ex1_rmse.py": "root of the MSE",
    "ex2_sign_error.py": "goes UP the gradient",
    "ex2_divided_by_k_again.py": "times too small: the mean over the K points",
    "ex2_not_through_the_step.py": "differentiate THROUGH the inner step",
    "ex2_alpha_ignored.py": "α is not passed on",
    "ex2_alpha_or_default.py": "with α = 0, θ' should be θ",
    "ex2_in_place.py": "changed params in place",
    "ex2_flat_list.py": "a flat list of",
    "ex2_last_layer_only.py": "only the last layer moves",
    "ex2_library_shortcut.py": "shortcut: your code calls maml.inner_update",
    "ex2_imports_solution.py": "shortcut: your code imports the reference solutions",
    "ex2_exit_at_import.py": "exited (status 0) before returning an answer",
    "ex2_raises_at_import.py": "raised ModuleNotFoundError at ex2_raises_at_import.py line",
    "ex2_prints_a_verdict.py": "no step was taken",
    "ex2_div5.py": "does not match the expected answer",
    "ex2_returns_tuple_list_type.py": "should be a list of",
    "ex2_rmse.py": "root of the MSE",
    "ex2_sorted.py": "changed x in place",
    "ex2_sum_loss.py": "times too big: the loss is the MEAN",
    "ex2_x_scaled.py": "changed x in place",
    "ex2_y_centered.py": "changed y in place",
    "ex3_through_the_step.py": "EXACT meta-gradient",
    "ex3_averaged_twice.py": "times too small",
    "ex3_summed_query_loss.py": "times too big",
    "ex3_gradient_at_theta.py": "the gradient is taken at θ instead of θ'",
    "ex3_swapped.py": "support and query are swapped",
    "ex3_alpha_ignored.py": "α is not passed on",
    "ex3_task_zero_only.py": "only task 0's gradient",
    "ex3_keeps_task_axis.py": "It keeps the task axis",
    "ex3_library_shortcut.py": "shortcut: your code calls maml.maml_loss",
    "ex3_inner_on_query.py": "the inner step is taken on the query set",
    "ex3_loss_vector.py": "should be a list of",
    "ex3_mean_axis1.py": "times too small",
    "ex3_times4.py": ("does not match the expected answer", "T = 2 times too big"),  # 4/T × it
    "ex3_two_steps.py": "two inner steps",
    "ex4_one_shared_gradient.py": "all tasks share one step",
    "ex4_mean_over_tasks.py": "times too small: averaging the loss over tasks",
    "ex4_one_step_only.py": "only one step was taken",
    "ex4_gradient_at_theta.py": "a stale gradient",
    "ex4_alpha_ignored.py": "α is not passed on",
    "ex4_library_shortcut.py": "shortcut: your code calls maml.adapt",
    "ex4_chained.py": "the tasks are chained",
    "ex4_mean_times4.py": "does not match the expected answer",
    "ex4_off_by_one.py": "steps − 1",
    "ex4_shuffles_x.py": "changed x_support and y_support in place",
    "ex4_task0_for_all.py": "task 0's θ'",
    "ex4_unrolled3.py": ("does not match the expected answer", "steps − 1 = 3 steps"),
    "ex5_global_random_state.py": "numpy's global generator",
    "ex5_missing_feature_axis.py": "x_support is one array of shape",
    "ex5_fixed_seed_inside.py": "two calls with the same rng returned the same",
    "ex5_query_wrong_range.py": "x_query should be uniform on [-5, 5]",
    "ex5_query_is_support.py": "the query points are the support points",
    "ex5_slope_is_intercept.py": "not drawn independently",
    "ex5_normal_slopes.py": "amplitude should be uniform",
    "ex5_integer_slopes.py": "different values",
    "ex5_list_fields.py": "x_support is a list",
    "ex5_query_reused.py": "returned the same x_query",
    "ex5_reseed_global.py": "numpy's global generator",
    "ex6_one_scalar_alpha.py": "elementwise",
    "ex6_not_through_the_step.py": "the meta-gradient must flow THROUGH the inner step",
    "ex6_loss_vector.py": "should be one number",
    "ex6_swapped.py": "support and query are swapped",
    "ex6_times4.py": ("is wrong: got", "T = 2 times too small", "T = 4"),  # T/4 × it
    "ex7_euclidean.py": "SQUARED Euclidean distance",
    "ex7_prototype_sum.py": "your prototypes are the SUM",
    "ex7_softmax_over_queries.py": "your softmax normalises over the queries",
    "ex7_sign_error.py": "a sign error",
    "ex7_mean_over_classes.py": "the mean runs over the class axis too",
    "ex7_summed.py": "that is the SUM over all T·M",
    "ex7_sum_over_queries.py": "queries of an episode: average them",
    "ex7_query_prototypes.py": "your prototypes come from the query set",
    "ex7_naive_log_softmax.py": "underflows to 0 and log(0) = −inf",
    "ex7_class_major.py": "you assumed the support points come class by class",
    "ex7_sorted_in_place.py": "changed x_support and y_support in place",
    "ex7_not_traceable.py": "autograd cannot differentiate your loss",
    "ex7_detached.py": "its gradient with respect to φ is zero",
    "ex7_per_episode.py": "a loss per episode: average over the episodes too",
    "ex7_library_shortcut.py": "shortcut: your code calls protonets.prototypical_loss",
}
SHORTCUT_HINTS = {  # what each shortcut's verdict says: none is credited
    "ex1_prints_verdict.py": "one_step_mse is wrong",
    "ex2_hardcoded_k5.py": "does not match",
    "ex2_patch_allclose.py": "no step was taken",
    "ex2_reload_maml.py": "shortcut: your code opens",
    "ex2_stack_walk.py": "no step was taken",
    "ex3_os_exit.py": "exited (status 0)",
    "ex3_variants_backdoor.py": "failed",
    "ex4_exec_solution.py": "shortcut: your code opens exercises/solutions",
    "ex4_hardcoded_t4.py": "raised",
    "ex5_memory_hog.py": "MemoryError",
    "ex6_loop_forever.py": "ran past 3 s",
    "ex7_reload_protonets.py": "shortcut: your code opens",
}


def hinted(name, message):
    hints = EXPECTED[name]
    return any(h in message for h in ((hints,) if isinstance(hints, str) else hints))


def verdicts(jobs):
    """{(path, seed): verdict} for many checks at once (each runs in its own process)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        found = {job: pool.submit(check.check, number(job[0]), job[0], job[1], 3.0 if
                                  "loop_forever" in job[0] else check.TIMEOUT) for job in jobs}
        return {job: f.result() for job, f in found.items()}


@pytest.fixture(scope="module")
def quick():
    """Solutions on both seeds; every other answer on one of them, alternately."""
    jobs = [(p, s) for p in SOLUTIONS for s in SEEDS]
    jobs += [(p, SEEDS[i % 2]) for i, p in enumerate(CORRECT + WRONG + SHORTCUTS)]
    return verdicts(jobs)


def one(results, path):
    return next(v for (p, _), v in results.items() if p == path)


@needs
@pytest.mark.parametrize("path", SOLUTIONS + CORRECT, ids=os.path.basename)
def test_checker_passes_the_solution_and_correct_answers(quick, path):
    for (p, seed), v in quick.items():
        if p == path:
            assert v["status"] == "passed" and v["passed"] == v["total"] > 0, (seed, v)


@needs
@pytest.mark.parametrize("path", WRONG, ids=os.path.basename)
def test_checker_fails_each_wrong_answer_with_its_hint(quick, path):
    v = one(quick, path)
    assert v["status"] == "failed" and hinted(os.path.basename(path), v["message"]), v


@needs
@pytest.mark.parametrize("path", SHORTCUTS, ids=os.path.basename)
def test_checker_credits_no_shortcut(quick, path):
    v = one(quick, path)
    assert v["status"] == "failed" and SHORTCUT_HINTS[os.path.basename(path)] in (
        v["status"] + ": " + v["message"]), v


@needs
def test_every_wrong_answer_has_its_hint_and_every_exercise_wrong_answers():
    assert sorted(EXPECTED) == sorted(os.path.basename(w) for w in WRONG)
    assert sorted(SHORTCUT_HINTS) == sorted(os.path.basename(w) for w in SHORTCUTS)
    assert {number(w) for w in WRONG} == set(EXERCISES)


@pytest.mark.slow
@needs
def test_many_seeds():
    """Every solution and correct answer passes, every wrong answer fails with its hint, on
    many seeds."""
    results = verdicts([(p, s) for p in SOLUTIONS + CORRECT + WRONG for s in MANY])
    wrong = [(os.path.basename(p), s, v) for (p, s), v in results.items()
             if (p in WRONG) != (v["status"] == "failed")
             or p in WRONG and not hinted(os.path.basename(p), v["message"])]
    assert wrong == []


@pytest.mark.slow
@needs
def test_the_learning_check_of_exercise_5_passes_correct_lines_for_200_seeds():
    """Correct samplers that draw in another order get other batches: any 200 of them learn."""
    sys.path.insert(0, os.path.join(EX, "solutions"))
    from ex5_new_tasks import sample_line_batch

    def ratio(seed):
        rng = numpy.random.default_rng(seed)
        before, after = check.learns([sample_line_batch(10, 10, 10, rng)
                                      for _ in range(check.ITERATIONS)])
        return after / before
    ratios = [ratio(seed) for seed in range(200)]
    assert max(ratios) < 0.9, sorted(ratios)[-3:]


@pytest.mark.parametrize("n", EXERCISES)
def test_checker_says_not_yet_for_the_untouched_starter(n):
    v = check.check(n, os.path.join(EX, check.STARTERS[n]), SEEDS[0])
    assert v["status"] == "not yet" and "NotImplementedError" in v["message"], v


def test_inputs_vary_from_seed_to_seed():
    sizes = {tuple(c["args"][1].shape) for seed in range(6)
             for c in check.exercise_4(numpy.random.default_rng(seed))[0][:1]}
    steps = {c["args"][4] for seed in range(6)
             for c in check.exercise_4(numpy.random.default_rng(seed))[0][:3]}
    assert len(sizes) > 3 and max(steps) >= 4


def test_exercise_7s_reference_is_protonets_loss_and_blind_to_relabelling():
    """The checker's loss, straight from the formula, is the library's; permuting the labels
    (the columns of y_support and y_query together) permutes the prototypes and changes
    nothing; the episodes' sizes vary with the seed."""
    import protonets
    for seed in range(3):
        rng = numpy.random.default_rng(seed)
        params = check.maml.init_mlp((5, 12, 4), rng, std=0.5)
        xs, ys, xq, yq = check.episodes(rng, 3, 4, 2, 3, 5, shuffled=seed > 0)
        want = protonets.prototypical_loss(params, xs, ys, xq, yq)
        assert numpy.isclose(check.proto_loss(params, xs, ys, xq, yq), want, rtol=1e-12)
        order = rng.permutation(4)
        assert numpy.isclose(check.proto_loss(params, xs, ys[..., order], xq, yq[..., order]),
                             want, rtol=1e-12)
    sizes = {tuple(c["args"][2].shape) for seed in range(6)
             for c in check.exercise_7(numpy.random.default_rng(seed))[0][:2]}
    assert len(sizes) > 6


def test_messages_show_enough_digits():
    assert check.show(3.6145451, 3.6145453) != "got 3.614545, expected 3.614545"
    assert "3.6145451" in check.show(3.6145451, 3.6145453)


def run(*args, cwd=HERE):
    return subprocess.run([sys.executable, "exercises/check.py", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_command_line_draws_fresh_seeds_and_refuses_bad_ones():
    result = run("2", "--seed", "-1")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert run("9").returncode == 2
    if not WRONG:
        return
    seeds = set()
    for _ in range(2):
        result = run("2", "--file", "exercises/wrong/ex2_sign_error.py")
        assert result.returncode == 1 and "goes UP the gradient" in result.stdout
        seeds.add(result.stdout.split("--seed ")[1].split()[0])
    assert len(seeds) == 2


def test_all_json_is_only_json_even_when_answers_print_and_exit(tmp_path):
    """A Latin-1 file with a coding line, prints, an exit and a loop: stdout is the JSON."""
    (tmp_path / check.STARTERS[1]).write_bytes(
        b"# -*- coding: latin-1 -*-\n\"\"\"R\xe9ponse.\"\"\"\nprint('passed')\n"
        b"def one_step_mse(params, k, alpha, seed):\n    print('\xe9t\xe9')\n    return 0.5\n")
    (tmp_path / check.STARTERS[2]).write_text("import os\nos._exit(0)\n")
    (tmp_path / check.STARTERS[3]).write_text("def first_order_meta_gradient(*a):\n"
                                              "    while True:\n        pass\n")
    result = run("--all", "--json", "--dir", str(tmp_path), "--timeout", "3")
    report = json.loads(result.stdout)
    assert result.returncode == 1, result.stderr
    assert [v["status"] for v in report["verdicts"]] == ["failed"] * 3 + ["not yet"] * 4
    assert "exited (status 0)" in report["verdicts"][1]["message"]
    assert "ran past 3 s" in report["verdicts"][2]["message"]


def test_class_mode_writes_one_report_with_partial_credit(tmp_path):
    """A sample class: a folder, a zip with a folder inside, an empty folder."""
    klass = tmp_path / "class"
    (klass / "ann").mkdir(parents=True)
    (klass / "ann" / check.STARTERS[2]).write_text(
        open(os.path.join(EX, "correct", "ex2_float32.py")).read() if CORRECT else "")
    (klass / "cem").mkdir()
    with zipfile.ZipFile(klass / "bo.zip", "w") as z:
        z.writestr("bo/" + check.STARTERS[3], "import os\nos._exit(0)\n")
    (klass / "notes.txt").write_text("not a student")
    result = run("--class", str(klass), "--report", str(tmp_path / "report.csv"), "--seed", "4")
    assert result.returncode == 1, result.stdout + result.stderr
    rows = list(csv.DictReader(open(tmp_path / "report.csv", encoding="utf-8")))
    assert len(rows) == 3 * len(EXERCISES) and {r["student"] for r in rows} == {"ann", "bo", "cem"}
    assert set(rows[0]) == {"student", "exercise", "verdict", "passed", "total", "hint",
                            "seconds"}
    by = {(r["student"], int(r["exercise"])): r for r in rows}
    if CORRECT:
        assert by["ann", 2]["verdict"] == "passed" and by["ann", 2]["passed"] == by["ann", 2]["total"]
    assert by["bo", 3]["verdict"] == "failed" and "exited" in by["bo", 3]["hint"]
    assert by["cem", 5]["verdict"] == "not yet"
    assert json.load(open(tmp_path / "report.json", encoding="utf-8"))["rows"][0]["student"] == "ann"
    assert run("--class", str(tmp_path / "nowhere")).returncode == 2


def test_a_checker_failure_is_exit_status_3(monkeypatch, capsys):
    def broken(rng):
        raise RuntimeError("a bug in the checker")
    monkeypatch.setitem(check.EXERCISES, 1, broken)
    assert check.main(["1", "--seed", "1"]) == 3
    assert "the checker itself failed" in capsys.readouterr().out


@pytest.mark.slow
def test_the_handout_has_no_answers_and_its_exercise_tests_pass(tmp_path):
    copy = tmp_path / "maml-class"
    subprocess.run([sys.executable, os.path.join(EX, "handout.py"), str(copy)], check=True,
                   cwd=HERE, capture_output=True)
    for folder in ("solutions", "wrong", "correct", "shortcuts"):
        assert not (copy / "exercises" / folder).exists()
    assert not (copy / ".git").exists()
    needle = '"""Reference' + " solution of exercise"  # the solutions' first line
    assert subprocess.run(["grep", "-r", needle, str(copy)], capture_output=True).returncode == 1
    os.symlink(os.path.join(HERE, ".venv"), copy / ".venv")
    result = subprocess.run([".venv/bin/python", "-m", "pytest", "-q", "test_exercises.py",
                             "test_commands.py", "-k", "exercise or class or ex1"], cwd=copy,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
