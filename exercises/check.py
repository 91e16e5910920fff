"""Check your answer to an exercise:

    .venv/bin/python exercises/check.py N                 # N = 1..7: checks exercises/exN_<name>.py
    .venv/bin/python exercises/check.py N --file PATH     # check another file (a copy, say)
    .venv/bin/python exercises/check.py --all             # one line per exercise
    .venv/bin/python exercises/check.py --all --json --dir STUDENT_FOLDER   # for a grading script
    .venv/bin/python exercises/check.py --class CLASS_FOLDER --report report.csv   # a whole class

Every run draws fresh sizes (K, T, steps, widths), step sizes, tasks and weights (the seed is
printed; --seed N repeats a run). Your code runs in a separate process, with a time and memory
limit, on copies of the inputs; it returns its answer as numbers, and this process compares
them with the reference. While exercise N runs, the library functions it asks you to write are
switched off and the reference solutions can't be read.

Exit status: 0 every checked answer passed, 1 some did not (failed or not yet), 2 a bad command
line, 3 the checker itself failed.
"""
import argparse
import io
import csv
import json
import math
import os
import pickle
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import autograd.numpy as anp  # noqa: E402
from autograd import grad  # noqa: E402
from autograd.tracer import getval  # noqa: E402

import checkpoints  # noqa: E402
import maml  # noqa: E402
import tasks  # noqa: E402

STARTERS = {1: "ex1_measure.py", 2: "ex2_inner_update.py", 3: "ex3_first_order.py",
            4: "ex4_several_steps.py", 5: "ex5_new_tasks.py", 6: "ex6_meta_sgd.py",
            7: "ex7_prototypical_loss.py"}
FUNCTIONS = {1: "one_step_mse", 2: "inner_update", 3: "first_order_meta_gradient",
             4: "adapt_batch", 5: "sample_line_batch", 6: "meta_sgd_loss", 7: "prototypical_loss"}
# The library functions that do what exercise N asks you to write: switched off meanwhile
# (maml's unless a module is named).
SWITCHED_OFF = {2: ("inner_update", "adapt", "maml_loss", "maml_loss_loop", "evaluate"),
                3: ("maml_loss", "maml_loss_loop", "meta_train", "train"),
                4: ("inner_update", "adapt", "maml_loss", "maml_loss_loop", "evaluate"),
                6: ("maml_loss", "maml_loss_loop", "meta_train", "train"),
                7: ("protonets.prototypical_loss", "protonets.per_episode_loss",
                    "protonets.logits", "protonets.prototypes")}
CHILD = os.path.join(HERE, "child.py")
SUPERVISOR = [sys.executable, "-X", "utf8", os.path.abspath(__file__)]  # class mode, a student
TIMEOUT, MEMORY_MB = 20.0, 4096


class Failed(Exception):
    """A check that did not pass; the message names the mistake (unless `generic`)."""

    def __init__(self, message, generic=False):
        super().__init__(message)
        self.generic = generic


class NotYet(Exception):
    """The starter's gap is still there."""


# --- running the student's code in its own process ---------------------------------------------

def run_student(exercise, path, calls, timeout=TIMEOUT, memory_mb=MEMORY_MB):
    """Make `calls` [{kind, args, names}] to the student's function in a fresh process.
    -> one entry per call: {'value': ...} or what went wrong, with 'changed' (inputs changed in
    place) and 'global_rng' (numpy's global generator used). Raises Failed or NotYet when the
    file can't be run at all."""
    request = dict(exercise=exercise, path=os.path.abspath(path), function=FUNCTIONS[exercise],
                   switched_off=SWITCHED_OFF.get(exercise, ()), calls=calls, memory_mb=memory_mb,
                   cpu_seconds=math.ceil(timeout) + 5)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as private, tempfile.TemporaryDirectory() as work:
        request_path, result_path = (os.path.join(private, n) for n in ("request", "result.npz"))
        with open(request_path, "wb") as f:
            pickle.dump(request, f)
        child = subprocess.Popen([sys.executable, "-I", "-X", "utf8", CHILD, request_path,
                                  result_path], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True)
        try:
            _, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise Failed(f"your code ran past {timeout:g} s (the time limit; --timeout changes "
                         "it): is there a loop that never ends?") from None
        except BaseException:  # Ctrl-C: the answer runs in its own session, stop it too
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise
        if not os.path.exists(result_path):
            status = child.returncode
            if status < 0:
                raise Failed(f"your code was stopped by signal {-status} before returning an "
                             "answer (out of memory?)")
            last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            if "Error" in last[0] and status == 1:
                raise Failed(f"your code crashed before returning an answer: {last[0][:200]}")
            raise Failed(f"your code exited (status {status}) before returning an answer")
        with numpy.load(result_path, allow_pickle=False) as data:
            outline = json.loads(str(data["outline"]))
            arrays = [data[str(i)] for i in range(len(data.files) - 1)]
    if "checker_error" in outline:
        raise RuntimeError(outline["checker_error"])
    if "load" in outline:
        problem(outline["load"])
    return [dict(entry, value=rebuild(entry["value"], arrays)) if "value" in entry else entry
            for entry in outline["calls"]]


def problem(entry):
    """Raise what went wrong in one call (or at import) as the student's verdict."""
    if "not_yet" in entry:
        raise NotYet(f"{entry['not_yet']}: replace the `raise NotImplementedError` line with "
                     "your code")
    if "shortcut" in entry:
        allowed = ("embed and autograd.numpy are all it takes" if "protonets." in
                   entry["shortcut"] else "maml.mlp, maml.loss, maml.per_task and autograd.grad "
                   "are allowed")
        if any(w in entry["shortcut"] for w in ("switched off", "solutions", "opens")):
            raise Failed(f"shortcut: your code {entry['shortcut']}. Write it yourself ({allowed})")
        raise Failed(f"shortcut: your code {entry['shortcut']}; no credit")
    if "exit" in entry:
        status = 0 if entry["exit"] in ("None", "") else entry["exit"]
        raise Failed(f"your code exited (status {status}) before returning an answer")
    if "missing" in entry:
        raise Failed(f"your file has no function {entry['missing']}()")
    raise Failed(f"your code {entry['error']}")


class Other:
    """Something in the answer that is not numbers: only its type name came back."""

    def __init__(self, name):
        self.name = name


def rebuild(tree, arrays):
    if "array" in tree:
        return arrays[tree["array"]]
    if "list" in tree:
        return [rebuild(t, arrays) for t in tree["list"]]
    if "tuple" in tree:
        return tuple(rebuild(t, arrays) for t in tree["tuple"])
    if "batch" in tree:
        return tasks.Batch(**{k: rebuild(t, arrays) for k, t in tree["batch"].items()})
    return Other(tree["other"])


def answer(entry):
    """The value a call returned, or Failed saying what went wrong instead."""
    if "value" not in entry:
        problem(entry)
    if entry["changed"]:
        raise Failed(f"your code changed {' and '.join(entry['changed'])} in place: work on new "
                     "arrays and leave the inputs as they were (the caller reuses them)")
    return entry["value"]


def call(*args, names, kind="call"):
    return dict(kind=kind, args=list(args), names=list(names))


def rng_input(seed, key):
    """An rng for the student's function: calls with the same key share one Generator."""
    return {"rng": (int(seed), key)}


# --- comparing answers -----------------------------------------------------------------------------

def describe(value, pairs=False):
    """One line about what an answer is, however odd its shape (`pairs`: weights were asked
    for, so a flat sequence of arrays gets the hint to pair them up)."""
    if isinstance(value, Other):
        return f"a {value.name}"
    if isinstance(value, numpy.ndarray):
        return f"one array of shape {value.shape}" if value.ndim else f"the number {value}"
    if isinstance(value, (list, tuple)):
        if pairs and value and all(isinstance(a, numpy.ndarray) and a.ndim >= 1 for a in value):
            return (f"a flat {type(value).__name__} of {len(value)} arrays: pair them up as "
                    "[(W0, b0), (W1, b1), ...]")
        return f"a {type(value).__name__} of {len(value)} items"
    return type(value).__name__


