"""Each exercise's checks: exercise_N(rng) -> (calls, checks, success).

`calls` are the calls to make to the student's function (run in the answer's sandbox by
grading.py); checks(results) -> [(name, run)] compares each result with the reference computed
here (in the checker's process); `success` is the line a passing answer gets. Every run draws
fresh sizes, step sizes, tasks and weights from `rng`.
"""
import math
import os
import sys

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import autograd.numpy as anp  # noqa: E402
from autograd import grad  # noqa: E402
from autograd.tracer import getval  # noqa: E402

import checkpoints  # noqa: E402
import maml  # noqa: E402
import tasks  # noqa: E402
from compare import (Failed, answer, close, compare, compare_number, describe, flat,  # noqa: E402
                     same_shapes, scaled, show, step, tolerance, traceable)

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


def call(*args, names, kind="call"):
    return dict(kind=kind, args=list(args), names=list(names))


def rng_input(seed, key):
    """An rng for the student's function: calls with the same key share one Generator."""
    return {"rng": (int(seed), key)}



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

