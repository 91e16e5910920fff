"""Each exercise's checks: exercise_N(rng) -> (calls, checks, success).

`calls` are the calls to make to the student's function (run in the answer's sandbox by
grading.py); checks(results) -> [(name, run)] compares each result with the reference computed
here (in the checker's process); `success` is the line a passing answer gets.

Every run draws fresh sizes, step sizes, tasks and weights from `rng`, and varies what an
answer could get wrong: the sizes of one check (K, T, query points, classes, widths) are
pairwise distinct, so "N times too big" names one size; each function is called twice with the
same inputs and again with fresh inputs that share some of the earlier ones (state kept between
calls is a named mistake); steps = 0 in exercise 4 and negative α's in exercise 6. A hint names
a mistake only when the answer equals that mistake's output and no other check of the run ruled
it out (compare.Ledger); checks that state a measured fact (same inputs, different answers)
come first.
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
from compare import (Failed, Ledger, Mistake, Other, answer, close, compare,  # noqa: E402
                     compare_number, describe, earlier_calls, flat, same_inputs_same_answer,
                     raised, same_shapes, scaled, show, step, tolerance, traceable)

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


def distinct(rng, ranges, taken=()):
    """One whole number from each inclusive range (low, high), pairwise distinct and none in
    `taken`: a hint's "N times too big" then names one size."""
    out, taken = [], set(taken)
    for low, high in ranges:
        n = int(rng.choice([n for n in range(low, high + 1) if n not in taken]))
        out.append(n)
        taken.add(n)
    return out


def network(rng, taken=(), n_in=1, n_out=1, std=0.3, widths=(6, 30)):
    """Fresh widths (one or two hidden layers of 6-30 units, distinct from each other and from
    the sizes in `taken`), weights away from ReLU kinks."""
    hidden = distinct(rng, [widths] * int(rng.integers(1, 3)), taken)
    return maml.init_mlp((n_in, *hidden, n_out), rng, std=std)


def centred(params, xs):
    """params with the output bias shifted so that the outputs on the points `xs` straddle 0
    (half above, half below): a ReLU wrongly put on the output then changes the answer, and
    never silences the gradient of every check."""
    outputs = numpy.concatenate([numpy.ravel(maml.mlp(params, x)) for x in xs])
    W, b = params[-1]
    return params[:-1] + [(W, b - numpy.median(outputs))]


def batch(rng, n_tasks, k, k_query):
    return tasks.sample_batch(n_tasks, k, k_query, rng)


def shapes_of(pairs):
    """The shapes of a list of (W, b) pairs, or None for anything else."""
    try:
        return [tuple(numpy.shape(a) for a in pair) for pair in pairs]
    except TypeError:
        return None


def plain_tolerance(got, plain):
    """The tolerance for a gradient through the answer: the coarser of its own dtype's and that
    of the answer's plain results (a float32 answer's gradient may come back as float64)."""
    values = [e["value"] for e in plain if "value" in e and not isinstance(e["value"], Other)]
    try:
        return max([tolerance(got)] + [tolerance(v) for v in values])
    except (TypeError, ValueError):
        return tolerance(got)


def alpha_gone(alpha, fixed):
    """The 'α is not passed on' candidates: fixed step sizes other than α itself."""
    return [a for a in fixed if a != alpha]


# --- one exercise each: (calls to make, checks on their answers) -----------------------------------

def exercise_1(rng):
    """one_step_mse: the query MSE after one step, for fresh (K, α, seed); the same inputs
    twice; a new seed with K and α seen before, and a seed seen before with new K and α."""
    params, _ = checkpoints.load_params(os.path.join(ROOT, "checkpoints", "sinusoid.npz"),
                                        model="maml")
    k1, k2, k3 = distinct(rng, [(2, 7), (12, 24), (3, 24)], taken=(5, 10))
    seeds = [int(s) for s in rng.choice(2**31 - 1, 3, replace=False) + 1]
    a1, a2, a3 = (float(rng.uniform(*r)) for r in ((0.002, 0.008), (0.02, 0.045),
                                                   (0.011, 0.03)))
    first = (k1, a1, seeds[0])
    cases = [first, first, (k1, a1, seeds[1]), (k2, a2, seeds[2]), (k3, a3, seeds[0])]
    calls = [call(params, k, alpha, seed, names=("params", "k", "alpha", "seed"))
             for k, alpha, seed in cases]
    ledger = Ledger()

    def mse(k, alpha, seed, steps=1, on="query", n_support=None, reduce=numpy.mean, points=False):
        b = tasks.sample_batch(100, n_support or k, 50, numpy.random.default_rng(seed))
        adapted = maml.adapt(params, b.x_support, b.y_support, alpha=alpha, steps=steps)
        x, y = (b.x_query, b.y_query) if on == "query" else (b.x_support, b.y_support)
        per_task = maml.loss(adapted, x, y) * (x.shape[1] if points else 1)
        return float(reduce(per_task))

    def check(i, results):
        k, alpha, seed = cases[i]
        where = f"K={k}, α={alpha:.4f}, seed={seed}"

        def run():
            got, want = answer(results[i]), mse(k, alpha, seed)
            if isinstance(got, numpy.ndarray) and got.shape == (100,) and close(
                    numpy.mean(got), want, tolerance(got)):
                raise Failed(f"{where}: one_step_mse should be one number, got one array of "
                             "shape (100,), one MSE per task (maml.loss gives one per task): "
                             "return their mean, e.g. float(numpy.mean(...)).")
            mistakes = [
                Mistake("support", mse(k, alpha, seed, on="support"), "you measured the MSE on "
                        "the support points, which the step was fitted to. Measure it on the "
                        "query points."),
                Mistake("no step", mse(k, alpha, seed, steps=0), "that is the MSE before any "
                        "gradient step."),
                Mistake("two steps", mse(k, alpha, seed, steps=2), "that is two gradient "
                        "steps; the exercise asks for one."),
                Mistake("rmse", math.sqrt(want), "that is the root of the MSE (RMSE): leave out "
                        "the square root."),
                Mistake("sum tasks", mse(k, alpha, seed, reduce=numpy.sum), "that is the SUM "
                        "over the 100 tasks: average them."),
                Mistake("sum points", mse(k, alpha, seed, points=True), "that is each task's "
                        "squared error SUMMED over its 50 query points: the MSE is their mean."),
                Mistake("seed", mse(k, alpha, 0), "the seed is not passed on: use "
                        "numpy.random.default_rng(seed).")]
            mistakes += [Mistake(f"alpha {a}", mse(k, a, seed), f"α is not passed on: you used "
                                 f"α = {a}.") for a in alpha_gone(alpha, (0.01,))]
            mistakes += [Mistake(f"K {n}", mse(k, alpha, seed, n_support=n), f"K is not passed "
                                 f"on: you used K = {n}.") for n in (5, 10) if n != k]
            mistakes += earlier_calls([(f"K={kk}, α={aa:.4f}, seed={ss}", mse(kk, aa, ss))
                                       for kk, aa, ss in cases[:i] if (kk, aa, ss) != cases[i]],
                                      "one_step_mse")
            compare_number(got, want, mistakes, where, "one_step_mse", ledger=ledger)
        return where, run

    def checks(results):
        return [("the same inputs twice", lambda: same_inputs_same_answer(
                    results[0], results[1], "one_step_mse"))] + [check(i, results)
                                                                 for i in (0, 2, 3, 4)]
    return calls, checks, ("one_step_mse matches on 4 fresh (K, α, seed) triples, twice on the "
                           "same one")