def flat(tree):
    """A list of (W, b) pairs as one float64 vector."""
    return numpy.concatenate([numpy.ravel(numpy.asarray(a, dtype=float)) for pair in tree
                              for a in pair])


def tolerance(got):
    """Relative tolerance for an answer: float64 agrees to ~1e-7, float32 to ~1e-3."""
    dtypes = [numpy.asarray(a).dtype for pair in got for a in pair] if isinstance(
        got, (list, tuple)) else [numpy.asarray(got).dtype]
    return 1e-7 if all(d.itemsize >= 8 or d.kind in "iub" for d in dtypes) else 1e-3


def close(got, want, rtol):
    """Within rtol of want, measured against want's largest entry (so tiny entries don't
    demand more digits than the answer's dtype has)."""
    got, want = numpy.ravel(got), numpy.ravel(want)
    if got.shape != want.shape or not numpy.all(numpy.isfinite(got)):
        return False
    return numpy.max(numpy.abs(got - want), initial=0) <= rtol * numpy.max(
        numpy.abs(want), initial=0) + 1e-12


def show(got, want):
    """'got A, expected B' with as many digits as it takes to see the difference."""
    got, want = float(got), float(want)
    rel = abs(got - want) / max(abs(want), 1e-300)
    digits = min(17, max(6, 2 - int(math.floor(math.log10(rel))) if rel > 0 else 17))
    return f"got {got:.{digits}g}, expected {want:.{digits}g}"


def show_largest(got, want):
    """The entry of two flat vectors that differs most, shown with enough digits."""
    i = int(numpy.argmax(numpy.abs(got - want)))
    return f"the entry that differs most: {show(got[i], want[i])}"


def same_shapes(got, want, what):
    """Fail, in one line, unless `got` is a list of pairs shaped like `want`."""
    try:
        shapes = [tuple(numpy.shape(a) for a in pair) for pair in got]
        ok = isinstance(got, (list, tuple)) and all(
            len(pair) == 2 and all(isinstance(a, numpy.ndarray) for a in pair) for pair in got)
    except TypeError:
        shapes, ok = None, False
    wanted = [tuple(numpy.shape(a) for a in pair) for pair in want]
    if not ok:
        raise Failed(f"{what} should be a list of {len(wanted)} (W, b) pairs, got "
                     f"{describe(got, pairs=True)}")
    if shapes != wanted:
        bad = next(i for i, (s, w) in enumerate(zip(shapes + [None] * len(wanted), wanted))
                   if s != w)
        found = shapes[bad] if bad < len(shapes) else "nothing"
        hint = (" It keeps the task axis: sum it away." if found != "nothing" and
                len(found[0]) == len(wanted[bad][0]) + 1 else "")
        raise Failed(f"{what} has {len(shapes)} pairs; pair {bad} has shapes {found}, expected "
                     f"{wanted[bad]}.{hint}")


def compare(got, want, candidates, where, what, rtol=None):
    """Pass if the list of pairs `got` equals `want` (within rtol, by default got's dtype's
    tolerance); else fail with the hint of the first candidate mistake (answer, hint) it
    equals, or an honest generic line."""
    same_shapes(got, want, what)
    rtol, vector = rtol or tolerance(got), flat(got)
    if close(vector, flat(want), rtol):
        return
    for mistake, hint in candidates:
        try:
            if close(vector, flat(mistake), rtol) and not close(flat(mistake), flat(want), rtol):
                raise Failed(f"{where}: {hint}")
        except (ValueError, TypeError):
            continue
    raise Failed(f"{where}: {what} does not match the expected answer ("
                 f"{show_largest(vector, flat(want))}).", generic=True)


def traceable(entry, plain, what):
    """Fail naming the typical mistake when differentiating through the student's answer
    raised although the plain calls (`plain`) returned: plain numpy copies autograd can't
    trace."""
    if "error" in entry and all("value" in e for e in plain):
        raise Failed(f"autograd cannot differentiate through your {what}: typically, it is "
                     "computed on plain numpy copies (numpy.array(...), float(), .astype, "
                     "getval, writing into numpy.zeros) that autograd can't trace. Compute with "
                     "autograd.numpy on the arrays you are given. (Differentiating through it, "
                     f"your code {entry['error'].rstrip('.')}.)")


def compare_number(got, want, candidates, where, what):
    if not (isinstance(got, numpy.ndarray) and got.size == 1 and got.dtype.kind in "fiu"):
        raise Failed(f"{what} should be one number, got {describe(got)}")
    rtol = tolerance(got)
    got = float(got.ravel()[0])
    if close(got, want, rtol):
        return
    for mistake, hint in candidates:
        if close(got, mistake, rtol) and not close(mistake, want, rtol):
            raise Failed(f"{where}: {hint}")
    raise Failed(f"{where}: {what} is wrong: {show(got, want)}.", generic=True)


def step(params, grads, scale):
    return [(W - scale * dW, b - scale * db) for (W, b), (dW, db) in zip(params, grads)]


def scaled(grads, s):
    return [(dW * s, db * s) for dW, db in grads]


def network(rng):
    """Fresh widths (one or two hidden layers of 6-30 units), weights away from ReLU kinks."""
    hidden = [int(rng.integers(6, 31)) for _ in range(int(rng.integers(1, 3)))]
    return maml.init_mlp((1, *hidden, 1), rng, std=0.3)


def batch(rng, n_tasks, k, k_query=None):
    return tasks.sample_batch(n_tasks, k, k_query or int(rng.integers(3, 12)), rng)


def alpha_gone(alpha, fixed):
    """The 'α is not passed on' candidates: fixed step sizes other than α itself."""
    return [a for a in fixed if a != alpha]


# --- one exercise each: (calls to make, checks on their answers) -----------------------------------

def exercise_1(rng):
    """one_step_mse: the query MSE after one step, for fresh (K, α, seed)."""
    params, _ = checkpoints.load_params(os.path.join(ROOT, "checkpoints", "sinusoid.npz"),
                                        model="maml")
    cases = [(int(rng.integers(2, 8)), float(rng.uniform(0.002, 0.008)), int(rng.integers(1, 2**31))),
             (int(rng.integers(12, 25)), float(rng.uniform(0.02, 0.045)), int(rng.integers(1, 2**31))),
             (int(rng.integers(3, 25)), float(rng.uniform(0.011, 0.03)), int(rng.integers(1, 2**31)))]
    calls = [call(params, k, alpha, seed, names=("params", "k", "alpha", "seed"))
             for k, alpha, seed in cases]

    def mse(k, alpha, seed, steps=1, on="query", n_support=None, reduce=numpy.mean):
        b = tasks.sample_batch(100, n_support or k, 50, numpy.random.default_rng(seed))
        adapted = maml.adapt(params, b.x_support, b.y_support, alpha=alpha, steps=steps)
        x, y = (b.x_query, b.y_query) if on == "query" else (b.x_support, b.y_support)
        return float(reduce(maml.loss(adapted, x, y)))

    def check(entry, k, alpha, seed):
        def run():
            mistakes = [(mse(k, alpha, seed, on="support"), "you measured the MSE on the "
                         "support points, which the step was fitted to. Measure it on the query "
                         "points."),
                        (mse(k, alpha, seed, steps=0), "that is the MSE before any gradient step."),
                        (mse(k, alpha, seed, steps=2), "that is two gradient steps; the exercise "
                         "asks for one."),
                        (math.sqrt(mse(k, alpha, seed)), "that is the root of the MSE (RMSE): "
                         "leave out the square root."),
                        (mse(k, alpha, seed, reduce=numpy.sum), "that is the SUM over the 100 "
                         "tasks: average them."),
                        (mse(k, alpha, 0), "the seed is not passed on: use "
                         "numpy.random.default_rng(seed).")]
            mistakes += [(mse(k, a, seed), f"α is not passed on: you used α = {a}.")
                         for a in alpha_gone(alpha, (0.01,))]
            mistakes += [(mse(k, alpha, seed, n_support=n), f"K is not passed on: you used K = {n}.")
                         for n in (5, 10) if n != k]
            compare_number(answer(entry), mse(k, alpha, seed), mistakes,
                           f"K={k}, α={alpha:.4f}, seed={seed}", "one_step_mse")
        return f"K={k}, α={alpha:.4f}", run

    def checks(results):
        return [check(entry, *case) for entry, case in zip(results, cases)]
    return calls, checks, "one_step_mse matches on 3 fresh (K, α, seed) triples"


