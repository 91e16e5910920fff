"""Check your answer to an exercise:

    .venv/bin/python exercises/check.py N                 # N = 1..6: checks exercises/exN_<name>.py
    .venv/bin/python exercises/check.py N --file PATH     # check another file (a copy, say)
    .venv/bin/python exercises/check.py --all             # teacher mode: one line per exercise
    .venv/bin/python exercises/check.py --all --json --dir STUDENT_FOLDER   # for a grading script

Every run draws fresh random tasks, weights and step sizes (the seed is printed; --seed N
repeats a run), so no answer can be hard-coded. While exercise N is checked, the library
functions it asks you to write are switched off, and so are the reference solutions. Exit
status: 0 all checked exercises passed, 1 one did not, 2 a bad command line.
"""
import argparse
import contextlib
import importlib.abc
import importlib.util
import io
import json
import os
import secrets
import sys

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import autograd.numpy as anp  # noqa: E402
from autograd import grad  # noqa: E402

import checkpoints  # noqa: E402
import maml  # noqa: E402
import tasks  # noqa: E402

STARTERS = {1: "ex1_measure.py", 2: "ex2_inner_update.py", 3: "ex3_first_order.py",
            4: "ex4_several_steps.py", 5: "ex5_new_tasks.py", 6: "ex6_meta_sgd.py"}
FUNCTIONS = {1: "one_step_mse", 2: "inner_update", 3: "first_order_meta_gradient",
             4: "adapt_batch", 5: "sample_line_batch", 6: "meta_sgd_loss"}
# The library functions that do what exercise N asks you to write: switched off meanwhile.
SWITCHED_OFF = {2: ("inner_update", "adapt", "maml_loss", "maml_loss_loop", "evaluate"),
                3: ("maml_loss", "maml_loss_loop", "meta_train"),
                4: ("inner_update", "adapt", "maml_loss", "maml_loss_loop", "evaluate"),
                6: ("maml_loss", "maml_loss_loop", "meta_train")}


class Failed(Exception):
    """A check that did not pass; the message names the mistake."""


class NotYet(Exception):
    """The starter's gap is still there."""


# --- running the student's code: shortcuts off, prints and exits contained -------------------

class Shortcut(Exception):
    pass


class NoSolutions(importlib.abc.MetaPathFinder):
    """Refuses to import the reference solutions while a student's file runs."""

    def find_spec(self, name, path, target=None):
        if "solutions" in name.split("."):
            raise Shortcut("imports the reference solutions: write your own answer")
        return None


@contextlib.contextmanager
def student_code(exercise):
    """Run the student's code with the exercise's library functions switched off, the
    reference solutions unimportable and whatever it prints kept off the verdict."""
    saved = {name: getattr(maml, name) for name in SWITCHED_OFF.get(exercise, ())}

    def switched_off(name):
        def blocked(*args, **kwargs):
            raise Shortcut(f"calls maml.{name}, which is switched off while exercise {exercise} "
                           "is checked: it does what the exercise asks you to write. Write it "
                           "yourself (maml.mlp, maml.loss, maml.per_task and autograd.grad are "
                           "allowed)")
        return blocked

    finder = NoSolutions()
    for name in saved:
        setattr(maml, name, switched_off(name))
    sys.meta_path.insert(0, finder)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    except Shortcut as e:
        raise Failed(f"shortcut: your code {e}") from None
    except (Failed, NotYet, NotImplementedError):
        raise
    except SystemExit as e:
        raise Failed(f"your code called exit() (status {e.code!r}) instead of returning a "
                     "result") from None
    except Exception as e:  # noqa: BLE001 - the student's code may fail in any way
        raise Failed(f"your code raised {type(e).__name__}: {one_line(e)}") from None
    finally:
        sys.meta_path.remove(finder)
        for name, function in saved.items():
            setattr(maml, name, function)


def one_line(e, width=160):
    text = " ".join(str(e).split())
    return text if len(text) <= width else text[:width] + "..."


def load(path, exercise):
    """Import the student's file (its top-level code included) under student_code."""
    with open(path, encoding="utf-8") as f:
        if "solutions" in f.read():
            raise Failed("shortcut: your file refers to the reference solutions; write your "
                         "own answer")
    spec = importlib.util.spec_from_file_location(f"student_ex{exercise}", path)
    module = importlib.util.module_from_spec(spec)
    with student_code(exercise):
        spec.loader.exec_module(module)
    function = getattr(module, FUNCTIONS[exercise], None)
    if not callable(function):
        raise Failed(f"your file has no function {FUNCTIONS[exercise]}()")

    def guarded(*args):
        with student_code(exercise):
            return function(*args)
    return guarded


