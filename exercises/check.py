"""Check your answer to an exercise:

    python exercises/check.py N                 # N = 1..6, checks exercises/exN_*.py
    python exercises/check.py N --file PATH     # check another file (a copy, a solution)

Every check is seeded and takes seconds. Exit status 0 when all checks pass, 1 when one fails
(with a message saying what is wrong), 2 for a bad command line.
"""
import argparse
import glob
import importlib.util
import os
import sys

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import autograd.numpy as anp  # noqa: E402
from autograd import grad  # noqa: E402

import maml  # noqa: E402
import tasks  # noqa: E402


class Failed(Exception):
    """A check that did not pass; the message tells the student what is wrong."""


def flat(tree):
    """A list of (W, b) pairs as one vector."""
    return numpy.concatenate([numpy.ravel(a) for pair in tree for a in pair])


def close(a, b, rtol=1e-9):
    """Are two lists of (W, b) pairs equal to within rtol?"""
    return numpy.allclose(flat(a), flat(b), rtol=rtol, atol=1e-12)


def same_shapes(answer, expected, what):
    """Fail with a clear message unless `answer` is a list of pairs shaped like `expected`."""
    try:
        shapes = [tuple(numpy.shape(a) for a in pair) for pair in answer]
    except TypeError:
        raise Failed(f"{what} should be a list of (W, b) pairs, got {type(answer).__name__}")
    want = [tuple(numpy.shape(a) for a in pair) for pair in expected]
    if shapes != want:
        raise Failed(f"{what} has shapes {shapes}, expected {want}")


def setup(seed=0, n_tasks=4, k=5, std=0.3):
    """A network away from ReLU kinks and a small batch of tasks, from a seed."""
    rng = numpy.random.default_rng(seed)
    return maml.init_mlp((1, 20, 20, 1), rng, std=std), tasks.sample_batch(n_tasks, k, k, rng)


# --- one check function per exercise ---------------------------------------------------------------

def check_1(module):
    """Exercise 1, one_step_mse: the query MSE after one step."""
    params, _ = maml.load_params(os.path.join(ROOT, "checkpoints", "sinusoid.npz"), model="maml")
    for k, alpha in [(5, 0.01), (10, 0.001), (20, 0.05)]:
        batch = tasks.sample_batch(100, k, 50, numpy.random.default_rng(7))
        adapted = maml.adapt(params, batch.x_support, batch.y_support, alpha=alpha, steps=1)
        want = float(numpy.mean(maml.loss(adapted, batch.x_query, batch.y_query)))
        got = module.one_step_mse(params, k, alpha, 7)
        if not numpy.isscalar(got) and numpy.shape(got) != ():
            raise Failed(f"one_step_mse should return one number, got shape {numpy.shape(got)}")
        if numpy.isclose(got, float(numpy.mean(maml.loss(adapted, batch.x_support,
                                                          batch.y_support))), rtol=1e-9):
            raise Failed(f"K={k}, α={alpha}: you measured the MSE on the support points, which "
                         "the step was fitted to. Measure it on the query points.")
        if not numpy.isclose(got, want, rtol=1e-9):
            before = float(numpy.mean(maml.loss(params, batch.x_query, batch.y_query)))
            hint = (" That is the MSE before any gradient step." if numpy.isclose(got, before)
                    else "")
            raise Failed(f"K={k}, α={alpha}: got {got:.6f}, expected {want:.6f}.{hint}")
    return "one_step_mse matches on 3 (K, α) pairs"


def check_2(module):
    """Exercise 2, inner_update: θ' and the meta-gradient through it."""
    params, batch = setup()
    x, y, xq, yq = batch.x_support[0], batch.y_support[0], batch.x_query[0], batch.y_query[0]
    want = maml.adapt(params, x, y, alpha=0.1)
    got = module.inner_update(params, x, y, 0.1)
    same_shapes(got, want, "inner_update's result")
    if not close(got, want):
        step_got, step_want = flat(got) - flat(params), flat(want) - flat(params)
        ratio = (step_got @ step_want) / (step_want @ step_want)
        if numpy.isclose(ratio, -1, rtol=1e-6):
            raise Failed("your step goes UP the gradient: θ' = θ − α∇L, with a minus.")
        if numpy.isclose(ratio, 1 / len(x), rtol=1e-6):
            raise Failed(f"your step is K = {len(x)} times too small: the mean over the K points "
                         "already divides by K; do not divide again.")
        raise Failed(f"θ' differs from θ − α∇L (your step is {ratio:.3g} times the right one "
                     "along it).")

    def meta_loss(p, update):
        return anp.mean((maml.mlp(update(p), xq) - yq) ** 2)
    try:
        got_meta = grad(meta_loss)(params, lambda p: module.inner_update(p, x, y, 0.1))
    except Exception as e:  # noqa: BLE001 - the student's code may fail in any way
        raise Failed(f"autograd could not differentiate through your inner_update "
                     f"({type(e).__name__}: {e}). Use autograd.numpy and autograd.grad.")
    want_meta = grad(meta_loss)(params, lambda p: maml.adapt(p, x, y, alpha=0.1))
    if not close(got_meta, want_meta, rtol=1e-7):
        raise Failed("θ' is right, but the meta-gradient through it is not: MAML must "
                     "differentiate THROUGH the inner step (the gradient ∇L must stay "
                     "connected to θ, not be computed on plain copies of the numbers).")
    return "θ' is right, and the exact meta-gradient flows through it"