def reference_update(params, x, y, alpha):
    g = grad(lambda p: anp.mean((maml.mlp(p, x) - y) ** 2))(params)
    return step(params, g, alpha)


def exercise_2(rng):
    """inner_update: θ' for fresh K and α (and α = 0), θ left alone, the meta-gradient through it."""
    params = network(rng)
    alphas = [float(rng.uniform(0.02, 0.3)), float(rng.uniform(0.02, 0.3)), 0.0,
              float(rng.uniform(0.02, 0.3))]
    ks = [int(k) for k in rng.choice(numpy.arange(2, 21), len(alphas), replace=False)]
    data = [batch(rng, 1, k) for k in ks]
    names = ("params", "x", "y", "alpha")
    calls = [call(params, b.x_support[0], b.y_support[0], a, names=names)
             for a, b in zip(alphas, data)]
    b = data[-1]
    through = (params, b.x_support[0], b.y_support[0], alphas[-1], b.x_query[0], b.y_query[0])
    calls.append(call(*through, kind="grad_through_update", names=names + ("x_query", "y_query")))

    def check(entry, alpha, k, x, y):
        def run():
            got = answer(entry)
            want = reference_update(params, x, y, alpha)
            g = grad(lambda p: anp.mean((maml.mlp(p, x) - y) ** 2))(params)
            if alpha == 0:
                compare(got, want, [(step(params, g, a), f"with α = 0, θ' should be θ (no step), "
                                     f"but yours took a step of α = {a}: is α passed on, and "
                                     "is 0 taken as a step size (not as 'no α given', as "
                                     "`alpha or ...` does)?") for a in (0.01, 0.1, 0.05)],
                        "α = 0", "inner_update's result")
                return
            rmse = grad(lambda p: anp.sqrt(anp.mean((maml.mlp(p, x) - y) ** 2)))(params)
            mistakes = [(step(params, g, -alpha), "your step goes UP the gradient: "
                         "θ' = θ − α∇L, with a minus."),
                        (step(params, g, alpha / k), f"your step is K = {k} times too small: "
                         "the mean over the K points already divides by K; don't divide again."),
                        (step(params, g, alpha * k), f"your step is K = {k} times too big: the "
                         "loss is the MEAN squared error over the K points, not the sum."),
                        (step(params, rmse, alpha), "that is a step on the root of the MSE "
                         "(RMSE): the loss is the mean squared error, no square root."),
                        (params, "θ' equals θ: no step was taken."),
                        (params[:-1] + step(params[-1:], g[-1:], alpha), "only the last layer "
                         "moves: θ' = θ − α∇L changes every W and b.")]
            mistakes += [(step(params, g, a), f"α is not passed on: your step uses α = {a} "
                          "whatever alpha is.") for a in alpha_gone(alpha, (0.01, 0.1, 0.05))]
            compare(got, want, mistakes, f"K = {k}, α = {alpha:.3f}", "inner_update's result")
        return f"θ' for K = {k}, α = {alpha:.3f}", run

    def through_step(results):
        entry = results[-1]
        params_, x, y, alpha, xq, yq = through

        def meta_loss(p, update):
            return anp.mean((maml.mlp(update(p), xq) - yq) ** 2)
        want = grad(meta_loss)(params, lambda p: reference_update(p, x, y, alpha))
        adapted = reference_update(params, x, y, alpha)
        first_order = grad(lambda a: anp.mean((maml.mlp(a, xq) - yq) ** 2))(adapted)
        traceable(entry, results[:-1], "inner_update")
        compare(answer(entry), want, [(first_order, "θ' is right, but the meta-gradient through "
                                       "it is first-order: MAML must differentiate THROUGH the "
                                       "inner step (keep ∇L connected to θ, not computed on "
                                       "plain copies of the numbers).")],
                "the meta-gradient through your update", "the meta-gradient")

    def checks(results):
        found = [check(entry, a, k, d.x_support[0], d.y_support[0])
                 for entry, a, k, d in zip(results, alphas, ks, data)]
        return found + [("the meta-gradient through inner_update", lambda: through_step(results))]
    return calls, checks, ("θ' is right for 4 fresh (K, α) including α = 0, θ is untouched, "
                           "and the exact meta-gradient flows through it")


def first_order(params, xs, ys, xq, yq, alpha, steps=1):
    return grad(maml.maml_loss)(params, xs, ys, xq, yq, alpha=alpha, steps=steps,
                                first_order=True)


def exercise_3(rng):
    """first_order_meta_gradient against first-order MAML, fresh T, K, α and widths."""
    cases = []
    for n_tasks in rng.choice(numpy.arange(2, 8), 2, replace=False):  # two T: none hard-codes
        params, n_tasks, k = network(rng), int(n_tasks), int(rng.integers(2, 16))
        cases.append((params, batch(rng, n_tasks, k), float(rng.uniform(0.05, 0.3))))
    names = ("params", "x_support", "y_support", "x_query", "y_query", "alpha")
    calls = [call(params, *b[:4], alpha, names=names) for params, b, alpha in cases]

    def check(entry, params, b, alpha):
        xs, ys, xq, yq = b[:4]
        T = len(xs)

        def run():
            got = answer(entry)
            same_shapes(got, params, "the meta-gradient")
            want = first_order(params, xs, ys, xq, yq, alpha)
            task0 = first_order(params, xs[:1], ys[:1], xq[:1], yq[:1], alpha)
            mistakes = [
                (grad(maml.maml_loss)(params, xs, ys, xq, yq, alpha=alpha), "that is the EXACT "
                 "meta-gradient: you differentiated through the inner step. First-order MAML "
                 "takes ∇ with respect to θ' instead."),
                (scaled(want, 1 / T), f"your gradient is T = {T} times too small: the mean query "
                 "loss already divides by T, so sum (not average) over the task axis."),
                (scaled(want, T), f"your gradient is T = {T} times too big: average the query "
                 "loss over tasks (np.mean), or divide the sum by T."),
                (scaled(want, -1), "your gradient points the wrong way (a sign error)."),
                (grad(lambda p: anp.mean(maml.loss(p, xq, yq)))(params), "the gradient is taken "
                 "at θ instead of θ': adapt first, then differentiate the query loss at the "
                 "adapted weights."),
                (first_order(params, xq, yq, xs, ys, alpha), "support and query are swapped: "
                 "adapt on the support set, measure on the query set."),
                (first_order(params, xq, yq, xq, yq, alpha), "the inner step is taken on the "
                 "query set: adapt on the support set (x_support, y_support)."),
                (first_order(params, xs, ys, xs, ys, alpha), "the loss after the step is "
                 "measured on the support set: measure it on the query set."),
                (scaled(task0, 1 / T), "only task 0's gradient is there: sum the task axis, "
                 "don't index it."),
                (task0, "that is task 0's gradient alone: average over all T tasks."),
                (first_order(params, xs, ys, xq, yq, alpha, steps=2), "that is two inner steps; "
                 "take one."),
                (first_order(params, xs, ys, xq, yq, alpha, steps=0), "no inner step was taken: "
                 "θ' must be θ after one step on the support set.")]
            mistakes += [(first_order(params, xs, ys, xq, yq, a), f"α is not passed on: you "
                          f"adapted with α = {a} whatever alpha is.")
                         for a in alpha_gone(alpha, (0.01, 0.1))]
            compare(got, want, mistakes, f"T = {T}, K = {xs.shape[1]}, α = {alpha:.3f}",
                    "your first-order meta-gradient")
        return f"T = {T}, α = {alpha:.3f}", run

    def checks(results):
        return [check(entry, *case) for entry, case in zip(results, cases)]
    params, b, alpha = cases[-1]
    want, exact = first_order(params, *b[:4], alpha), grad(maml.maml_loss)(params, *b[:4],
                                                                           alpha=alpha)
    gap = numpy.linalg.norm(flat(want) - flat(exact)) / numpy.linalg.norm(flat(exact))
    return calls, checks, (f"right on 2 fresh batches; here first order differs from exact MAML "
                           f"by {gap:.1%}")