# --- comparing answers -----------------------------------------------------------------------------

def flat(tree):
    """A list of (W, b) pairs as one vector."""
    return numpy.concatenate([numpy.ravel(a) for pair in tree for a in pair])


def close(a, b, rtol=1e-9):
    """Are two lists of (W, b) pairs equal to within rtol?"""
    return numpy.allclose(flat(a), flat(b), rtol=rtol, atol=1e-12)


def describe(answer):
    """One line about what an answer is, however odd its shape."""
    if isinstance(answer, numpy.ndarray):
        return f"one array of shape {answer.shape}"
    if isinstance(answer, (list, tuple)):
        kinds = {type(a).__name__ for a in answer}
        if all(numpy.ndim(a) >= 1 and not isinstance(a, (list, tuple)) for a in answer):
            return (f"a flat {type(answer).__name__} of {len(answer)} arrays: pair them up as "
                    "[(W0, b0), (W1, b1), ...]")
        return f"a {type(answer).__name__} of {len(answer)} items ({', '.join(sorted(kinds))})"
    return type(answer).__name__


def same_shapes(answer, expected, what):
    """Fail, in one line, unless `answer` is a list of pairs shaped like `expected`."""
    try:
        shapes = [tuple(numpy.shape(a) for a in pair) for pair in answer]
        ok = all(len(pair) == 2 for pair in answer)
    except TypeError:
        shapes, ok = None, False
    want = [tuple(numpy.shape(a) for a in pair) for pair in expected]
    if not ok:
        raise Failed(f"{what} should be a list of {len(want)} (W, b) pairs, got {describe(answer)}")
    if shapes != want:
        bad = next(i for i, (s, w) in enumerate(zip(shapes + [None] * len(want), want)) if s != w)
        got = shapes[bad] if bad < len(shapes) else "nothing"
        hint = (" It keeps the task axis: sum it away." if got != "nothing" and
                len(got[0]) == len(want[bad][0]) + 1 else "")
        raise Failed(f"{what} has {len(shapes)} pairs; pair {bad} has shapes {got}, expected "
                     f"{want[bad]}.{hint}")


def unchanged(before, after, what="θ"):
    if not close(before, after, rtol=0):
        raise Failed(f"your code changed {what} in place: make new arrays for θ' and leave θ as "
                     "it was (MAML needs θ again for every task)")


def copy(params):
    return [(numpy.array(W), numpy.array(b)) for W, b in params]


def setup(rng, n_tasks=4, k=5):
    """A network away from ReLU kinks and a small batch of tasks, from the run's rng."""
    return maml.init_mlp((1, 20, 20, 1), rng, std=0.3), tasks.sample_batch(n_tasks, k, k, rng)


def first_match(got, candidates, rtol=1e-7):
    """The message of the first (answer, message) candidate that `got` equals, or None."""
    for answer, message in candidates:
        try:
            if close(got, answer, rtol):
                return message
        except ValueError:
            continue
    return None


# --- one check function per exercise ---------------------------------------------------------------

def check_1(answer, rng):
    """one_step_mse: the query MSE after one step, for fresh (K, α, seed)."""
    params, _ = checkpoints.load_params(os.path.join(ROOT, "checkpoints", "sinusoid.npz"), model="maml")
    for k, alpha in [(int(rng.integers(2, 8)), float(rng.uniform(0.002, 0.008))),
                     (int(rng.integers(12, 25)), float(rng.uniform(0.02, 0.04)))]:
        seed = int(rng.integers(1, 2**31))

        def reference(k=k, alpha=alpha, seed=seed, steps=1, on="query"):
            batch = tasks.sample_batch(100, k, 50, numpy.random.default_rng(seed))
            adapted = maml.adapt(params, batch.x_support, batch.y_support, alpha=alpha,
                                 steps=steps)
            x, y = (batch.x_query, batch.y_query) if on == "query" else (batch.x_support,
                                                                           batch.y_support)
            return float(numpy.mean(maml.loss(adapted, x, y)))
        got = answer(params, k, alpha, seed)
        if numpy.ndim(got) != 0:
            raise Failed(f"one_step_mse should return one number, got shape {numpy.shape(got)}")
        got = float(got)
        if numpy.isclose(got, reference(), rtol=1e-9):
            continue
        for value, mistake in [
                (reference(on="support"), "you measured the MSE on the support points, which "
                 "the step was fitted to. Measure it on the query points."),
                (reference(steps=0), "that is the MSE before any gradient step."),
                (reference(alpha=0.01), "α is not passed on: you used α = 0.01."),
                (reference(k=10), "K is not passed on: you used K = 10."),
                (reference(seed=0), "the seed is not passed on: use numpy.random.default_rng(seed)."),
                (reference(steps=2), "that is two gradient steps; the exercise asks for one.")]:
            if numpy.isclose(got, value, rtol=1e-9):
                raise Failed(f"K={k}, α={alpha:.4f}: {mistake}")
        raise Failed(f"K={k}, α={alpha:.4f}, seed={seed}: got {got:.6f}, expected "
                     f"{reference():.6f}")
    return "one_step_mse matches on fresh (K, α, seed) triples"