def check_3(module):
    """Exercise 3, first_order_meta_gradient against autograd's first-order MAML."""
    params, batch = setup(n_tasks=5)
    args = (*batch[:4], 0.1)
    want = grad(maml.maml_loss)(params, *batch[:4], alpha=0.1, first_order=True)
    exact = grad(maml.maml_loss)(params, *batch[:4], alpha=0.1)
    got = module.first_order_meta_gradient(params, *args)
    same_shapes(got, params, "the meta-gradient")
    if close(got, exact, rtol=1e-7):
        raise Failed("that is the EXACT meta-gradient: you differentiated through the inner "
                     "step. First-order MAML takes ∇ with respect to θ' instead.")
    if close(got, [(dW / 5, db / 5) for dW, db in want], rtol=1e-7):
        raise Failed("your gradient is T = 5 times too small: the mean query loss already "
                     "divides by T, so sum (not average) over the task axis.")
    if not close(got, want, rtol=1e-7):
        raise Failed("your first-order meta-gradient differs from (1/T) Σ_i ∇_θ' L_i(θ'_i).")
    gap = numpy.linalg.norm(flat(want) - flat(exact)) / numpy.linalg.norm(flat(exact))
    return f"right; here first order differs from exact MAML by {gap:.1%}"


def check_4(module):
    """Exercise 4, adapt_batch: per-task adaptation, 1 and 3 steps."""
    params, batch = setup(n_tasks=4)
    for steps in (1, 3):
        want = maml.adapt(params, batch.x_support, batch.y_support, alpha=0.05, steps=steps)
        got = module.adapt_batch(params, batch.x_support, batch.y_support, 0.05, steps)
        same_shapes(got, want, f"adapt_batch's result (steps={steps})")
        if close(got, want):
            continue
        y_other = batch.y_support.copy()
        y_other[1:] += 1.0
        moved = module.adapt_batch(params, batch.x_support, y_other, 0.05, steps)
        if not numpy.allclose(flat([(W[0], b[0]) for W, b in moved]),
                              flat([(W[0], b[0]) for W, b in got])):
            raise Failed("changing the data of tasks 1-3 changed task 0's adapted weights: each "
                         "task must be adapted with the gradient of its OWN loss only.")
        step_got, step_want = flat(got) - flat(maml.per_task(params, 4)), \
            flat(want) - flat(maml.per_task(params, 4))
        if steps == 1 and numpy.isclose((step_got @ step_want) / (step_want @ step_want), 0.25):
            raise Failed("each task's step is T = 4 times too small: averaging the loss over "
                         "tasks divides every task's gradient by T. Sum the tasks' losses.")
        raise Failed(f"with steps={steps} your adapted weights differ from {steps} gradient "
                     "step(s) on each task's own support set.")
    got = grad(lambda p: anp.mean(maml.loss(
        module.adapt_batch(p, batch.x_support, batch.y_support, 0.05, 3),
        batch.x_query, batch.y_query)))(params)
    want = grad(maml.maml_loss)(params, *batch[:4], alpha=0.05, steps=3)
    if not close(got, want, rtol=1e-7):
        raise Failed("the adapted weights are right, but the meta-gradient through them is not.")
    return "every task adapted on its own, for 1 and 3 steps, and MAML differentiates through it"