def task(adapted, i, params):
    """Task i's weights out of weights with a task axis, in θ's shapes."""
    return [(W[i], b[i].reshape(b0.shape)) for (W, b), (_, b0) in zip(adapted, params)]


def stack(per_task_params):
    return [(numpy.stack([p[j][0] for p in per_task_params]),
             numpy.stack([p[j][1][None] for p in per_task_params]))
            for j in range(len(per_task_params[0]))]


def exercise_4(rng):
    """adapt_batch: every task on its own, two fresh T, fresh K and α, 1 to 6 steps, and the
    meta-gradient."""
    params = network(rng)
    sizes = [int(t) for t in rng.choice(numpy.arange(2, 8), 2, replace=False)]  # two T
    batches = [batch(rng, t, int(rng.integers(2, 12))) for t in sizes]
    cases = [(batches[0], float(rng.uniform(0.02, 0.1)), 1),
             (batches[0], float(rng.uniform(0.02, 0.1)), int(rng.integers(2, 4))),
             (batches[1], float(rng.uniform(0.02, 0.1)), int(rng.integers(4, 7)))]
    names = ("params", "x_support", "y_support", "alpha", "steps")
    calls = [call(params, b.x_support, b.y_support, a, s, names=names) for b, a, s in cases]
    b, alpha, steps = cases[1]
    y_other = b.y_support.copy()
    y_other[1:] += 1.0
    calls.append(call(params, b.x_support, y_other, alpha, steps, names=names))
    b = batches[1]
    through = (float(rng.uniform(0.02, 0.1)), int(rng.integers(2, 5)))
    calls.append(call(params, b.x_support, b.y_support, *through, b.x_query, b.y_query,
                      kind="grad_through_adapt", names=names + ("x_query", "y_query")))

    def shared(xs, ys, alpha, steps, reduce):
        p = params
        for _ in range(steps):
            p = step(p, grad(lambda q: reduce(maml.loss(q, xs, ys)))(p), alpha)
        return maml.per_task(p, len(xs))

    def chained(xs, ys, alpha, steps):
        p, out = params, []
        for i in range(len(xs)):
            p = task(maml.adapt(p, xs[i:i + 1], ys[i:i + 1], alpha=alpha, steps=steps), 0, params)
            out.append(p)
        return stack(out)

    def check(entry, b, alpha, steps):
        xs, ys, T = b.x_support, b.y_support, len(b.x_support)

        def adapt(alpha, steps):
            return maml.adapt(params, xs, ys, alpha=alpha, steps=steps)

        def run():
            got = answer(entry)
            want = adapt(alpha, steps)
            theta = maml.per_task(params, T)
            g = grad(lambda p: anp.sum(maml.loss(p, xs, ys)))(theta)
            mistakes = [
                (adapt(alpha / T, steps), f"each task's step is T = {T} times too small: "
                 "averaging the loss over tasks divides every task's gradient by T. Sum the "
                 "tasks' losses."),
                (adapt(alpha, 1), f"only one step was taken, but steps = {steps}."),
                (adapt(alpha, steps - 1), f"that is steps − 1 = {steps - 1} steps; take {steps}."),
                (adapt(alpha, steps + 1), f"that is steps + 1 = {steps + 1} steps; take {steps}."),
                (step(theta, g, steps * alpha), "the gradient is taken at θ every step instead "
                 "of at the current θ' (a stale gradient): recompute it after each step."),
                (shared(xs, ys, alpha, steps, anp.mean), "all tasks share one step on the mean "
                 "loss of the batch: each task must be adapted with the gradient of its OWN loss "
                 "(give each task its own copy of θ with maml.per_task)."),
                (shared(xs, ys, alpha, steps, anp.sum), "all tasks share one step on the summed "
                 "loss of the batch: each task must be adapted with the gradient of its OWN loss "
                 "(give each task its own copy of θ with maml.per_task)."),
                (stack([task(want, 0, params)] * T), "every task got task 0's θ': keep each "
                 "task's own adapted weights."),
                (chained(xs, ys, alpha, steps), "the tasks are chained: each task starts from "
                 "the previous task's adapted weights instead of from θ.")]
            mistakes += [(adapt(a, steps), f"α is not passed on: your steps use α = {a} "
                          "whatever alpha is.") for a in alpha_gone(alpha, (0.01, 0.05, 0.1))]
            compare(got, want, mistakes, f"T = {T}, steps = {steps}, α = {alpha:.3f}",
                    "your adapted weights")
        return f"T = {T}, steps = {steps}", run

    def own_data(results):
        moved, got = answer(results[3]), answer(results[1])
        b, alpha, steps = cases[1]
        want = maml.adapt(params, b.x_support, b.y_support, alpha=alpha, steps=steps)
        same_shapes(got, want, "adapt_batch's result")
        same_shapes(moved, want, "adapt_batch's result")
        if not numpy.allclose(flat(task(moved, 0, params)), flat(task(got, 0, params))):
            raise Failed("changing the data of tasks 1 and up changed task 0's adapted weights: "
                         "each task must be adapted with the gradient of its OWN loss only.")

    def through_steps(results):
        entry = results[4]
        traceable(entry, results[:4], "adapt_batch")
        alpha, steps = through
        want = grad(maml.maml_loss)(params, *batches[1][:4], alpha=alpha, steps=steps)
        compare(answer(entry), want, [], "the meta-gradient through your adapt_batch",
                "the meta-gradient (keep every step connected to θ: no plain copies)")

    def checks(results):
        return [check(entry, *case) for entry, case in zip(results, cases)] + [
            ("task 0 depends on task 0's data only", lambda: own_data(results)),
            ("the meta-gradient through adapt_batch", lambda: through_steps(results))]
    return calls, checks, (f"every task adapted on its own (T = {sizes[0]} and {sizes[1]}) for "
                           f"{', '.join(str(s) for _, _, s in cases)} steps, and MAML "
                           "differentiates through it")


FIELDS = ("x_support", "y_support", "x_query", "y_query", "amplitude", "phase")
TRAINING_SEED, ITERATIONS = 20170309, 300


def learns(batches):
    """(loss before, after): MAML meta-trained on the student's batches (drawn with a fixed
    seed) from a fixed start, measured on fixed lines drawn here. So the reference solution
    always gets the same verdict; an answer drawing in another order gets other batches, and
    test_exercises.py's slow test shows the loss falls by over 10% for 200 such seeds (by
    80% typically, by 38% at worst in 100 tried)."""
    rng = numpy.random.default_rng(TRAINING_SEED)
    params = maml.init_mlp((1, 40, 40, 1), rng)
    slope, intercept = rng.uniform(-3, 3, 200), rng.uniform(-3, 3, 200)
    x = rng.uniform(-5, 5, (200, 20, 1))
    y = slope[:, None, None] * x + intercept[:, None, None]
    lines = (x[:, :10], y[:, :10], x[:, 10:], y[:, 10:])
    replay = iter(batches)
    trained, _ = maml.meta_train(params, rng, ITERATIONS, meta_batch=10, meta_lr=3e-3,
                                 sample_tasks=lambda *args: next(replay))
    return maml.maml_loss(params, *lines), maml.maml_loss(trained, *lines)