def reference_update(params, x, y, alpha):
    g = grad(lambda p: anp.mean((maml.mlp(p, x) - y) ** 2))(params)
    return step(params, g, alpha)


def relu_output_update(params, x, y, alpha):
    """inner_update of a network with a ReLU on its output too (a typical mistake)."""
    g = grad(lambda p: anp.mean((anp.maximum(maml.mlp(p, x), 0.0) - y) ** 2))(params)
    return step(params, g, alpha)


def exercise_2(rng):
    """inner_update: θ' for fresh K and α (and α = 0), θ left alone, the same inputs twice, new
    data with an α and K seen before, the meta-gradient through it."""
    ks = distinct(rng, [(2, 20)] * 4)
    alphas = [float(rng.uniform(0.02, 0.3)), float(rng.uniform(0.02, 0.3)), 0.0,
              float(rng.uniform(0.02, 0.3))]
    data = [batch(rng, 1, k, 1) for k in ks]
    again = batch(rng, 1, ks[0], 1)                                 # new data, K and α seen
    b = data[-1]
    x_query, y_query = b.x_query[0], b.y_query[0]
    params = network(rng, taken=ks)
    params = centred(params, [d.x_support[0] for d in data + [again]])
    names = ("params", "x", "y", "alpha")
    first = (data[0], alphas[0])
    cases = [first, first, (again, alphas[0]), (data[1], alphas[1]), (data[2], alphas[2]),
             (data[3], alphas[3])]
    calls = [call(params, d.x_support[0], d.y_support[0], a, names=names) for d, a in cases]
    through = (params, b.x_support[0], b.y_support[0], alphas[-1], x_query, y_query)
    calls.append(call(*through, kind="grad_through_update", names=names + ("x_query", "y_query")))
    ledger = Ledger()

    def check(i, results):
        d, alpha = cases[i]
        x, y, k = d.x_support[0], d.y_support[0], len(d.x_support[0])

        def run():
            got = answer(results[i])
            want = reference_update(params, x, y, alpha)
            g = grad(lambda p: anp.mean((maml.mlp(p, x) - y) ** 2))(params)
            earlier = earlier_calls([(f"K = {len(e.x_support[0])}, α = {a:.3f}",
                                      reference_update(params, e.x_support[0], e.y_support[0], a))
                                     for e, a in [c for c in cases[:i] if c is not cases[i]]],
                                    "inner_update")
            if alpha == 0:
                compare(got, want, [Mistake(f"alpha or {a}", step(params, g, a), f"with α = 0, "
                                            f"θ' should be θ (no step), but yours took a step of "
                                            f"α = {a}: is α passed on, and is 0 taken as a step "
                                            "size (not as 'no α given', as `alpha or ...` does)?")
                                    for a in (0.01, 0.1, 0.05)] + earlier,
                        "α = 0", "inner_update's result", ledger=ledger)
                return
            rmse = grad(lambda p: anp.sqrt(anp.mean((maml.mlp(p, x) - y) ** 2)))(params)
            mistakes = [
                Mistake("sign", step(params, g, -alpha), "your step goes UP the gradient: "
                        "θ' = θ − α∇L, with a minus."),
                Mistake("divided by K", step(params, g, alpha / k), f"your step is K = {k} "
                        "times too small: the mean over the K points already divides by K; "
                        "don't divide again."),
                Mistake("summed over K", step(params, g, alpha * k), f"your step is K = {k} "
                        "times too big: the loss is the MEAN squared error over the K points, "
                        "not the sum."),
                Mistake("rmse", step(params, rmse, alpha), "that is a step on the root of the "
                        "MSE (RMSE): the loss is the mean squared error, no square root."),
                Mistake("no step", params, "θ' equals θ: no step was taken."),
                Mistake("last layer", params[:-1] + step(params[-1:], g[-1:], alpha), "only the "
                        "last layer moves: θ' = θ − α∇L changes every W and b."),
                Mistake("relu output", relu_output_update(params, x, y, alpha), "your network "
                        "puts a ReLU on its output: maml.mlp's output layer is linear (use "
                        "maml.mlp for the prediction).")]
            mistakes += [Mistake(f"alpha {a}", step(params, g, a), f"α is not passed on: your "
                                 f"step uses α = {a} whatever alpha is.")
                         for a in alpha_gone(alpha, (0.01, 0.1, 0.05))]
            compare(got, want, mistakes + earlier, f"K = {k}, α = {alpha:.3f}",
                    "inner_update's result", ledger=ledger)
        return f"θ' for K = {k}, α = {alpha:.3f}", run

    def through_step(results):
        entry = results[-1]
        _, x, y, alpha, xq, yq = through

        def meta_loss(p, update):
            return anp.mean((maml.mlp(update(p), xq) - yq) ** 2)
        want = grad(meta_loss)(params, lambda p: reference_update(p, x, y, alpha))
        adapted = reference_update(params, x, y, alpha)
        first_order = grad(lambda a: anp.mean((maml.mlp(a, xq) - yq) ** 2))(adapted)
        traceable(entry, results[:-1], "inner_update")
        got = answer(entry)
        compare(got, want, [Mistake("first order", first_order, "θ' is right, but the "
                                              "meta-gradient through it is first-order: MAML "
                                              "must differentiate THROUGH the inner step (keep "
                                              "∇L connected to θ, not computed on plain copies "
                                              "of the numbers).")],
                "the meta-gradient through your update", "the meta-gradient",
                rtol=plain_tolerance(got, results[:-1]), ledger=ledger)

    def checks(results):
        return ([("the same inputs twice", lambda: same_inputs_same_answer(
                    results[0], results[1], "inner_update"))]
                + [check(i, results) for i in (0, 2, 3, 4, 5)]
                + [("the meta-gradient through inner_update", lambda: through_step(results))])
    return calls, checks, ("θ' is right for 5 fresh (K, α) including α = 0 and new data with a "
                           "K and α seen before, the same for the same inputs, θ is untouched, "
                           "and the exact meta-gradient flows through it")