def check_5(module):
    """Exercise 5, sample_line_batch: shapes, values, ranges, seeding, and that MAML learns from it."""
    sample = module.sample_line_batch
    batch = sample(6, 4, 9, numpy.random.default_rng(3))
    if not isinstance(batch, tasks.Batch):
        raise Failed(f"return a tasks.Batch, got {type(batch).__name__}")
    want = {"x_support": (6, 4, 1), "y_support": (6, 4, 1), "x_query": (6, 9, 1),
            "y_query": (6, 9, 1), "amplitude": (6,), "phase": (6,)}
    for name, shape in want.items():
        if numpy.shape(getattr(batch, name)) != shape:
            raise Failed(f"{name} has shape {numpy.shape(getattr(batch, name))}, expected {shape}")
    a, b = batch.amplitude[:, None, None], batch.phase[:, None, None]
    if not (numpy.allclose(batch.y_support, a * batch.x_support + b)
            and numpy.allclose(batch.y_query, a * batch.x_query + b)):
        raise Failed("y is not slope·x + intercept with slope in `amplitude`, intercept in `phase`")
    big = sample(2000, 5, 5, numpy.random.default_rng(4))
    for name, low, high in [("amplitude", -3, 3), ("phase", -3, 3), ("x_support", -5, 5)]:
        values = getattr(big, name)
        if values.min() < low or values.max() > high or values.max() - values.min() < 0.9 * (high - low):
            raise Failed(f"{name} should cover U[{low}, {high}], got [{values.min():.2f}, "
                         f"{values.max():.2f}]")
    again = sample(6, 4, 9, numpy.random.default_rng(3))
    if not all(numpy.array_equal(u, v) for u, v in zip(batch, again)):
        raise Failed("the same seed gave different tasks: take every random number from `rng` "
                     "(rng.uniform), not from numpy.random")
    params = maml.init_mlp((1, 40, 40, 1), numpy.random.default_rng(0))
    _, losses = maml.meta_train(params, numpy.random.default_rng(1), 300, meta_batch=10,
                                meta_lr=3e-3, sample_tasks=sample)
    if not losses[-50:].mean() < 0.5 * losses[:50].mean():
        raise Failed(f"meta-training on your lines did not learn (loss {losses[:50].mean():.2f} -> "
                     f"{losses[-50:].mean():.2f})")
    return (f"lines sample right, and 300 meta-iterations take the loss from "
            f"{losses[:50].mean():.2f} to {losses[-50:].mean():.2f}")


def check_6(module):
    """Exercise 6, meta_sgd_loss: loss and gradients against a per-task loop."""
    params, batch = setup(n_tasks=4)
    rng = numpy.random.default_rng(5)

    def reference(params, alphas):
        total = 0.0
        for xs, ys, xq, yq in zip(*batch[:4]):  # one task at a time, straight from the formula
            g = grad(lambda p: maml.loss(p, xs, ys))(params)
            adapted = [(W - aW * dW, b - ab * db)
                       for (W, b), (aW, ab), (dW, db) in zip(params, alphas, g)]
            total = total + maml.loss(adapted, xq, yq)
        return total / len(batch.x_support)

    same = [(numpy.full_like(W, 0.05), numpy.full_like(b, 0.05)) for W, b in params]
    got = module.meta_sgd_loss(params, same, *batch[:4])
    if not numpy.isclose(got, maml.maml_loss(params, *batch[:4], alpha=0.05), rtol=1e-9):
        raise Failed("with every α equal to 0.05, Meta-SGD should give MAML's loss with α = 0.05")
    alphas = [(rng.uniform(0, 0.1, W.shape), rng.uniform(0, 0.1, b.shape)) for W, b in params]
    got = module.meta_sgd_loss(params, alphas, *batch[:4])
    if not numpy.isclose(got, reference(params, alphas), rtol=1e-9):
        raise Failed("with a different α per weight your loss is wrong: α must multiply the "
                     "gradient elementwise (α ⊙ ∇L), one step size per weight")
    for argnum, what in [(0, "θ"), (1, "α")]:
        got = grad(module.meta_sgd_loss, argnum)(params, alphas, *batch[:4])
        want = grad(reference, argnum)(params, alphas)
        if not close(got, want, rtol=1e-7):
            raise Failed(f"the meta-gradient with respect to {what} is wrong")
    return "loss and meta-gradients with respect to θ and α all match"


CHECKS = {1: check_1, 2: check_2, 3: check_3, 4: check_4, 5: check_5, 6: check_6}


def load(path):
    """Import a Python file as a module."""
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    """Run one exercise's checks; print the verdict; return the exit status."""
    p = argparse.ArgumentParser(description="Check an exercise.")
    p.add_argument("exercise", type=int, choices=sorted(CHECKS))
    p.add_argument("--file", help="the file to check (default: exercises/exN_*.py)")
    args = p.parse_args(argv)
    path = args.file or glob.glob(os.path.join(HERE, f"ex{args.exercise}_*.py"))[0]
    label = f"Exercise {args.exercise} ({os.path.relpath(path)})"
    try:
        verdict = CHECKS[args.exercise](load(path))
    except NotImplementedError as e:
        print(f"{label}: not done yet: {e}. Replace the `raise NotImplementedError` line with "
              "your code.")
        return 1
    except Failed as e:
        print(f"{label}: not right yet: {e}")
        return 1
    except Exception as e:  # noqa: BLE001 - report any crash of the student's code kindly
        print(f"{label}: your code raised {type(e).__name__}: {e}")
        return 1
    print(f"{label}: passed: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