def exercise_5(rng):
    """sample_line_batch: shapes, the documented distributions, all randomness from rng, fresh
    and independent draws, and MAML learns from it."""
    seed = int(rng.integers(0, 2**31))
    sizes = (int(rng.integers(3, 9)), int(rng.integers(2, 8)), int(rng.integers(8, 15)))
    calls = [call(*sizes, rng_input(seed, "a"), names=("n_tasks", "k_support", "k_query", "rng")),
             call(*sizes, rng_input(seed, "b"), names=("n_tasks", "k_support", "k_query", "rng")),
             call(*sizes, rng_input(seed + 1, "c"), names=("n_tasks", "k_support", "k_query", "rng")),
             call(*sizes, rng_input(seed + 1, "c"), names=("n_tasks", "k_support", "k_query", "rng")),
             call(3000, 5, 5, rng_input(seed + 2, "d"), names=("n_tasks", "k_support", "k_query", "rng")),
             call(ITERATIONS, 10, 10, 10, rng_input(TRAINING_SEED, "e"), kind="call_many",
                  names=("count", "n_tasks", "k_support", "k_query", "rng"))]
    T, K, Q = sizes

    def a_batch(entry, T=T, K=K, Q=Q):
        got = answer(entry)
        if not isinstance(got, tasks.Batch):
            if isinstance(got, (list, tuple)) and len(got) == len(FIELDS):
                raise Failed(f"return a tasks.Batch, got a plain {type(got).__name__} of "
                             f"{len(got)} items: wrap them as tasks.Batch(x_support, y_support, "
                             "x_query, y_query, amplitude, phase) (the fields by name)")
            raise Failed(f"return a tasks.Batch, got {describe(got)}")
        want = {"x_support": (T, K, 1), "y_support": (T, K, 1), "x_query": (T, Q, 1),
                "y_query": (T, Q, 1), "amplitude": (T,), "phase": (T,)}
        for name, shape in want.items():
            value = getattr(got, name)
            if not isinstance(value, numpy.ndarray) or value.shape != shape:
                raise Failed(f"with n_tasks={T}, k_support={K}, k_query={Q}: {name} is "
                             f"{describe(value)}, expected shape {shape}")
            if value.dtype.kind != "f":
                raise Failed(f"{name} has dtype {value.dtype}: draw floats (rng.uniform)")
        return got

    def shapes(results):
        a_batch(results[0])

    def lines(results):
        got = a_batch(results[0])
        a, b = got.amplitude[:, None, None], got.phase[:, None, None]
        if not (numpy.allclose(got.y_support, a * got.x_support + b)
                and numpy.allclose(got.y_query, a * got.x_query + b)):
            raise Failed("y is not slope·x + intercept with the slope in `amplitude` and the "
                         "intercept in `phase`")

    def from_rng(results):
        if any(entry.get("global_rng") for entry in results):
            raise Failed("your code draws from (or re-seeds) numpy's global generator "
                         "(numpy.random.*): take every random number from the `rng` you are "
                         "given (rng.uniform)")
        first, again = a_batch(results[0]), a_batch(results[1])
        if not all(numpy.array_equal(u, v) for u, v in zip(first, again)):
            raise Failed("the same seed gave different tasks: take every random number from "
                         "`rng` (rng.uniform), not from elsewhere")

    def fresh(results):
        first, second = a_batch(results[2]), a_batch(results[3])
        for name in FIELDS:
            if numpy.array_equal(getattr(first, name), getattr(second, name)):
                raise Failed(f"two calls with the same rng returned the same {name}: draw it "
                             "afresh from the rng you are given on every call (no fixed seed, "
                             "no values kept from an earlier call)")

    def distributions(results):
        big = a_batch(results[4], 3000, 5, 5)
        for name, low, high in [("amplitude", -3, 3), ("phase", -3, 3), ("x_support", -5, 5),
                                ("x_query", -5, 5)]:
            values = numpy.ravel(getattr(big, name))
            if len(numpy.unique(values)) < 0.99 * len(values):
                raise Failed(f"{name} takes only {len(numpy.unique(values))} different values "
                             f"in {len(values)} draws: draw from the continuous uniform "
                             "distribution (rng.uniform, not rng.integers)")
            shares = numpy.histogram(values, bins=6, range=(low, high))[0] / len(values)
            # each share's standard deviation is under 0.007 here: 0.05 is over 7 of them
            if values.min() < low or values.max() > high or numpy.abs(shares - 1 / 6).max() > 0.05:
                raise Failed(f"{name} should be uniform on [{low}, {high}]; yours spans "
                             f"[{values.min():.2f}, {values.max():.2f}] with bin shares "
                             f"{numpy.round(shares, 2).tolist()}")

    def separate(results):
        big = a_batch(results[4], 3000, 5, 5)
        if numpy.isin(big.x_query, big.x_support).mean() > 0.01:
            raise Failed("the query points are the support points: draw them separately, so "
                         "the query set measures generalisation")
        for (u, name_u), (v, name_v) in [((big.x_support[:, 0, 0], "x_support"),
                                          (big.x_query[:, 0, 0], "x_query")),
                                         ((big.amplitude, "the slope"), (big.phase, "the intercept"))]:
            for values, name in ((u, name_u), (v, name_v)):
                if numpy.ptp(values) == 0:
                    raise Failed(f"{name} is the same for every task: draw one per task "
                                 "(rng.uniform(low, high, n_tasks))")
            r = numpy.corrcoef(u, v)[0, 1]
            if not abs(r) < 0.1:  # |r| of independent draws is under 0.1 but 1 time in 10^8
                raise Failed(f"{name_u} and {name_v} are not drawn independently "
                             f"(correlation {r:.2f})")

    def learning(results):
        batches = answer(results[5])
        for i in range(len(batches)):
            a_batch(dict(results[5], value=batches[i]), 10, 10, 10)
        try:
            before, after = learns(batches)
        except (ValueError, TypeError, FloatingPointError) as e:
            raise Failed(f"maml.meta_train fails on your batches: {type(e).__name__}: {e}") from None
        if not after < 0.9 * before:
            raise Failed(f"meta-training on your lines did not learn: the loss on held-out lines "
                         f"went from {before:.2f} to {after:.2f}")

    def checks(results):
        return [("shapes", lambda: shapes(results)), ("y = a·x + b", lambda: lines(results)),
                ("randomness from rng", lambda: from_rng(results)),
                ("fresh draws", lambda: fresh(results)),
                ("distributions", lambda: distributions(results)),
                ("independent draws", lambda: separate(results)),
                ("MAML learns lines", lambda: learning(results))]
    return calls, checks, (f"lines are drawn as documented, fresh and independent, and "
                           f"{ITERATIONS} meta-iterations on them lower the loss on held-out lines")


def meta_sgd(params, alphas, xs, ys, xq, yq, through=True):
    """The Meta-SGD loss one task at a time, straight from the formula."""
    total = 0.0
    for x, y, x_q, y_q in zip(xs, ys, xq, yq):
        at = params if through else [(getval(W), getval(b)) for W, b in params]  # constants
        g = grad(lambda p: maml.loss(p, x, y))(at)
        adapted = [(W - aW * dW, b - ab * db)
                   for (W, b), (aW, ab), (dW, db) in zip(params, alphas, g)]
        total = total + maml.loss(adapted, x_q, y_q)
    return total / len(xs)