def first_order(params, xs, ys, xq, yq, alpha, steps=1):
    return grad(maml.maml_loss)(params, xs, ys, xq, yq, alpha=alpha, steps=steps,
                                first_order=True)


def exercise_3(rng):
    """first_order_meta_gradient against first-order MAML: two batches of fresh, pairwise
    distinct T, K and Q (two T: none hard-codes), fresh α and widths; the same inputs twice;
    new data of the first batch's sizes."""
    Ts = distinct(rng, [(2, 7)] * 2)
    cases = []
    for T in Ts:
        K, Q = distinct(rng, [(2, 15), (3, 11)], taken=Ts)
        params = network(rng, taken=(*Ts, K, Q))
        cases.append((params, batch(rng, T, K, Q), float(rng.uniform(0.05, 0.3))))
    params, b, alpha = cases[0]
    fresh = (params, batch(rng, len(b.x_support), b.x_support.shape[1], b.x_query.shape[1]),
             alpha)
    cases = [cases[0], cases[0], fresh, cases[1]]
    names = ("params", "x_support", "y_support", "x_query", "y_query", "alpha")
    calls = [call(params, *b[:4], alpha, names=names) for params, b, alpha in cases]
    ledger = Ledger()

    def check(i, results):
        params, b, alpha = cases[i]
        xs, ys, xq, yq = b[:4]
        T, K, Q = len(xs), xs.shape[1], xq.shape[1]

        def run():
            got = answer(results[i])
            same_shapes(got, params, "the meta-gradient")
            want = first_order(params, xs, ys, xq, yq, alpha)
            task0 = first_order(params, xs[:1], ys[:1], xq[:1], yq[:1], alpha)
            at_theta = grad(lambda p: anp.mean(maml.loss(p, xq, yq)))(params)
            mistakes = [
                Mistake("exact", grad(maml.maml_loss)(params, xs, ys, xq, yq, alpha=alpha),
                        "that is the EXACT meta-gradient: you differentiated through the inner "
                        "step. First-order MAML takes ∇ with respect to θ' instead."),
                Mistake("T too small", scaled(want, 1 / T), f"your gradient is T = {T} times "
                        "too small: the mean query loss already divides by T, so sum (not "
                        "average) over the task axis."),
                Mistake("T too big", scaled(want, T), f"your gradient is T = {T} times too big: "
                        "average the query loss over tasks (np.mean), or divide the sum by T."),
                Mistake("Q too big", scaled(want, Q), f"your gradient is Q = {Q} times too big, "
                        f"Q the number of query points: each task's query loss is the MEAN over "
                        "its query points (maml.loss), not their sum."),
                Mistake("sign", scaled(want, -1), "your gradient points the wrong way (a sign "
                        "error)."),
                Mistake("at theta", at_theta, "the gradient is taken at θ instead of θ': adapt "
                        "first, then differentiate the query loss at the adapted weights."),
                Mistake("swapped", first_order(params, xq, yq, xs, ys, alpha), "support and "
                        "query are swapped: adapt on the support set, measure on the query set."),
                Mistake("inner on query", first_order(params, xq, yq, xq, yq, alpha), "the inner "
                        "step is taken on the query set: adapt on the support set (x_support, "
                        "y_support)."),
                Mistake("outer on support", first_order(params, xs, ys, xs, ys, alpha), "the "
                        "loss after the step is measured on the support set: measure it on the "
                        "query set."),
                Mistake("task 0 indexed", scaled(task0, 1 / T), "only task 0's gradient is "
                        "there: sum the task axis, don't index it."),
                Mistake("task 0 alone", task0, "that is task 0's gradient alone: average over "
                        "all T tasks."),
                Mistake("two steps", first_order(params, xs, ys, xq, yq, alpha, steps=2), "that "
                        "is two inner steps; take one."),
                Mistake("inner summed over K", first_order(params, xs, ys, xq, yq, alpha * K),
                        f"your inner step is K = {K} times too big: the support loss is the MEAN "
                        "over the K support points (maml.loss), not their sum.")]
            mistakes += [Mistake(f"alpha {a}", first_order(params, xs, ys, xq, yq, a), f"α is "
                                 f"not passed on: you adapted with α = {a} whatever alpha is.")
                         for a in alpha_gone(alpha, (0.01, 0.1))]
            mistakes += earlier_calls([(f"T = {len(e[1].x_support)}, α = {e[2]:.3f}",
                                        first_order(e[0], *e[1][:4], e[2]))
                                       for e in cases[:i] if e is not cases[i]],
                                      "first_order_meta_gradient")
            compare(got, want, mistakes, f"T = {T}, K = {K}, Q = {Q}, α = {alpha:.3f}",
                    "your first-order meta-gradient", ledger=ledger)
        return f"T = {T}, α = {alpha:.3f}", run

    def checks(results):
        return [("the same inputs twice", lambda: same_inputs_same_answer(
                    results[0], results[1], "first_order_meta_gradient"))] + [
            check(i, results) for i in (0, 2, 3)]
    params, b, alpha = cases[-1]
    want, exact = first_order(params, *b[:4], alpha), grad(maml.maml_loss)(params, *b[:4],
                                                                           alpha=alpha)
    gap = numpy.linalg.norm(flat(want) - flat(exact)) / numpy.linalg.norm(flat(exact))
    return calls, checks, (f"right on 3 fresh batches and the same for the same inputs; here "
                           f"first order differs from exact MAML by {gap:.1%}")


