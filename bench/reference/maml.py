"""Model-Agnostic Meta-Learning, exact, in numpy + autograd (Finn, Abbeel & Levine 2017,
arXiv:1703.03400).

Each task i comes with a support set (the paper's "train" data) and a query set ("val"):

    inner update     θ'_i = θ − α ∇_θ L_i^support(f_θ)          -> inner_update / adapt
    meta-objective   min_θ  Σ_i L_i^query(f_θ'_i)                -> maml_loss

`grad(maml_loss)` is the exact meta-gradient: autograd differentiates through the inner
gradient step, second-order (Hessian-vector) terms included. The meta-update θ ← θ − β·(that)
is done by Adam in `meta_train`.

Shapes: parameters are a list of (W, b) pairs, W (n_in, n_out), b (n_out,). A meta-batch of
T tasks with K points each is an array (T, K, 1); adapted parameters carry the task axis too,
W (T, n_in, n_out), b (T, 1, n_out), so all tasks go through one batched matmul.
"""
import ctypes
import os
import zipfile
from collections import namedtuple

import autograd.numpy as np
import numpy
from autograd import grad, value_and_grad
from autograd.tracer import getval

import checks
import files
import tasks


# --- the model: a tiny MLP ----------------------------------------------------------------

def init_mlp(layer_sizes=(1, 40, 40, 1), rng=None, std=0.01):
    """Random (W, b) pairs for an MLP with the given layer sizes (the paper's is 1-40-40-1).

    As in the paper's code: W ~ normal(0, std²) truncated at ±2 std, b = 0. Small weights
    matter: with large ones (He init, say) fine-tuning at α = 0.01 diverges.
    rng: a numpy.random.Generator.
    """
    checks.rng(rng)
    if not isinstance(layer_sizes, (list, tuple)) or len(layer_sizes) < 2:
        raise ValueError(f"layer_sizes must be two or more whole numbers, got {layer_sizes!r}")
    for n in layer_sizes:
        checks.count("each of layer_sizes", n, low=1, high=100_000)
    checks.number("std", std, strict=True)
    params = []
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        W = rng.normal(0.0, std, size=(n_in, n_out))
        while (outside := numpy.abs(W) > 2 * std).any():
            W[outside] = rng.normal(0.0, std, size=outside.sum())
        params.append((W, numpy.zeros(n_out)))
    return params


def relu(x):
    """max(x, 0), elementwise."""
    # x * (x > 0) rather than np.maximum(x, 0): the mask is a constant to autograd, so this
    # traces one multiply where maximum's gradient traces several (~2% faster, bench_maml.py).
    return x * (x > 0)


def mlp(params, x):
    """Forward pass: ReLU hidden layers, linear output.

    x: (N, n_in) or (T, N, n_in). params: shared (W (n_in, n_out)) or per task
    (W (T, n_in, n_out), b (T, 1, n_out)). Returns (N, n_out) or (T, N, n_out).
    """
    checks.params(params, finite=False)  # shapes only: cheap enough for every call
    *hidden, (W_out, b_out) = params
    for W, b in hidden:
        x = relu(x @ W + b)
    return x @ W_out + b_out


def loss(params, x, y):
    """Mean squared error of each task: shape (T,) for x (T, N, 1), a scalar for x (N, 1)."""
    return np.mean((mlp(params, x) - y) ** 2, axis=(-2, -1))


# --- MAML -----------------------------------------------------------------------------------

def per_task(params, n_tasks):
    """Give each of T tasks its own view of θ: W -> (T, n_in, n_out), b -> (T, 1, n_out).

    Adding zeros of shape (T, 1, 1) broadcasts θ along a new task axis in one traced op; its
    gradient sums the tasks' gradients back into θ.
    """
    zeros = numpy.zeros((n_tasks, 1, 1))
    return [(zeros + W, zeros + b) for W, b in params]


def pairs(weights):
    """[W0, b0, W1, b1, ...] -> [(W0, b0), (W1, b1), ...]"""
    return [(weights[i], weights[i + 1]) for i in range(0, len(weights), 2)]