def exercise_6(rng):
    """meta_sgd_loss: the loss and its gradients with respect to θ and α, fresh T, K, α per weight."""
    params = network(rng)
    sizes = [int(t) for t in rng.choice(numpy.arange(2, 8), 2, replace=False)]  # two T
    first, b = (batch(rng, t, int(rng.integers(2, 12))) for t in sizes)
    data, T = b[:4], len(b.x_support)
    alpha = float(rng.uniform(0.02, 0.1))
    same = [(numpy.full_like(W, alpha), numpy.full_like(bias, alpha)) for W, bias in params]
    alphas = [(rng.uniform(0, 0.1, W.shape), rng.uniform(0, 0.1, bias.shape))
              for W, bias in params]
    names = ("params", "alphas", "x_support", "y_support", "x_query", "y_query")
    calls = [call(params, same, *first[:4], names=names), call(params, alphas, *data, names=names),
             call(0, params, alphas, *data, kind="grad_of_answer", names=("argnum",) + names),
             call(1, params, alphas, *data, kind="grad_of_answer", names=("argnum",) + names),
             call(params, same, *data, names=names)]  # equal α's on the same tasks as alphas
    xs, ys, xq, yq = data

    def loss_candidates(a, data):
        xs, ys, xq, yq = data
        T = len(xs)
        want = meta_sgd(params, a, *data)
        return want, [(want * T, f"that is the SUM of the T = {T} tasks' losses: average them."),
                      (want / T, f"your loss is T = {T} times too small: average over tasks once."),
                      (meta_sgd(params, a, xq, yq, xs, ys), "support and query are swapped: "
                       "step on the support set, measure on the query set."),
                      (meta_sgd(params, a, xq, yq, xq, yq), "the inner step is taken on the query "
                       "set: step on the support set."),
                      (meta_sgd(params, a, xs, ys, xs, ys), "the loss after the step is measured "
                       "on the support set: measure it on the query set."),
                      (float(numpy.mean(maml.loss(params, xq, yq))), "that is the query loss "
                       "before any step: take the Meta-SGD step first.")]

    def scalar_alpha(results):
        want, mistakes = loss_candidates(same, first[:4])
        compare_number(answer(results[0]), want, mistakes, f"T = {sizes[0]}, every α = {alpha:.3f}",
                       "your loss (with equal α's, MAML's loss with that α)")

    def per_weight(results):
        want, mistakes = loss_candidates(alphas, data)
        got = answer(results[1])
        try:
            compare_number(got, want, mistakes, f"T = {T}, a different α per weight", "your loss")
        except Failed as e:
            equal = answer(results[4])
            if "is wrong" in str(e) and numpy.size(equal) == 1 and close(
                    float(numpy.ravel(equal)[0]), meta_sgd(params, same, *data), tolerance(got)):
                raise Failed("with a different α per weight your loss is wrong (with equal α's "
                             "it is right): α must multiply the gradient elementwise (α ⊙ ∇L), "
                             "one step size per weight") from None
            raise

    def gradient(results, argnum, what):
        want = grad(meta_sgd, argnum)(params, alphas, *data)
        mistakes = []
        if argnum == 0:
            mistakes = [(grad(meta_sgd, 0)(params, alphas, *data, through=False), "that is the "
                         "first-order meta-gradient: the meta-gradient must flow THROUGH the "
                         "inner step (keep ∇L connected to θ, no plain copies).")]
        traceable(results[2 + argnum], results[:2], "loss")
        compare(answer(results[2 + argnum]), want, mistakes,
                f"the meta-gradient with respect to {what}",
                f"the meta-gradient with respect to {what}")

    def checks(results):
        return [("equal α gives MAML's loss", lambda: scalar_alpha(results)),
                ("α per weight", lambda: per_weight(results)),
                ("meta-gradient for θ", lambda: gradient(results, 0, "θ")),
                ("meta-gradient for α", lambda: gradient(results, 1, "α"))]
    return calls, checks, "loss and meta-gradients with respect to θ and α all match"


def proto_loss(params, xs, ys, xq, yq, prototype="mean", distance="squared", sign=-1.0,
               axis=2, reduce="mean"):
    """The prototypical loss straight from the formula, and its typical mistakes by keyword:
    prototype 'mean' | 'sum' | 'class-major' (a reshape that assumes class-by-class order),
    distance 'squared' | 'euclidean', sign of the logits, axis of the softmax, reduce 'mean'
    | 'sum' | 'sum queries' | 'sum episodes' | 'mean classes'."""
    zs, zq = maml.mlp(params, xs), maml.mlp(params, xq)             # (T, N*K, D), (T, M, D)
    T, N = ys.shape[0], ys.shape[2]
    if prototype == "class-major":
        c = anp.mean(anp.reshape(zs, (T, N, -1, zs.shape[2])), axis=2)
    else:
        c = anp.swapaxes(ys, 1, 2) @ zs                              # (T, N, D): class sums
        c = c / anp.sum(ys, axis=1)[:, :, None] if prototype == "mean" else c
    d2 = anp.sum((zq[:, :, None, :] - c[:, None, :, :]) ** 2, axis=3)  # (T, M, N)
    s = sign * (anp.sqrt(d2) if distance == "euclidean" else d2)
    m = anp.max(getval(s), axis=axis, keepdims=True)
    log_p = s - m - anp.log(anp.sum(anp.exp(s - m), axis=axis, keepdims=True))
    picked = anp.sum(yq * log_p, axis=2)                                # (T, M)
    return {"mean": lambda: -anp.mean(picked), "sum": lambda: -anp.sum(picked),
            "sum queries": lambda: -anp.mean(anp.sum(picked, axis=1)),
            "sum episodes": lambda: -anp.sum(anp.mean(picked, axis=1)),
            "mean classes": lambda: -anp.mean(yq * log_p)}[reduce]()


def episodes(rng, T, N, K, Q, n, shuffled):
    """T N-way K-shot episodes of Q queries per class, images (n,) near a class centre; the
    points come class by class, or (shuffled) in a random order per episode."""
    centres = rng.normal(0, 1, (T, N, n))
    out = []
    for count in (K, Q):
        labels = numpy.tile(numpy.repeat(numpy.arange(N), count), (T, 1))  # (T, N*count)
        if shuffled:
            labels = numpy.array([rng.permutation(row) for row in labels])
        x = numpy.take_along_axis(centres, labels[:, :, None], 1) + rng.normal(
            0, 0.5, (T, N * count, n))
        out += [x, numpy.eye(N)[labels]]
    return tuple(out)