def check_2(answer, rng):
    """inner_update: θ' on several tasks and α, θ left alone, the meta-gradient through it."""
    params, batch = setup(rng, n_tasks=3)
    for task, alpha in enumerate([float(rng.uniform(0.02, 0.3)), 0.0, float(rng.uniform(0.02, 0.3))]):
        x, y = batch.x_support[task], batch.y_support[task]
        before = copy(params)
        got = answer(params, x, y, alpha)
        unchanged(before, params)
        want = maml.adapt(params, x, y, alpha=alpha)
        same_shapes(got, want, "inner_update's result")
        if close(got, want):
            continue
        g = grad(lambda p: maml.loss(p, x, y))(params)

        def step(scale, grads=g):
            return [(W - scale * dW, b - scale * db) for (W, b), (dW, db) in zip(params, grads)]
        mistake = first_match(got, [
            (step(-alpha), "your step goes UP the gradient: θ' = θ − α∇L, with a minus."),
            (step(alpha / len(x)), f"your step is K = {len(x)} times too small: the mean over "
             "the K points already divides by K; do not divide again."),
            (step(alpha * len(x)), f"your step is K = {len(x)} times too big: L is the MEAN "
             "squared error, not the sum."),
            (step(0.1), "α is not passed on: your step uses α = 0.1 whatever alpha is."),
            (step(0.01), "α is not passed on: your step uses α = 0.01 whatever alpha is."),
            (params[:-1] + step(alpha)[-1:], "only the last layer moves: θ' = θ − α∇L "
             "changes every W and b.")])
        if mistake:
            raise Failed(f"α = {alpha:.3f}: {mistake}")
        raise Failed(f"α = {alpha:.3f}: θ' differs from θ − α∇L.")

    x, y, xq, yq = batch.x_support[0], batch.y_support[0], batch.x_query[0], batch.y_query[0]
    alpha = float(rng.uniform(0.05, 0.3))

    def meta_loss(p, update):
        return anp.mean((maml.mlp(update(p), xq) - yq) ** 2)
    got = grad(meta_loss)(params, lambda p: answer(p, x, y, alpha))
    want = grad(meta_loss)(params, lambda p: maml.adapt(p, x, y, alpha=alpha))
    if not close(got, want, rtol=1e-7):
        raise Failed("θ' is right, but the meta-gradient through it is not: MAML must "
                     "differentiate THROUGH the inner step (the gradient ∇L must stay "
                     "connected to θ, not be computed on plain copies of the numbers).")
    return "θ' is right on 3 tasks and α values, θ is untouched, and the exact meta-gradient flows through it"


