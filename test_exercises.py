"""The exercise checkers are honest both ways: each passes the reference solution, fails the
untouched starter, and fails every typical wrong answer in exercises/wrong/."""
import glob
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "exercises"))
import check  # noqa: E402

EXERCISES = sorted(check.CHECKS)


def starter(n):
    return glob.glob(os.path.join(HERE, "exercises", f"ex{n}_*.py"))[0]


def verdict(capsys, n, path):
    status = check.main([str(n), "--file", path])
    return status, capsys.readouterr().out


@pytest.mark.parametrize("n", EXERCISES)
def test_checker_passes_the_reference_solution(capsys, n):
    solution = os.path.join(HERE, "exercises", "solutions", os.path.basename(starter(n)))
    status, out = verdict(capsys, n, solution)
    assert status == 0 and ": passed: " in out, out


@pytest.mark.parametrize("n", EXERCISES)
def test_checker_fails_the_untouched_starter(capsys, n):
    status, out = verdict(capsys, n, starter(n))
    assert status == 1 and "not done yet" in out and "NotImplementedError" in out, out


WRONG = sorted(glob.glob(os.path.join(HERE, "exercises", "wrong", "ex*_*.py")))
EXPECTED = {  # what the checker must say about each typical wrong answer
    "ex1_support_set.py": "on the support points",
    "ex2_sign_error.py": "goes UP the gradient",
    "ex2_divided_by_k_again.py": "K = 5 times too small",
    "ex2_not_through_the_step.py": "differentiate THROUGH the inner step",
    "ex3_through_the_step.py": "EXACT meta-gradient",
    "ex3_averaged_twice.py": "T = 5 times too small",
    "ex4_one_shared_gradient.py": "changed task 0's adapted weights",
    "ex4_mean_over_tasks.py": "T = 4 times too small",
    "ex5_global_random_state.py": "the same seed gave different tasks",
    "ex5_missing_feature_axis.py": "expected (6, 4, 1)",
    "ex6_one_scalar_alpha.py": "elementwise",
}


def test_every_exercise_has_a_wrong_answer_and_every_wrong_answer_a_message():
    assert sorted(EXPECTED) == sorted(os.path.basename(w) for w in WRONG)
    assert {int(os.path.basename(w)[2]) for w in WRONG} == set(EXERCISES)


@pytest.mark.parametrize("path", WRONG, ids=os.path.basename)
def test_checker_fails_each_typical_wrong_answer(capsys, path):
    n = int(os.path.basename(path)[2])
    status, out = verdict(capsys, n, path)
    assert status == 1 and "not right yet" in out, out
    assert EXPECTED[os.path.basename(path)] in out, out


def test_checker_command_line():
    result = subprocess.run([sys.executable, "exercises/check.py", "2"], cwd=HERE,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "not done yet" in result.stdout
    result = subprocess.run([sys.executable, "exercises/check.py", "9"], cwd=HERE,
                            capture_output=True, text=True)
    assert result.returncode == 2