def exercise_7(rng):
    """prototypical_loss: fresh T, N, K, Q, widths and embedding size; support points class by
    class and shuffled; large embeddings; the gradient with respect to φ through it."""
    n, D = int(rng.integers(3, 13)), int(rng.integers(2, 9))
    hidden = [int(rng.integers(6, 31)) for _ in range(int(rng.integers(1, 3)))]
    params = maml.init_mlp((n, *hidden, D), rng, std=0.5)
    sizes = []
    for T in rng.choice(numpy.arange(2, 6), 2, replace=False):     # two T: none hard-codes
        N, K = int(rng.integers(2, 7)), int(rng.integers(2, 6))
        Q = int(rng.choice([q for q in range(1, 5) if N * q != T]))  # M ≠ T: hints differ
        sizes.append((int(T), N, K, Q))
    data = [episodes(rng, *size, n, shuffled) for size, shuffled in zip(sizes, (False, True))]
    scale = 300.0  # embeddings ~300 times larger: squared distances ~10^5, e^(−d²) = 0
    large = params[:-1] + [(params[-1][0] * scale, params[-1][1] * scale)]
    names = ("params", "x_support", "y_support", "x_query", "y_query")
    calls = [call(params, *data[0], kind="with_embedding", names=names),
             call(params, *data[1], kind="with_embedding", names=names),
             call(large, *data[0], kind="with_embedding", names=names),
             call(params, *data[1], kind="grad_through_embedding", names=names)]

    def mistakes(p, xs, ys, xq, yq):
        T, M, N = yq.shape
        return [(proto_loss(p, xs, ys, xq, yq, distance="euclidean"), "your distances are "
                 "Euclidean, ‖z − c‖: ProtoNets uses the SQUARED Euclidean distance ‖z − c‖² "
                 "(no square root)."),
                (proto_loss(p, xs, ys, xq, yq, prototype="sum"), "your prototypes are the SUM "
                 "of each class's support embeddings: take their MEAN (divide by the number of "
                 "support points of the class)."),
                (proto_loss(p, xs, ys, xq, yq, axis=1), "your softmax normalises over the "
                 "queries (axis 1): normalise over the N classes (the last axis), so that "
                 "p(y = n | x) sums to 1 over n."),
                (proto_loss(p, xs, ys, xq, yq, sign=1.0), "your logits are +‖z − c‖²: the "
                 "NEAREST prototype must score highest, so the logits are −‖z − c‖² (a sign "
                 "error)."),
                (proto_loss(p, xs, ys, xq, yq, reduce="mean classes"), f"your loss is N = {N} "
                 "times too small: the mean runs over the class axis too. Pick the true "
                 "class's log-probability (sum y · log p over the classes), then average over "
                 "queries and episodes."),
                (proto_loss(p, xs, ys, xq, yq, reduce="sum"), f"that is the SUM over all "
                 f"T·M = {T * M} queries: average them."),
                (proto_loss(p, xs, ys, xq, yq, reduce="sum queries"), f"that is the SUM over "
                 f"the M = {M} queries of an episode: average them."),
                (proto_loss(p, xs, ys, xq, yq, reduce="sum episodes"), f"that is the SUM over "
                 f"the T = {T} episodes: average them."),
                (proto_loss(p, xq, yq, xq, yq), "your prototypes come from the query set: "
                 "build them from the support set (x_support, y_support) and classify the "
                 "queries against them."),
                (proto_loss(p, xs, ys, xq, yq, prototype="class-major"), "you assumed the "
                 "support points come class by class (a reshape to (T, N, K, D)); here they "
                 "are shuffled. Group them by y_support (yᵀz sums each class's embeddings).")]

    def value(entry, p, batch, where):
        got = answer(entry)
        T = len(batch[0])
        if isinstance(got, numpy.ndarray) and got.shape == (T,):
            raise Failed(f"{where}: your loss is one array of shape ({T},), a loss per "
                         "episode: average over the episodes too (one number).")
        want = proto_loss(p, *batch)
        if (isinstance(got, numpy.ndarray) and got.size == 1 and got.dtype.kind == "f"
                and not numpy.isfinite(got).all() and numpy.isfinite(want)):
            raise Failed(f"{where}: your loss is {float(got.ravel()[0])} (the expected loss is "
                         f"{want:.6g}): with large embeddings e^(−‖z − c‖²) underflows to 0 and "
                         "log(0) = −inf. Compute the log-softmax stably: subtract the largest "
                         "score first, log Σ exp(s) = m + log Σ exp(s − m).")
        compare_number(got, want, mistakes(p, *batch), where, "your loss")

    def case(i, shuffled):
        T, N, K, Q = sizes[i]
        where = (f"T = {T} episodes, {N}-way {K}-shot, {N * Q} queries"
                 f"{', support points shuffled' if shuffled else ''}")
        return where, lambda results: value(results[i], params, data[i], where)

    def gradient(results):
        entry = results[3]
        if "error" in entry and "value" in results[1]:
            error = entry["error"].rstrip(".")
            raise Failed(f"autograd cannot differentiate your loss: your code {error}. Build "
                         "every array from embed's output with autograd.numpy operations "
                         "(np.stack, np.sum, @, ...): no float(), numpy.array(...) or writing "
                         "into numpy.zeros.")
        want = grad(proto_loss)(params, *data[1])
        got = answer(entry)
        rtol = max(tolerance(got), tolerance(answer(results[1])))
        compare(got, want, [(scaled(want, 0.0), "your loss is right, but its gradient with "
                             "respect to φ is zero: autograd can't see through plain numpy "
                             "copies (getval, numpy.array): compute with autograd.numpy on "
                             "embed's output.")],
                "the gradient with respect to φ (the embedding's weights)",
                "the gradient of your loss", rtol=rtol)

    def checks(results):
        big = "large embeddings (squared distances ~10^5)"
        found = (case(0, False), case(1, True))
        return [(where, lambda f=f: f(results)) for where, f in found] + [
            (big, lambda: value(results[2], large, data[0], big)),
            ("the gradient with respect to φ", lambda: gradient(results))]
    return calls, checks, ("the loss matches for 2 fresh episode batches (class by class and "
                           "shuffled) and for large embeddings, and autograd's gradient with "
                           "respect to φ flows through it")


EXERCISES = {1: exercise_1, 2: exercise_2, 3: exercise_3, 4: exercise_4, 5: exercise_5,
             6: exercise_6, 7: exercise_7}


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


# --- the command line --------------------------------------------------------------------------------

MEMBER_MB = 10  # the largest starter file a zip may hold, unpacked


def unzip(path, target):
    """Unpack the starter files of a student's zip into `target` (by their names only: nothing
    is written outside it). -> None, or what went wrong, for the student's rows."""
    try:
        with zipfile.ZipFile(path) as z:
            for member in z.infolist():
                base = os.path.basename(member.filename)
                if base in STARTERS.values() and not member.is_dir():
                    if member.file_size > MEMBER_MB * 2**20:
                        return (f"could not read the zip ({member.filename} is over "
                                f"{MEMBER_MB} MB unpacked)")
                    os.makedirs(target, exist_ok=True)
                    with open(os.path.join(target, base), "wb") as f:
                        f.write(z.read(member))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, ValueError,
            NotImplementedError, EOFError) as e:  # not a zip, encrypted, truncated, ...
        return f"could not read the zip ({type(e).__name__}: {e})"
    return None


def student_folders(class_folder, unpacked):
    """(student, folder, shown, trouble) for each sub-folder or .zip of the class folder: zips
    are unpacked into `unpacked`; `shown` names the folder in hints (the zip's name for a zip);
    `trouble` is why a zip could not be read (or None)."""
    found = []
    for name in sorted(os.listdir(class_folder)):
        path = os.path.join(class_folder, name)
        if os.path.isdir(path):
            found.append((name, path, path, None))
        elif name.lower().endswith(".zip"):
            target = os.path.join(unpacked, f"{len(found)}-{name[:-4]}")
            found.append((name[:-4], target, name, unzip(path, target)))
    return found


def starter_path(folder, exercise):
    """The exact starter name in a student's folder, or one folder down (a zip's own folder)."""
    path = os.path.join(folder, STARTERS[exercise])
    if not os.path.exists(path):
        try:
            subs = sorted(os.listdir(folder))
        except OSError:
            subs = []
        for sub in subs:
            inner = os.path.join(folder, sub, STARTERS[exercise])
            if os.path.isfile(inner) and not sub.startswith("."):
                return inner
    return path


def supervise(folder, exercises, seed, timeout, memory_mb):
    """Grade one student's folder, one JSON line per exercise as soon as it is known (the
    supervisor process of class mode)."""
    for n in exercises:
        v = check(n, starter_path(folder, n), seed, timeout, memory_mb)
        print(json.dumps(dict(exercise=n, **v), ensure_ascii=False), flush=True)