def check_3(answer, rng):
    """first_order_meta_gradient against first-order MAML, with one hint per typical mistake."""
    for _ in range(2):
        n_tasks, alpha = int(rng.integers(3, 7)), float(rng.uniform(0.05, 0.3))
        params, batch = setup(rng, n_tasks=n_tasks)
        before = copy(params)
        got = answer(params, *batch[:4], alpha)
        unchanged(before, params)
        same_shapes(got, params, "the meta-gradient")
        want = grad(maml.maml_loss)(params, *batch[:4], alpha=alpha, first_order=True)
        if close(got, want, rtol=1e-7):
            continue
        T = n_tasks

        def scaled(g, s):
            return [(dW * s, db * s) for dW, db in g]
        swapped = (batch.x_query, batch.y_query, batch.x_support, batch.y_support)
        mistake = first_match(got, [
            (grad(maml.maml_loss)(params, *batch[:4], alpha=alpha), "that is the EXACT "
             "meta-gradient: you differentiated through the inner step. First-order MAML "
             "takes ∇ with respect to θ' instead."),
            (scaled(want, 1 / T), f"your gradient is T = {T} times too small: the mean query "
             "loss already divides by T, so sum (not average) over the task axis."),
            (scaled(want, T), f"your gradient is T = {T} times too big: average the query "
             "loss over tasks (np.mean), or divide the sum by T."),
            (scaled(want, -1), "your gradient points the wrong way (a sign error)."),
            (grad(lambda p: anp.mean(maml.loss(p, batch.x_query, batch.y_query)))(params),
             "the gradient is taken at θ instead of θ': adapt first, then differentiate the "
             "query loss at the adapted weights."),
            (grad(maml.maml_loss)(params, *swapped, alpha=alpha, first_order=True),
             "support and query are swapped: adapt on the support set, measure on the query set."),
            (grad(maml.maml_loss)(params, *batch[:4], alpha=0.01, first_order=True),
             "α is not passed on: you adapted with α = 0.01 whatever alpha is."),
            (scaled(grad(maml.maml_loss)(params, *[a[:1] for a in batch[:4]], alpha=alpha,
                                          first_order=True), 1 / T),
             "only task 0's gradient is there: sum the task axis, don't index it."),
            (grad(maml.maml_loss)(params, *batch[:4], alpha=alpha, steps=0),
             "no inner step was taken: θ' must be θ after one step on the support set.")])
        raise Failed(mistake or f"with T = {T} tasks and α = {alpha:.3f} your first-order "
                     "meta-gradient differs from (1/T) Σ_i ∇_θ' L_i(θ'_i).")
    exact = grad(maml.maml_loss)(params, *batch[:4], alpha=alpha)
    gap = numpy.linalg.norm(flat(want) - flat(exact)) / numpy.linalg.norm(flat(exact))
    return f"right on 2 fresh batches; here first order differs from exact MAML by {gap:.1%}"


def check_4(answer, rng):
    """adapt_batch: per-task adaptation for 1-3 steps, fresh α, and the meta-gradient."""
    params, batch = setup(rng, n_tasks=4)
    for steps in (1, 3, 2):
        alpha = float(rng.uniform(0.02, 0.1))
        before = copy(params)
        got = answer(params, batch.x_support, batch.y_support, alpha, steps)
        unchanged(before, params)
        want = maml.adapt(params, batch.x_support, batch.y_support, alpha=alpha, steps=steps)
        same_shapes(got, want, f"adapt_batch's result (steps={steps})")
        if close(got, want):
            continue
        y_other = batch.y_support.copy()
        y_other[1:] += 1.0
        moved = answer(params, batch.x_support, y_other, alpha, steps)
        if not numpy.allclose(flat([(W[0], b[0]) for W, b in moved]),
                              flat([(W[0], b[0]) for W, b in got])):
            raise Failed("changing the data of tasks 1-3 changed task 0's adapted weights: each "
                         "task must be adapted with the gradient of its OWN loss only.")
        theta = maml.per_task(params, 4)
        g = grad(lambda p: anp.sum(maml.loss(p, batch.x_support, batch.y_support)))(theta)
        mistake = first_match(got, [
            (maml.adapt(params, batch.x_support, batch.y_support, alpha=alpha / 4, steps=steps),
             "each task's step is T = 4 times too small: averaging the loss over tasks divides "
             "every task's gradient by T. Sum the tasks' losses."),
            (maml.adapt(params, batch.x_support, batch.y_support, alpha=alpha, steps=1),
             f"only one step was taken, but steps = {steps}."),
            ([(W - steps * alpha * dW, b - steps * alpha * db)
              for (W, b), (dW, db) in zip(theta, g)],
             "the gradient is taken at θ every step instead of at the current θ': "
             "recompute it after each step."),
            (maml.adapt(params, batch.x_support, batch.y_support, alpha=0.05, steps=steps),
             "α is not passed on: your steps use α = 0.05 whatever alpha is."),
            (maml.adapt(params, batch.x_support, batch.y_support, alpha=0.01, steps=steps),
             "α is not passed on: your steps use α = 0.01 whatever alpha is.")])
        raise Failed(mistake or f"with steps={steps}, α = {alpha:.3f} your adapted weights "
                     "differ from that many gradient steps on each task's own support set.")
    alpha = float(rng.uniform(0.02, 0.1))
    got = grad(lambda p: anp.mean(maml.loss(
        answer(p, batch.x_support, batch.y_support, alpha, 3), batch.x_query, batch.y_query)))(params)
    want = grad(maml.maml_loss)(params, *batch[:4], alpha=alpha, steps=3)
    if not close(got, want, rtol=1e-7):
        raise Failed("the adapted weights are right, but the meta-gradient through them is not: "
                     "keep every step connected to θ (no plain copies).")
    return "every task adapted on its own, for 1, 2 and 3 steps, and MAML differentiates through it"