def inner_update(params, x_support, y_support, alpha, first_order=False):
    """One gradient step on each task's own support set:  θ' = θ − α ∇_θ L^support(θ).

    params carry the task axis (see per_task) when x_support is (T, K, 1). Summing the tasks'
    losses leaves in each task's copy of θ the gradient of that task's loss alone.
    """
    def support_loss(weights):  # weights = [W0, b0, W1, b1, ...]
        return np.sum(loss(pairs(weights), x_support, y_support))

    # A flat list of arrays rather than the nested list of pairs: autograd's bookkeeping for
    # nested containers costs 3-9% of a meta-iteration (bench_maml.py, "nested grad").
    weights = [w for pair in params for w in pair]
    if first_order:
        # autograd has no stop_gradient: we take the gradient at getval(θ), θ's plain values,
        # so the outer grad sees ∇L as a constant and drops its Hessian term (first-order MAML).
        grads = grad(support_loss)([getval(w) for w in weights])
    else:
        grads = grad(support_loss)(weights)
    return pairs([w - alpha * g for w, g in zip(weights, grads)])


def adapt(params, x_support, y_support, alpha=0.01, steps=1, first_order=False):
    """θ' after `steps` inner updates, each task adapted on its own support set.

    x_support, y_support: (T, K, 1) -> adapted params with a task axis; (K, 1) -> shared shapes.
    steps = 0 returns θ itself (per task).
    """
    sizes, n_tasks = checks.params(params)
    checks.data(sizes, x_support=x_support, y_support=y_support)
    checks.alpha(alpha)
    checks.count("steps", steps, low=0, high=1000)
    if n_tasks is not None and (x_support.ndim != 3 or len(x_support) != n_tasks):
        raise ValueError(f"params carry a task axis of {n_tasks} but x_support has shape "
                         f"{x_support.shape}")
    if x_support.ndim == 3 and n_tasks is None:  # shared θ
        params = per_task(params, len(x_support))
    for _ in range(steps):
        params = inner_update(params, x_support, y_support, alpha, first_order)
    return params


def maml_loss(params, x_support, y_support, x_query, y_query, alpha=0.01, steps=1,
              first_order=False):
    """The meta-objective, (1/T) Σ_i L_i^query(θ'_i): the query MSE after adaptation,
    averaged over the T tasks. grad(maml_loss) is the exact MAML meta-gradient."""
    checks.data(checks.params(params)[0], x_query=x_query, y_query=y_query)
    if numpy.ndim(x_query) != numpy.ndim(x_support) or (
            numpy.ndim(x_query) == 3 and len(x_query) != len(x_support)):
        raise ValueError(f"x_query has shape {numpy.shape(x_query)} but x_support has shape "
                         f"{numpy.shape(x_support)}: expected the same number of tasks")
    adapted = adapt(params, x_support, y_support, alpha, steps, first_order)
    return np.mean(loss(adapted, x_query, y_query))


def maml_loss_loop(params, x_support, y_support, x_query, y_query, alpha=0.01, steps=1,
                   first_order=False):
    """The same meta-objective, one task at a time in a Python loop: the textbook reading of
    Σ_i L_i^query(θ'_i). Slow; the reference that tests and bench_maml.py hold maml_loss to."""
    total = 0.0
    for xs, ys, xq, yq in zip(x_support, y_support, x_query, y_query):
        adapted = params
        for _ in range(steps):
            adapted = inner_update(adapted, xs, ys, alpha, first_order)
        total = total + loss(adapted, xq, yq)
    return total / len(x_support)


# --- training: MAML and the pretrained baseline ----------------------------------------------

