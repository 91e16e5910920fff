"""Grading one answer: run it in its sandbox (sandbox.py), rebuild what it sent back, and
run the exercise's checks on it (exercise_checks.py) -> a verdict.

    check(exercise, path, seed) -> dict(status, message, passed, total, seconds)
"""
import math
import os
import time
import warnings

import numpy

import sandbox
import tasks
from compare import Failed, NotYet, Other, problem
from exercise_checks import EXERCISES, FUNCTIONS, SWITCHED_OFF

TIMEOUT, MEMORY_MB = 20.0, 4096


def run_student(exercise, path, calls, timeout=TIMEOUT, memory_mb=MEMORY_MB):
    """Make `calls` [{kind, args, names}] to the student's function in a fresh process.
    -> one entry per call: {'value': ...} or what went wrong, with 'changed' (inputs changed in
    place) and 'global_rng' (numpy's global generator used). Raises Failed or NotYet when the
    file can't be run at all."""
    request = dict(exercise=exercise, path=os.path.abspath(path), function=FUNCTIONS[exercise],
                   switched_off=SWITCHED_OFF.get(exercise, ()), calls=calls, memory_mb=memory_mb,
                   cpu_seconds=math.ceil(timeout) + 5)
    try:
        outline, arrays = sandbox.run(request, timeout)
    except sandbox.Stopped as e:
        raise Failed(str(e)) from None
    if "checker_error" in outline:
        raise RuntimeError(outline["checker_error"])
    if "load" in outline:
        problem(outline["load"])
    return [dict(entry, value=rebuild(entry["value"], arrays)) if "value" in entry else entry
            for entry in outline["calls"]]


def rebuild(tree, arrays):
    """The value an outline describes, its arrays taken from `arrays`."""
    if "array" in tree:
        return arrays[tree["array"]]
    if "list" in tree:
        return [rebuild(t, arrays) for t in tree["list"]]
    if "tuple" in tree:
        return tuple(rebuild(t, arrays) for t in tree["tuple"])
    if "batch" in tree:
        return tasks.Batch(**{k: rebuild(t, arrays) for k, t in tree["batch"].items()})
    return Other(tree["other"])


def check(exercise, path, seed, timeout=TIMEOUT, memory_mb=MEMORY_MB):
    """-> dict(status, message, passed, total, seconds); status 'passed', 'not yet', 'failed'
    or 'error' (the checker itself failed)."""
    start = time.perf_counter()
    verdict = dict(status="failed", passed=0, total=0)
    try:
        calls, checks, success = EXERCISES[exercise](numpy.random.default_rng(seed))
        verdict["total"] = len(checks([{}] * len(calls)))  # built only, not run
        if not os.path.isfile(path):
            raise NotYet(f"no file {os.path.basename(path)} in {os.path.dirname(path) or '.'}")
        results = run_student(exercise, path, calls, timeout, memory_mb)
        found = checks(results)
        failures = []
        for _, run in found:
            try:
                with warnings.catch_warnings(), numpy.errstate(all="ignore"):
                    warnings.simplefilter("ignore")  # odd answers: the verdict says it
                    run()
                verdict["passed"] += 1
            except Failed as e:
                failures.append(e)
        specific = [e for e in failures if not e.generic] or failures  # a named mistake first
        verdict["message"] = str(specific[0]) if failures else success
        verdict["status"] = "failed" if failures else "passed"
    except NotYet as e:
        verdict.update(status="not yet", message=str(e))
    except Failed as e:
        verdict.update(message=str(e))
    except Exception as e:  # noqa: BLE001 - a bug of the checker's, not the student's
        verdict.update(status="error", message=f"the checker itself failed: "
                       f"{type(e).__name__}: {e}")
    verdict["seconds"] = round(time.perf_counter() - start, 2)
    return verdict