def check_5(answer, rng):
    """sample_line_batch: shapes, the documented distributions, fresh and independent draws,
    seeding, and that MAML learns from it."""
    seed = int(rng.integers(0, 2**31))
    batch = answer(6, 4, 9, numpy.random.default_rng(seed))
    if not isinstance(batch, tasks.Batch):
        raise Failed(f"return a tasks.Batch, got {describe(batch)}")
    want = {"x_support": (6, 4, 1), "y_support": (6, 4, 1), "x_query": (6, 9, 1),
            "y_query": (6, 9, 1), "amplitude": (6,), "phase": (6,)}
    for name, shape in want.items():
        if numpy.shape(getattr(batch, name)) != shape:
            raise Failed(f"{name} has shape {numpy.shape(getattr(batch, name))}, expected {shape}")
    a, b = batch.amplitude[:, None, None], batch.phase[:, None, None]
    if not (numpy.allclose(batch.y_support, a * batch.x_support + b)
            and numpy.allclose(batch.y_query, a * batch.x_query + b)):
        raise Failed("y is not slope·x + intercept with slope in `amplitude`, intercept in `phase`")
    again = answer(6, 4, 9, numpy.random.default_rng(seed))
    if not all(numpy.array_equal(u, v) for u, v in zip(batch, again)):
        raise Failed("the same seed gave different tasks: take every random number from `rng` "
                     "(rng.uniform), not from numpy.random")
    one_rng = numpy.random.default_rng(seed + 1)
    first, second = answer(6, 4, 9, one_rng), answer(6, 4, 9, one_rng)
    if numpy.array_equal(first.amplitude, second.amplitude) or numpy.array_equal(
            first.x_support, second.x_support):
        raise Failed("two calls with the same rng returned the same tasks: draw from the rng "
                     "you are given (no new generator or fixed seed inside the function)")
    big = answer(3000, 5, 5, numpy.random.default_rng(seed + 2))
    for name, low, high in [("amplitude", -3, 3), ("phase", -3, 3), ("x_support", -5, 5),
                            ("x_query", -5, 5)]:
        values = numpy.ravel(getattr(big, name))
        counts = numpy.histogram(values, bins=6, range=(low, high))[0] / len(values)
        if values.min() < low or values.max() > high or numpy.abs(counts - 1 / 6).max() > 0.05:
            raise Failed(f"{name} should be uniform on [{low}, {high}]; yours spans "
                         f"[{values.min():.2f}, {values.max():.2f}] with bin shares "
                         f"{numpy.round(counts, 2).tolist()}")
    if numpy.isin(big.x_query, big.x_support).mean() > 0.01:
        raise Failed("the query points are the support points: draw them separately, so the "
                     "query set measures generalisation")
    for (u, name_u), (v, name_v) in [((big.x_support[:, 0, 0], "x_support"),
                                      (big.x_query[:, 0, 0], "x_query")),
                                     ((big.amplitude, "the slope"), (big.phase, "the intercept"))]:
        if abs(numpy.corrcoef(u, v)[0, 1]) > 0.1:
            raise Failed(f"{name_u} and {name_v} are not drawn independently "
                         f"(correlation {numpy.corrcoef(u, v)[0, 1]:.2f})")
    params = maml.init_mlp((1, 40, 40, 1), numpy.random.default_rng(seed))
    _, losses = maml.meta_train(params, numpy.random.default_rng(seed + 3), 300, meta_batch=10,
                                meta_lr=3e-3, sample_tasks=answer)
    if not losses[-50:].mean() < 0.5 * losses[:50].mean():
        raise Failed(f"meta-training on your lines did not learn (loss {losses[:50].mean():.2f} -> "
                     f"{losses[-50:].mean():.2f})")
    return (f"lines are drawn as documented, fresh and independent, and 300 meta-iterations "
            f"take the loss from {losses[:50].mean():.2f} to {losses[-50:].mean():.2f}")