def adam_step(params, grads, state, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """One Adam step (Kingma & Ba 2015) on a list of (W, b) pairs.

    state is None on the first call; returns (new params, new state).
    """
    if state is None:
        zeros = [tuple(numpy.zeros_like(p) for p in layer) for layer in params]
        state = (0, zeros, zeros)
    t, m, v = state
    t += 1
    m = [tuple(b1 * mi + (1 - b1) * g for mi, g in zip(ml, gl)) for ml, gl in zip(m, grads)]
    v = [tuple(b2 * vi + (1 - b2) * g * g for vi, g in zip(vl, gl)) for vl, gl in zip(v, grads)]
    step = lr * numpy.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    params = [tuple(p - step * mi / (numpy.sqrt(vi) + eps) for p, mi, vi in zip(pl, ml, vl))
              for pl, ml, vl in zip(params, m, v)]
    return params, (t, m, v)


def train(objective, params, rng, iterations, meta_batch=25, k=10, lr=1e-3, callback=None,
          sample_tasks=tasks.sample_batch, objective_and_grad=None):
    """Minimise objective(params, batch) by Adam, a fresh batch of tasks each iteration.

    sample_tasks(meta_batch, k, k, rng) -> Batch (K support and K query points per task).
    callback(iteration, loss, params), if given, is called after every step.
    objective_and_grad(params, batch) -> (loss, direction), if given, replaces
    value_and_grad(objective): Reptile feeds Adam a direction that is not a gradient.
    Returns (params, losses), losses an array of length `iterations`.
    """
    checks.params(params, per_task=False)
    checks.rng(rng)
    checks.count("meta_batch", meta_batch, high=100_000)
    checks.count("k", k, high=100_000)
    checks.count("iterations", iterations, low=0, high=100_000_000)
    checks.number("lr", lr, strict=True)
    keep_freed_memory()
    objective_and_grad = objective_and_grad or value_and_grad(objective)
    state, losses = None, numpy.empty(iterations)
    for i in range(iterations):
        batch = sample_tasks(meta_batch, k, k, rng)
        with numpy.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
            losses[i], grads = objective_and_grad(params, batch)
        largest_grad = max(numpy.abs(g).max() for g in _flat(grads))
        if not (numpy.isfinite(losses[i]) and largest_grad < 1e150):  # Adam squares it
            raise _diverged(i, losses[i], params, batch, lr)
        params, state = adam_step(params, grads, state, lr)
        if callback is not None:
            callback(i, losses[i], params)
    return params, losses


def meta_train(params, rng, iterations, meta_batch=25, k=10, alpha=0.01, steps=1,
               first_order=False, meta_lr=1e-3, callback=None, sample_tasks=tasks.sample_batch):
    """MAML: θ ← Adam(θ, ∇_θ maml_loss) on a fresh meta-batch of tasks every iteration.

    Defaults are the paper's sinusoid setup (meta-batch 25, K = 10, α = 0.01, one inner step,
    Adam 1e-3). Returns (params, losses): the meta-trained θ and the query loss per iteration.
    """
    checks.alpha(alpha)
    checks.count("steps", steps, low=0, high=1000)

    def objective(params, batch):
        return maml_loss(params, *batch[:4], alpha=alpha, steps=steps, first_order=first_order)

    return train(objective, params, rng, iterations, meta_batch, k, meta_lr, callback,
                 sample_tasks)


def pretrain(params, rng, iterations, meta_batch=25, k=10, lr=1e-3, callback=None,
             sample_tasks=tasks.sample_batch):
    """The paper's pretrained baseline: one network regressed on points of many tasks at once
    (no inner step), to be fine-tuned at test time by the same `adapt`. Same budget as MAML:
    each iteration sees the support and query points of `meta_batch` fresh tasks."""
    def objective(params, batch):
        return np.mean(loss(params, np.concatenate([batch.x_support, batch.x_query], axis=1),
                            np.concatenate([batch.y_support, batch.y_query], axis=1)))

    return train(objective, params, rng, iterations, meta_batch, k, lr, callback, sample_tasks)


Evaluation = namedtuple("Evaluation", "mse ci95 per_task")
Evaluation.__doc__ = """Query MSE after 0..max_steps gradient steps: mse and ci95 (max_steps + 1,)
(mean over tasks and half-width of its 95% interval, 1.96·std/√T), per_task (max_steps + 1, T)."""


def evaluate(params, x_support, y_support, x_query, y_query, alpha=0.01, max_steps=10):
    """Fine-tune on each held-out task's support set and measure the query MSE after
    0, 1, ..., max_steps gradient steps. Works for any params (MAML or pretrained).

    Data (T, K, 1), T >= 2 (the interval needs a spread). Returns an Evaluation.
    """
    sizes, n_tasks = checks.params(params, per_task=False)
    checks.data(sizes, x_support=x_support, y_support=y_support, x_query=x_query, y_query=y_query)
    if numpy.ndim(x_support) != 3 or len(x_support) < 2 or len(x_query) != len(x_support):
        raise ValueError("evaluate needs (T, K, 1) support and query sets with the same T >= 2 "
                         f"tasks, got {numpy.shape(x_support)} and {numpy.shape(x_query)}")
    checks.alpha(alpha)
    checks.count("max_steps", max_steps, low=0, high=1000)
    adapted = per_task(params, len(x_support))
    with numpy.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
        per_task_mse = [loss(adapted, x_query, y_query)]
        for _ in range(max_steps):
            adapted = inner_update(adapted, x_support, y_support, alpha)
            per_task_mse.append(loss(adapted, x_query, y_query))
    return summarise(numpy.array(per_task_mse), params, alpha)


def summarise(per_task_mse, params, alpha):
    """per_task_mse (steps + 1, T) -> Evaluation; raises Diverged for any NaN or inf in it, in
    its mean or in its interval."""
    with numpy.errstate(over="ignore", invalid="ignore"):
        mse = per_task_mse.mean(axis=1)
        ci95 = 1.96 * per_task_mse.std(axis=1, ddof=1) / numpy.sqrt(per_task_mse.shape[1])
    bad = ~(numpy.isfinite(per_task_mse).all(axis=1) & numpy.isfinite(mse) & numpy.isfinite(ci95))
    if bad.any():
        step = int(numpy.argmax(bad))
        largest = max(numpy.abs(w).max() for w in _flat(params))
        if step == 0 or largest > 1e3:
            raise Diverged("params", "fine-tuning diverged: the query MSE is not finite after "
                           f"{step} steps, and the weights are as large as {largest:.3g}")
        raise Diverged("alpha", f"fine-tuning diverged: the query MSE is not finite after "
                       f"{step} gradient step{'s' * (step > 1)} with alpha={alpha} "
                       "(try a smaller alpha)")
    return Evaluation(mse, ci95, per_task_mse)


class Diverged(FloatingPointError):
    """Training or fine-tuning produced NaN or inf. .knob names the likely cause: 'alpha'
    (the inner step), 'meta_lr' or 'lr' (the outer step), 'params' or 'data'."""

    def __init__(self, knob, message):
        super().__init__(message)
        self.knob = knob


def _diverged(i, loss_value, params, batch, lr):
    """Why did iteration i give a non-finite loss or gradient? Blame the data if it is not
    finite; the (meta) learning rate if it has blown the weights up; else the inner step α."""
    prefix = f"training diverged at iteration {i} (loss {loss_value:.3g})"
    if not all(numpy.isfinite(a).all() for a in batch[:4]):
        return Diverged("data", f"{prefix}: the sampled tasks contain NaN or infinite values")
    largest = max(numpy.abs(w).max() for w in _flat(params))
    if largest > 1e3 or not hasattr(batch, "x_support"):
        return Diverged("lr", f"{prefix}: the weights have grown to {largest:.3g} "
                              f"(try a smaller learning rate, got {lr})")
    with numpy.errstate(over="ignore", invalid="ignore"):
        before = numpy.mean(loss(params, batch.x_query, batch.y_query))
    if numpy.isfinite(before):
        return Diverged("alpha", f"{prefix}: the inner gradient step overflows "
                                 "(try a smaller alpha)")
    return Diverged("lr", f"{prefix}: the weights overflow (try a smaller learning rate, "
                          f"got {lr})")


def _flat(params):
    return [w for layer in params for w in layer]


# --- checkpoints: the file handling lives in files.py ------------------------------------------

def save_params(path, params, **metadata):
    """Write params (and JSON-able metadata) to an .npz file, atomically. Refuses what
    load_params would refuse (NaN weights, a task axis, shapes that don't chain)."""
    files.write_atomically(path, lambda f: f.write(files.encode_models({None: params}, metadata)))


def save_models(path, models, **metadata):
    """Several named models in one .npz file, atomically: models = {name: params}. One file
    cannot hold a half-updated pair."""
    if not isinstance(models, dict) or not models or not all(
            isinstance(n, str) and n.isidentifier() for n in models):
        raise ValueError(f"models must be a non-empty dict {{name: params}} with names like "
                         f"'maml', got {models!r:.80}")
    files.write_atomically(path, lambda f: f.write(files.encode_models(models, metadata)))


def load_models(path):
    """Read a checkpoint written by save_models or save_params.

    Returns ({name: params}, metadata dict); a file from save_params has the one name None.
    Raises FileNotFoundError if there is no file, ValueError naming the problem if it is not
    a valid checkpoint.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {os.fspath(path)!r}")
    try:
        return files.decode_models(files.read_npz(path))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{os.fspath(path)!r} is not a valid checkpoint: {e}") from None


def load_params(path, model=None):
    """Read one model: a file from save_params, or the named `model` of a file from
    save_models. Returns (params, metadata dict)."""
    models, metadata = load_models(path)
    if model not in models:
        names = ", ".join(repr(n) for n in models)
        raise ValueError(f"{os.fspath(path)!r} holds the models {names}: pass model= one of them"
                         if model is None else f"{os.fspath(path)!r} has no model {model!r} "
                         f"(it holds {names})")
    return models[model], metadata


# --- speed ----------------------------------------------------------------------------------------

def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    Per-task weights (25, 40, 40) are 320 KB, over glibc's default thresholds, so without this
    each new array comes as fresh pages from the kernel and pays page faults: ~1.45x slower
    meta-iterations (bench_maml.py, "default malloc"). Returns False (and does nothing) where
    the C library is not glibc.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_TRIM_THRESHOLD, 256 << 20) and mallopt(M_MMAP_THRESHOLD, 32 << 20))