def task(adapted, i, params):
    """Task i's weights out of weights with a task axis, in θ's shapes."""
    return [(W[i], b[i].reshape(b0.shape)) for (W, b), (_, b0) in zip(adapted, params)]


def stack(per_task_params):
    return [(numpy.stack([p[j][0] for p in per_task_params]),
             numpy.stack([p[j][1][None] for p in per_task_params]))
            for j in range(len(per_task_params[0]))]


def calm(params, batches, alpha, steps, y_other=None):
    """alpha, halved until `steps` steps of it on every batch's support set keep every weight
    finite and below 10: on some seeds a drawn α near 0.1 blew the adaptation up within three
    steps (seed 777: weights 1e3), and the checker's own expected answer was not finite."""
    ys = [b.y_support for b in batches] + ([y_other] if y_other is not None else [])
    xs = [b.x_support for b in batches] + ([batches[0].x_support] if y_other is not None else [])
    while alpha > 1e-3:
        with numpy.errstate(all="ignore"):
            adapted = [maml.adapt(params, x, y, alpha=alpha, steps=steps) for x, y in zip(xs, ys)]
        if all(numpy.all(numpy.abs(a) < 10) for p in adapted for pair in p for a in pair):
            return alpha
        alpha /= 2
    return alpha


def exercise_4(rng):
    """adapt_batch: every task on its own; two fresh T (and K, Q, widths, all distinct), fresh
    α, 0 to 6 steps; the same inputs twice; other data for tasks 1 and up; new data of sizes,
    α and steps seen before; the meta-gradient through it."""
    T1, T2 = distinct(rng, [(2, 7)] * 2)
    K1, K2, Q = distinct(rng, [(2, 11), (2, 11), (3, 11)], taken=(T1, T2))
    params = network(rng, taken=(T1, T2, K1, K2, Q))
    batches = [batch(rng, T1, K1, Q), batch(rng, T2, K2, Q)]
    fresh = batch(rng, T1, K1, Q)
    b0, b1 = batches
    y_other = b0.y_support.copy()
    y_other[1:] += 1.0                             # other data for tasks 1 and up only
    first = (b0.x_support, b0.y_support, float(rng.uniform(0.02, 0.1)), 1)
    several = (b0.x_support, b0.y_support, float(rng.uniform(0.02, 0.1)), int(rng.integers(2, 4)))
    several = several[:2] + (calm(params, [b0, fresh], *several[2:], y_other),) + several[3:]
    first = first[:2] + (calm(params, [b0], *first[2:]),) + first[3:]
    long = float(rng.uniform(0.02, 0.1)), int(rng.integers(4, 7))
    cases = [first, first, several, (b0.x_support, y_other, *several[2:]),
             (fresh.x_support, fresh.y_support, *several[2:]),
             (b1.x_support, b1.y_support, calm(params, [b1], *long), long[1]),
             (b1.x_support, b1.y_support, float(rng.uniform(0.02, 0.1)), 0)]
    names = ("params", "x_support", "y_support", "alpha", "steps")
    calls = [call(params, *case, names=names) for case in cases]
    through = (float(rng.uniform(0.02, 0.1)), int(rng.integers(2, 5)))
    through = (calm(params, [b1], *through), through[1])
    calls.append(call(params, b1.x_support, b1.y_support, *through, b1.x_query, b1.y_query,
                      kind="grad_through_adapt", names=names + ("x_query", "y_query")))
    what = {2: "", 3: ", other data for tasks 1 and up", 4: ", new data"}
    ledger = Ledger()

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

    def check(i, results):
        xs, ys, alpha, steps = cases[i]
        T, K = xs.shape[:2]
        where = f"T = {T}, steps = {steps}, α = {alpha:.3f}{what.get(i, '')}"

        def adapt(alpha, steps):
            return maml.adapt(params, xs, ys, alpha=alpha, steps=steps)

        def run():
            got = answer(results[i])
            want = adapt(alpha, steps)
            earlier = earlier_calls([(f"T = {len(c[0])}, steps = {c[3]}, α = {c[2]:.3f}",
                                      maml.adapt(params, c[0], c[1], alpha=c[2], steps=c[3]))
                                     for c in cases[:i] if c is not cases[i]], "adapt_batch")
            if steps == 0:
                if shapes_of(got) == shapes_of(params):
                    raise Failed(f"{where}: with steps = 0 your adapt_batch returned θ without "
                                 "the task axis: θ' is then θ for every task, a copy per task "
                                 "(maml.per_task(params, T)), as maml.adapt(..., steps=0) "
                                 "returns.")
                compare(got, want, [Mistake("at least one step", adapt(alpha, 1), "with steps "
                                            "= 0, θ' should be θ (a copy per task, as "
                                            "maml.adapt(..., steps=0) returns), but your code "
                                            "took a step anyway: does your loop run at least "
                                            "once?")] + earlier, where, "your adapted weights",
                        ledger=ledger)
                return
            theta = maml.per_task(params, T)
            g = grad(lambda p: anp.sum(maml.loss(p, xs, ys)))(theta)
            mistakes = [
                Mistake("mean over tasks", adapt(alpha / T, steps), f"each task's step is T = "
                        f"{T} times too small: averaging the loss over tasks divides every "
                        "task's gradient by T. Sum the tasks' losses."),
                Mistake("summed over K", adapt(alpha * K, steps), f"each task's step is K = {K} "
                        "times too big: each task's loss is the MEAN over its K support points "
                        "(maml.loss), not their sum."),
                Mistake("one step", adapt(alpha, 1), f"only one step was taken, but steps = "
                        f"{steps}."),
                Mistake("steps - 1", adapt(alpha, steps - 1), f"that is steps − 1 = {steps - 1} "
                        f"steps; take {steps}."),
                Mistake("steps + 1", adapt(alpha, steps + 1), f"that is steps + 1 = {steps + 1} "
                        f"steps; take {steps}."),
                Mistake("stale gradient", step(theta, g, steps * alpha), "the gradient is taken "
                        "at θ every step instead of at the current θ' (a stale gradient): "
                        "recompute it after each step."),
                Mistake("shared mean", shared(xs, ys, alpha, steps, anp.mean), "all tasks share "
                        "one step on the mean loss of the batch: each task must be adapted with "
                        "the gradient of its OWN loss (give each task its own copy of θ with "
                        "maml.per_task)."),
                Mistake("shared sum", shared(xs, ys, alpha, steps, anp.sum), "all tasks share "
                        "one step on the summed loss of the batch: each task must be adapted "
                        "with the gradient of its OWN loss (give each task its own copy of θ "
                        "with maml.per_task)."),
                Mistake("task 0 for all", stack([task(want, 0, params)] * T), "every task got "
                        "task 0's θ': keep each task's own adapted weights."),
                Mistake("chained", chained(xs, ys, alpha, steps), "the tasks are chained: each "
                        "task starts from the previous task's adapted weights instead of from "
                        "θ.")]
            mistakes += [Mistake(f"alpha {a}", adapt(a, steps), f"α is not passed on: your "
                                 f"steps use α = {a} whatever alpha is.")
                         for a in alpha_gone(alpha, (0.01, 0.05, 0.1))]
            compare(got, want, mistakes + earlier, where, "your adapted weights", ledger=ledger)
        return where, run

    def through_steps(results):
        entry = results[-1]
        traceable(entry, results[:-1], "adapt_batch")
        alpha, steps = through
        want = grad(maml.maml_loss)(params, *b1[:4], alpha=alpha, steps=steps)
        got = answer(entry)
        compare(got, want, [], "the meta-gradient through your adapt_batch",
                "the meta-gradient (keep every step connected to θ: no plain copies)",
                rtol=plain_tolerance(got, results[:-1]), ledger=ledger)

    def checks(results):
        return ([("the same inputs twice", lambda: same_inputs_same_answer(
                    results[0], results[1], "adapt_batch"))]
                + [check(i, results) for i in (0, 2, 3, 4, 5, 6)]
                + [("the meta-gradient through adapt_batch", lambda: through_steps(results))])
    return calls, checks, (f"every task adapted on its own (T = {T1} and {T2}) for "
                           f"{', '.join(str(cases[i][3]) for i in (0, 2, 5, 6))} steps, on "
                           "other data and new data, the same for the same inputs, and MAML "
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
    sizes = tuple(distinct(rng, [(3, 8), (2, 7), (8, 14)]))     # T, K, Q: pairwise distinct
    calls = [call(*sizes, rng_input(seed, "a"), names=("n_tasks", "k_support", "k_query", "rng")),
             call(*sizes, rng_input(seed, "b"), names=("n_tasks", "k_support", "k_query", "rng")),
             call(*sizes, rng_input(seed + 1, "c"), names=("n_tasks", "k_support", "k_query", "rng")),
             call(*sizes, rng_input(seed + 1, "c"), names=("n_tasks", "k_support", "k_query", "rng")),
             call(3000, 4, 6, rng_input(seed + 2, "d"), names=("n_tasks", "k_support", "k_query", "rng")),
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
            raise Failed("two calls with equal rngs (the same seed) gave different tasks: take "
                         "every random number from the `rng` you are given (rng.uniform), not "
                         "from elsewhere, and keep nothing from one call to the next")

    def fresh(results):
        first, second = a_batch(results[2]), a_batch(results[3])
        for name in FIELDS:
            if numpy.array_equal(getattr(first, name), getattr(second, name)):
                raise Failed(f"two calls with the same rng returned the same {name}: draw it "
                             "afresh from the rng you are given on every call (no fixed seed, "
                             "no values kept from an earlier call)")

    def distributions(results):
        big = a_batch(results[4], 3000, 4, 6)
        query_is_support(big)
        for name, low, high in [("amplitude", -3, 3), ("phase", -3, 3), ("x_support", -5, 5),
                                ("x_query", -5, 5)]:
            field = getattr(big, name)
            values = numpy.ravel(field)
            if len(numpy.unique(values)) < 0.99 * len(values):
                count = f"{name} takes only {len(numpy.unique(values))} different values in " \
                        f"{len(values)} draws"
                if numpy.all(values == numpy.round(values)):
                    raise Failed(f"{count}, all whole numbers: draw from the continuous "
                                 "uniform distribution (rng.uniform, not rng.integers)")
                if numpy.all(field == field[:1]):
                    shape = "n_tasks" if field.ndim == 1 else "(n_tasks, k, 1)"
                    raise Failed(f"{count}: it is the same for every task. Draw each task's "
                                 f"own, rng.uniform(low, high, {shape})")
                raise Failed(f"{count}: every draw should be new (rng.uniform, shaped like "
                             "the field)")
            shares = numpy.histogram(values, bins=6, range=(low, high))[0] / len(values)
            # each share's standard deviation is under 0.007 here: 0.05 is over 7 of them
            if values.min() < low or values.max() > high or numpy.abs(shares - 1 / 6).max() > 0.05:
                raise Failed(f"{name} should be uniform on [{low}, {high}]; yours spans "
                             f"[{values.min():.2f}, {values.max():.2f}] with bin shares "
                             f"{numpy.round(shares, 2).tolist()}")

    def query_is_support(big):
        if numpy.isin(big.x_query, big.x_support).mean() > 0.01:
            raise Failed("the query points are the support points: draw them separately, so "
                         "the query set measures generalisation")

    def separate(results):
        big = a_batch(results[4], 3000, 4, 6)
        query_is_support(big)
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


def meta_sgd(params, alphas, xs, ys, xq, yq, through=True, points=False):
    """The Meta-SGD loss one task at a time, straight from the formula (`points`: each task's
    query loss summed over its points, a typical mistake)."""
    total = 0.0
    for x, y, x_q, y_q in zip(xs, ys, xq, yq):
        at = params if through else [(getval(W), getval(b)) for W, b in params]  # constants
        g = grad(lambda p: maml.loss(p, x, y))(at)
        adapted = [(W - aW * dW, b - ab * db)
                   for (W, b), (aW, ab), (dW, db) in zip(params, alphas, g)]
        total = total + maml.loss(adapted, x_q, y_q) * (len(x_q) if points else 1)
    return total / len(xs)


def exercise_6(rng):
    """meta_sgd_loss: the loss and its gradients with respect to θ and α; two fresh T (K, Q and
    widths distinct from them and each other), equal α's and a different α per weight; the same
    inputs twice; new data and α's of sizes seen before; α's of both signs."""
    T1, T2 = distinct(rng, [(2, 7)] * 2)
    K1, K2, Q1, Q2 = distinct(rng, [(2, 11), (2, 11), (3, 11), (3, 11)], taken=(T1, T2))
    params = network(rng, taken=(T1, T2, K1, K2, Q1, Q2))
    first, b, fresh = batch(rng, T1, K1, Q1), batch(rng, T2, K2, Q2), batch(rng, T2, K2, Q2)
    data, T = b[:4], T2
    alpha = float(rng.uniform(0.02, 0.1))
    same = [(numpy.full_like(W, alpha), numpy.full_like(bias, alpha)) for W, bias in params]

    def draw(low, high):
        return [(rng.uniform(low, high, W.shape), rng.uniform(low, high, bias.shape))
                for W, bias in params]
    alphas, other_alphas, signed = draw(0, 0.1), draw(0, 0.1), draw(-0.1, 0.1)
    names = ("params", "alphas", "x_support", "y_support", "x_query", "y_query")
    cases = [(same, first[:4]), (alphas, data), None, None, (same, data), (alphas, data),
             (other_alphas, fresh[:4]), (signed, data)]
    calls = [call(params, same, *first[:4], names=names), call(params, alphas, *data, names=names),
             call(0, params, alphas, *data, kind="grad_of_answer", names=("argnum",) + names),
             call(1, params, alphas, *data, kind="grad_of_answer", names=("argnum",) + names),
             call(params, same, *data, names=names),  # equal α's on the same tasks as alphas
             call(params, alphas, *data, names=names),          # call 1 again
             call(params, other_alphas, *fresh[:4], names=names),  # new data and α's, sizes seen
             call(params, signed, *data, names=names)]          # α's of both signs
    ledger = Ledger()

    def loss_candidates(i):
        a, data = cases[i]
        xs, ys, xq, yq = data
        T, K, Q = len(xs), xs.shape[1], xq.shape[1]
        want = meta_sgd(params, a, *data)
        mistakes = [
            Mistake("sum tasks", want * T, f"that is the SUM of the T = {T} tasks' losses: "
                    "average them."),
            Mistake("T too small", want / T, f"your loss is T = {T} times too small: average "
                    "over tasks once."),
            Mistake("sum query points", meta_sgd(params, a, *data, points=True), f"each task's "
                    f"query loss is SUMMED over its Q = {Q} query points: the loss is their MEAN "
                    "(maml.loss)."),
            Mistake("inner summed over K", meta_sgd(params, scaled(a, K), *data), f"your inner "
                    f"step is K = {K} times too big: the support loss is the MEAN over the K "
                    "support points (maml.loss), not their sum."),
            Mistake("swapped", meta_sgd(params, a, xq, yq, xs, ys), "support and query are "
                    "swapped: step on the support set, measure on the query set."),
            Mistake("inner on query", meta_sgd(params, a, xq, yq, xq, yq), "the inner step is "
                    "taken on the query set: step on the support set."),
            Mistake("outer on support", meta_sgd(params, a, xs, ys, xs, ys), "the loss after the "
                    "step is measured on the support set: measure it on the query set."),
            Mistake("no step", float(numpy.mean(maml.loss(params, xq, yq))), "that is the query "
                    "loss before any step: take the Meta-SGD step first."),
            Mistake("abs alpha", meta_sgd(params, [(numpy.abs(u), numpy.abs(v)) for u, v in a],
                                          *data),
                    "you used |α|: Meta-SGD's α's are learned numbers and may be negative (that "
                    "weight then steps up its gradient). Use α as given."),
            Mistake("clipped alpha", meta_sgd(params, [(numpy.maximum(u, 0), numpy.maximum(v, 0))
                                                       for u, v in a], *data),
                    "negative α's were made 0: Meta-SGD's α's are learned numbers and may be "
                    "negative (that weight then steps up its gradient). Use α as given.")]
        before = [c for c in cases[:i] if c is not None and c is not cases[i]]
        mistakes += earlier_calls([(f"T = {len(c_data[0])}" + (", equal α's" if c_a is same
                                                                else ""),
                                    meta_sgd(params, c_a, *c_data)) for c_a, c_data in before],
                                  "meta_sgd_loss")
        return want, mistakes

    def value(i, where, what="your loss"):
        def run(results):
            want, mistakes = loss_candidates(i)
            compare_number(answer(results[i]), want, mistakes, where, what, ledger=ledger)
        return run

    def elementwise(results):
        """Right with equal α's, wrong with a different α per weight (a measured fact)."""
        got, equal = answer(results[1]), answer(results[4])
        right = [numpy.size(v) == 1 and numpy.asarray(v).dtype.kind in "fiu" and close(
            float(numpy.ravel(v)[0]), meta_sgd(params, a, *data), tolerance(v))
            for v, a in ((got, alphas), (equal, same))]
        if right == [False, True]:
            raise Failed("with equal α's your loss is right, with a different α per weight "
                         "it is wrong: α must multiply the gradient elementwise (α ⊙ ∇L), one "
                         "step size per weight")

    def gradient(results, argnum, what):
        want = grad(meta_sgd, argnum)(params, alphas, *data)
        mistakes = []
        if argnum == 0:
            mistakes = [Mistake("first order", grad(meta_sgd, 0)(params, alphas, *data,
                                                                 through=False),
                                "that is the first-order meta-gradient: the meta-gradient must "
                                "flow THROUGH the inner step (keep ∇L connected to θ, no plain "
                                "copies).")]
        traceable(results[2 + argnum], results[:2], "loss")
        got = answer(results[2 + argnum])
        compare(got, want, mistakes, f"the meta-gradient with respect to {what}",
                f"the meta-gradient with respect to {what}",
                rtol=plain_tolerance(got, results[:2]), ledger=ledger)

    def checks(results):
        found = [("the same inputs twice", lambda r: same_inputs_same_answer(
                     r[1], r[5], "meta_sgd_loss")),
                 ("equal α gives MAML's loss", value(0, f"T = {T1}, every α = {alpha:.3f}",
                                                     "your loss (with equal α's, MAML's loss "
                                                     "with that α)")),
                 ("α per weight", value(1, f"T = {T}, a different α per weight")),
                 ("α per weight, elementwise", elementwise),
                 ("new data and α's", value(6, f"T = {T}, new data and α's")),
                 ("α's of both signs", value(7, f"T = {T}, α's of both signs (some negative)")),
                 ("meta-gradient for θ", lambda r: gradient(r, 0, "θ")),
                 ("meta-gradient for α", lambda r: gradient(r, 1, "α"))]
        return [(name, lambda f=f: f(results)) for name, f in found]
    return calls, checks, ("loss and meta-gradients with respect to θ and α all match, for "
                           "α's of both signs, new data, and the same inputs twice")


def unsaturated(params, xs, ys, xq, yq):
    """params with the last layer scaled so that the mean squared distance between query and
    support embeddings is 1: a softmax over the classes far from 0 and 1."""
    zs, zq = maml.mlp(params, xs), maml.mlp(params, xq)
    spread = numpy.sqrt(numpy.mean(numpy.sum((zq[:, :, None] - zs[:, None]) ** 2, axis=3)))
    W, b = params[-1]
    return params[:-1] + [(W / spread, b / spread)]


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
    """prototypical_loss: two batches of episodes with fresh T, N, K, Q (the sizes a hint names,
    T, N, K and M = N·Q, pairwise distinct, and the image size, embedding size and widths
    distinct from them); support points class by class and shuffled; the same inputs twice;
    new episodes of sizes seen before; large embeddings; the gradient with respect to φ."""
    Ts = distinct(rng, [(2, 5)] * 2)                    # two T: none hard-codes
    sizes, taken = [], set(Ts)
    for T in Ts:
        N, K = distinct(rng, [(2, 6), (2, 5)], taken=(T,))
        Q = int(rng.choice([q for q in range(2, 5) if N * q not in (T, K)]))
        sizes.append((T, N, K, Q))
        taken |= {N, K, N * Q}
    D, n = distinct(rng, [(2, 12), (3, 16)], taken=taken)
    params = network(rng, taken=taken | {D, n}, n_in=n, n_out=D, std=0.5)
    data = [episodes(rng, *size, n, shuffled) for size, shuffled in zip(sizes, (False, True))]
    fresh = episodes(rng, *sizes[0], n, False)
    scale = 300.0  # embeddings ~300 times larger: squared distances ~10^5, e^(−d²) = 0
    large = params[:-1] + [(params[-1][0] * scale, params[-1][1] * scale)]
    names = ("params", "x_support", "y_support", "x_query", "y_query")
    first = (params, data[0], 0)                           # (φ, episodes, which sizes)
    cases = [first, first, (params, fresh, 0), (params, data[1], 1), (large, data[0], 0)]
    calls = [call(p, *episode, kind="with_embedding", names=names) for p, episode, _ in cases]
    # The gradient is checked where the softmax is not saturated (squared distances ~1): with
    # classes far apart every query's loss, and so the gradient, is ~0, which a loss cut off
    # from φ (gradient exactly 0) would match (seed 104 credited one).
    gentle = unsaturated(params, *data[1])
    calls.append(call(gentle, *data[1], kind="grad_through_embedding", names=names))
    ledger = Ledger()

    def mistakes(p, xs, ys, xq, yq):
        T, M, N = yq.shape
        return [Mistake("euclidean", proto_loss(p, xs, ys, xq, yq, distance="euclidean"),
                        "your distances are Euclidean, ‖z − c‖: ProtoNets uses the SQUARED "
                        "Euclidean distance ‖z − c‖² (no square root)."),
                Mistake("prototype sum", proto_loss(p, xs, ys, xq, yq, prototype="sum"),
                        "your prototypes are the SUM of each class's support embeddings: take "
                        "their MEAN (divide by the number of support points of the class)."),
                Mistake("softmax over queries", proto_loss(p, xs, ys, xq, yq, axis=1),
                        "your softmax normalises over the queries (axis 1): normalise over the "
                        "N classes (the last axis), so that p(y = n | x) sums to 1 over n."),
                Mistake("sign", proto_loss(p, xs, ys, xq, yq, sign=1.0), "your logits are "
                        "+‖z − c‖²: the NEAREST prototype must score highest, so the logits "
                        "are −‖z − c‖² (a sign error)."),
                Mistake("mean classes", proto_loss(p, xs, ys, xq, yq, reduce="mean classes"),
                        f"your loss is N = {N} times too small: the mean runs over the class "
                        "axis too. Pick the true class's log-probability (sum y · log p over "
                        "the classes), then average over queries and episodes."),
                Mistake("sum", proto_loss(p, xs, ys, xq, yq, reduce="sum"), f"that is the SUM "
                        f"over all T·M = {T * M} queries: average them."),
                Mistake("sum queries", proto_loss(p, xs, ys, xq, yq, reduce="sum queries"),
                        f"that is the SUM over the M = {M} queries of an episode: average "
                        "them."),
                Mistake("sum episodes", proto_loss(p, xs, ys, xq, yq, reduce="sum episodes"),
                        f"that is the SUM over the T = {T} episodes: average them."),
                Mistake("query prototypes", proto_loss(p, xq, yq, xq, yq), "your prototypes "
                        "come from the query set: build them from the support set (x_support, "
                        "y_support) and classify the queries against them."),
                Mistake("class-major", proto_loss(p, xs, ys, xq, yq, prototype="class-major"),
                        "you assumed the support points come class by class (a reshape to "
                        "(T, N, K, D)); here they are shuffled. Group them by y_support (yᵀz "
                        "sums each class's embeddings).")]

    def where(i):
        p, episode, size = cases[i]
        T, N, K, Q = sizes[size]
        return (f"T = {T} episodes, {N}-way {K}-shot, {N * Q} queries"
                f"{', support points shuffled' if size == 1 else ''}"
                f"{', new episodes' if i == 2 else ''}"
                f"{', large embeddings (squared distances ~10^5)' if p is large else ''}")

    def value(i, results):
        p, episode, _ = cases[i]
        got = answer(results[i])
        T = len(episode[0])
        if isinstance(got, numpy.ndarray) and got.shape == (T,):
            raise Failed(f"{where(i)}: your loss is one array of shape ({T},), a loss per "
                         "episode: average over the episodes too (one number).")
        want = proto_loss(p, *episode)
        if (p is large and isinstance(got, numpy.ndarray) and got.size == 1
                and got.dtype.kind == "f" and not numpy.isfinite(got).all()
                and numpy.isfinite(want) and small_scale_right(results)):
            raise Failed(f"{where(i)}: your loss is {float(got.ravel()[0])} (the expected loss "
                         f"is {want:.6g}), and right at the usual scale: with large embeddings "
                         "e^(−‖z − c‖²) underflows to 0 and log(0) = −inf. Compute the "
                         "log-softmax stably: subtract the largest score first, log Σ exp(s) = "
                         "m + log Σ exp(s − m).")
        earlier = earlier_calls([(where(j), proto_loss(cases[j][0], *cases[j][1]))
                                 for j in range(i) if cases[j] is not cases[i]],
                                "prototypical_loss")
        compare_number(got, want, mistakes(p, *episode) + earlier, where(i), "your loss",
                       ledger=ledger)

    def small_scale_right(results):
        got = results[0].get("value")
        return (isinstance(got, numpy.ndarray) and got.size == 1 and got.dtype.kind == "f"
                and close(float(got.ravel()[0]), proto_loss(params, *data[0]), tolerance(got)))

    def gradient(results):
        entry = results[-1]
        if "error" in entry and "value" in results[3]:
            error = raised(entry["error"])
            raise Failed(f"autograd cannot differentiate your loss: your code {error}. Build "
                         "every array from embed's output with autograd.numpy operations "
                         "(np.stack, np.sum, @, ...): no float(), numpy.array(...) or writing "
                         "into numpy.zeros.")
        want = grad(proto_loss)(gentle, *data[1])
        got = answer(entry)
        rtol = max(tolerance(got), tolerance(answer(results[3])))
        compare(got, want, [Mistake("zero gradient", scaled(want, 0.0), "your loss is right, "
                                    "but its gradient with respect to φ is zero: autograd can't "
                                    "see through plain numpy copies (getval, numpy.array): "
                                    "compute with autograd.numpy on embed's output.")],
                "the gradient with respect to φ (the embedding's weights)",
                "the gradient of your loss", rtol=rtol, ledger=ledger)

    def checks(results):
        return ([("the same inputs twice", lambda: same_inputs_same_answer(
                    results[0], results[1], "prototypical_loss"))]
                + [(where(i), lambda i=i: value(i, results)) for i in (0, 2, 3, 4)]
                + [("the gradient with respect to φ", lambda: gradient(results))])
    return calls, checks, ("the loss matches for 3 fresh episode batches (class by class, new, "
                           "and shuffled) and for large embeddings, the same for the same "
                           "inputs, and autograd's gradient with respect to φ flows through it")


EXERCISES = {1: exercise_1, 2: exercise_2, 3: exercise_3, 4: exercise_4, 5: exercise_5,
             6: exercise_6, 7: exercise_7}