def check_6(answer, rng):
    """meta_sgd_loss: loss and gradients against a per-task loop, fresh α per weight."""
    params, batch = setup(rng, n_tasks=4)

    def reference(params, alphas):
        total = 0.0
        for xs, ys, xq, yq in zip(*batch[:4]):  # one task at a time, straight from the formula
            g = grad(lambda p: maml.loss(p, xs, ys))(params)
            adapted = [(W - aW * dW, b - ab * db)
                       for (W, b), (aW, ab), (dW, db) in zip(params, alphas, g)]
            total = total + maml.loss(adapted, xq, yq)
        return total / len(batch.x_support)

    alpha = float(rng.uniform(0.02, 0.1))
    same = [(numpy.full_like(W, alpha), numpy.full_like(b, alpha)) for W, b in params]
    got = answer(params, same, *batch[:4])
    if not numpy.isclose(got, maml.maml_loss(params, *batch[:4], alpha=alpha), rtol=1e-9):
        raise Failed(f"with every α equal to {alpha:.3f}, Meta-SGD should give MAML's loss "
                     "with that α")
    alphas = [(rng.uniform(0, 0.1, W.shape), rng.uniform(0, 0.1, b.shape)) for W, b in params]
    got = answer(params, alphas, *batch[:4])
    if not numpy.isclose(got, reference(params, alphas), rtol=1e-9):
        raise Failed("with a different α per weight your loss is wrong: α must multiply the "
                     "gradient elementwise (α ⊙ ∇L), one step size per weight")
    for argnum, what in [(0, "θ"), (1, "α")]:
        got = grad(lambda p, a: answer(p, a, *batch[:4]), argnum)(params, alphas)
        want = grad(reference, argnum)(params, alphas)
        if not close(got, want, rtol=1e-7):
            raise Failed(f"the meta-gradient with respect to {what} is wrong")
    return "loss and meta-gradients with respect to θ and α all match"


CHECKS = {1: check_1, 2: check_2, 3: check_3, 4: check_4, 5: check_5, 6: check_6}


def check(exercise, path, seed):
    """-> (status, message): status 'passed', 'not yet' or 'failed'."""
    if not os.path.isfile(path):
        return "not yet", f"no file {os.path.relpath(path)}"
    try:
        answer = load(path, exercise)
        message = CHECKS[exercise](answer, numpy.random.default_rng(seed))
    except NotImplementedError as e:
        return "not yet", (f"{e}: replace the `raise NotImplementedError` line with your code")
    except NotYet as e:
        return "not yet", str(e)
    except Failed as e:
        return "failed", str(e)
    return "passed", message


def main(argv=None):
    """Check one exercise, or all (teacher mode); print the verdicts; return the exit status."""
    p = argparse.ArgumentParser(description="Check exercises; fresh random checks every run.")
    p.add_argument("exercise", type=int, nargs="?", choices=sorted(CHECKS))
    p.add_argument("--file", help="the file to check (default: exercises/" + STARTERS[1]
                   .replace("1", "N", 1) + " and the like, by exact name)")
    p.add_argument("--all", action="store_true", help="check every exercise, one line each")
    p.add_argument("--dir", default=HERE, help="the folder with a student's exN_*.py files")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.add_argument("--seed", type=int, help="repeat the checks of an earlier run")
    args = p.parse_args(argv)
    if (args.exercise is None) == (not args.all) or (args.all and args.file):
        p.error("give one exercise number (optionally with --file), or --all")
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    chosen = sorted(CHECKS) if args.all else [args.exercise]
    verdicts = []
    for n in chosen:
        path = args.file if args.file else os.path.join(args.dir, STARTERS[n])
        status, message = check(n, path, seed)
        verdicts.append(dict(exercise=n, file=os.path.relpath(path), status=status,
                             message=message))
    if args.json:
        print(json.dumps(dict(seed=seed, verdicts=verdicts), indent=1, ensure_ascii=False))
    else:
        for v in verdicts:
            print(f"Exercise {v['exercise']} ({v['file']}): {v['status']}: {v['message']}")
        if any(v["status"] == "failed" for v in verdicts):
            print(f"(checked with seed {seed}; --seed {seed} repeats these checks)")
    return 0 if all(v["status"] == "passed" for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