def supervised(student, folder, seed, timeout, memory_mb):
    """The verdicts of one student, graded in a separate supervisor process (which runs each
    answer in a process of its own): if the supervisor is killed or fails, the exercise it was
    grading gets a verdict saying so and the others are graded by a new supervisor."""
    remaining = sorted(EXERCISES)
    while remaining:
        start = time.perf_counter()
        command = [*SUPERVISOR, "--supervise", folder, "--only", ",".join(map(str, remaining)),
                   "--seed", str(seed), "--timeout", repr(timeout), "--memory", str(memory_mb)]
        supervisor = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = supervisor.communicate(timeout=len(remaining) * (timeout + 120))
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
            out, err = supervisor.communicate()
        except BaseException:  # Ctrl-C: the supervisor runs in its own session, stop it too
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.communicate()
            raise
        for line in out.decode("utf-8", "replace").splitlines():
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if isinstance(v, dict) and v.get("exercise") in remaining:
                remaining.remove(v["exercise"])
                yield v
        if remaining:
            n, status = remaining.pop(0), supervisor.returncode
            seconds = round(time.perf_counter() - start, 2)
            if status is None or status < 0:
                how = f"killed by signal {-status}" if status else "stopped (it hung)"
                yield dict(exercise=n, status="failed", passed=0, total=0, seconds=seconds,
                           message=f"the checker was {how} while grading {student}'s exercise "
                           f"{n}: an answer that stops the checker gets no credit (look at "
                           "this file)")
            else:
                last = (err.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
                yield dict(exercise=n, status="error", passed=0, total=0, seconds=seconds,
                           message=f"the checker itself failed while grading {student}'s "
                           f"exercise {n} (status {status}): {last[:300]}")


def report_stem(report):
    """FILE of --report FILE.csv, once it is sure FILE.csv and FILE.json can be written (a
    probe file is made and removed); else a one-line reason (ValueError)."""
    stem = os.path.splitext(report)[0]
    if not os.path.basename(stem).strip():
        raise ValueError("needs a file name, e.g. --report grades.csv")
    folder = os.path.dirname(os.path.abspath(stem))
    if not os.path.isdir(folder):
        raise ValueError(f"no folder {folder} for the report")
    for path in (stem + ".csv", stem + ".json"):
        if os.path.isdir(path):
            raise ValueError(f"the report {path} is a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".report-", suffix=".tmp")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ValueError(f"cannot write the report in {folder}: {e.strerror or e}") from None
    return stem


def write_atomically(path, text):
    """Write a file whole or not at all: a temporary file beside it, then renamed into place."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        os.remove(temporary)
        raise


def grade_class(class_folder, stem, seed, timeout, memory_mb):
    """Grade every student (each in a supervisor process of its own); write FILE.csv and
    FILE.json atomically. -> the rows."""
    rows = []
    with tempfile.TemporaryDirectory() as unpacked:
        for student, folder, shown, trouble in student_folders(class_folder, unpacked):
            if trouble:
                verdicts = [dict(exercise=n, status="failed", passed=0, total=0, seconds=0.0,
                                 message=trouble) for n in sorted(EXERCISES)]
            else:
                verdicts = supervised(student, folder, seed, timeout, memory_mb)
            for v in sorted(verdicts, key=lambda v: v["exercise"]):
                rows.append(dict(student=student, exercise=v["exercise"], verdict=v["status"],
                                 passed=v["passed"], total=v["total"],
                                 hint=v["message"].replace(folder, shown),
                                 seconds=v["seconds"]))
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]) if rows else ["student"])
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(stem + ".csv", table.getvalue())
    write_atomically(stem + ".json", json.dumps(dict(seed=seed, rows=rows), indent=1,
                                                ensure_ascii=False))
    return rows


def seed_number(text):
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"a seed is a whole number from 0 to 2**63 − 1, got {text}")
    return value


MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 3600.0
# Every solution and correct answer passes with 150 MB here (100 MB is too little to import
# numpy and autograd): 256 MB leaves room for other builds of numpy.
MIN_MEMORY_MB, MAX_MEMORY_MB = 256, 2**20


def seconds(text):
    value = float(text)
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"the time limit is from {MIN_TIMEOUT:g} to "
                                         f"{MAX_TIMEOUT:g} seconds, got {text}")
    return value


def megabytes(text):
    value = int(text)
    if not MIN_MEMORY_MB <= value <= MAX_MEMORY_MB:
        raise argparse.ArgumentTypeError(
            f"the memory limit is from {MIN_MEMORY_MB} MB (what a correct answer needs: numpy, "
            f"autograd and the data) to {MAX_MEMORY_MB} MB, got {text}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """A bad command line is one line on stderr (`--help` shows the usage) and exit status 2."""

    def error(self, message):
        self.exit(2, f"check.py: {message} (--help lists the options)\n")


def exit_status(statuses):
    if "error" in statuses:
        return 3
    return 0 if all(s == "passed" for s in statuses) else 1


def main(argv=None):
    """Check one exercise, all of them, or a class; print or write the verdicts; return the
    exit status."""
    p = OneLineParser(description="Check exercises; fresh random checks every run.")
    p.add_argument("exercise", type=int, nargs="?", choices=sorted(EXERCISES))
    p.add_argument("--file", help="the file to check (default: the exact starter name, "
                   "exercises/exN_*.py)")
    p.add_argument("--all", action="store_true", help="check every exercise, one line each")
    p.add_argument("--dir", default=HERE, help="the folder with a student's exN_*.py files")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON only")
    p.add_argument("--class", dest="class_folder", help="a folder of student folders or zips")
    p.add_argument("--report", default="report.csv", help="with --class: the report to write "
                   "(FILE.csv and FILE.json; default report.csv and report.json in the current "
                   "folder)")
    p.add_argument("--seed", type=seed_number, help="repeat the checks of an earlier run")
    p.add_argument("--timeout", type=seconds, default=TIMEOUT, help=f"seconds per exercise "
                   f"({MIN_TIMEOUT:g} to {MAX_TIMEOUT:g}; default {TIMEOUT:g})")
    p.add_argument("--memory", type=megabytes, default=MEMORY_MB, help=f"megabytes per "
                   f"exercise ({MIN_MEMORY_MB} to {MAX_MEMORY_MB}; default {MEMORY_MB})")
    p.add_argument("--supervise", help=argparse.SUPPRESS)  # class mode's supervisor: a folder
    p.add_argument("--only", help=argparse.SUPPRESS)       # ... and its exercises, 1,2,...
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    if args.supervise:
        supervise(args.supervise, [int(n) for n in args.only.split(",")], seed, args.timeout,
                  args.memory)
        return 0
    modes = (args.exercise is not None) + args.all + (args.class_folder is not None)
    if modes != 1 or (args.file and args.exercise is None):
        p.error("give one exercise number (optionally with --file), or --all, or --class FOLDER")
    if args.class_folder and not os.path.isdir(args.class_folder):
        p.error(f"no folder {args.class_folder}")
    if args.file and os.path.isdir(args.file):
        p.error(f"--file {args.file} is a folder: give a file, or --dir FOLDER")
    if args.file and not os.path.isfile(args.file):
        p.error(f"no file {args.file}")
    if not args.file and not args.class_folder and not os.path.isdir(args.dir):
        p.error(f"no folder {args.dir}")
    if args.class_folder:
        try:
            stem = report_stem(args.report)
        except ValueError as e:
            p.error(f"--report {args.report}: {e}")
        rows = grade_class(args.class_folder, stem, seed, args.timeout, args.memory)
        print(f"{len(rows)} verdicts for {len({r['student'] for r in rows})} students, seed "
              f"{seed}: {stem}.csv and {stem}.json")
        return exit_status([r["verdict"] for r in rows])
    chosen = sorted(EXERCISES) if args.all else [args.exercise]
    verdicts = []
    for n in chosen:
        path = args.file if args.file else os.path.join(args.dir, STARTERS[n])
        v = check(n, path, seed, args.timeout, args.memory)
        verdicts.append(dict(exercise=n, file=os.path.relpath(path), **v))
    if args.json:
        print(json.dumps(dict(seed=seed, verdicts=verdicts), indent=1, ensure_ascii=False))
    else:
        for v in verdicts:
            score = f" ({v['passed']}/{v['total']} checks passed)" if v["status"] == "failed" \
                and v["total"] else ""
            print(f"Exercise {v['exercise']} ({v['file']}): {v['status']}: {v['message']}{score}")
        if any(v["status"] != "passed" and v["status"] != "not yet" for v in verdicts):
            print(f"(checked with seed {seed}; --seed {seed} repeats these checks)")
    return exit_status([v["status"] for v in verdicts])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("check.py: interrupted; no report was written", file=sys.stderr)
        sys.exit(130)
