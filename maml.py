"""Model-Agnostic Meta-Learning, exact, in numpy + autograd (Finn, Abbeel & Levine 2017,
arXiv:1703.03400).

Each task i comes with a support set (the paper's "train" data) and a query set ("val"):

    inner update     θ'_i = θ − α ∇_θ L_i^support(f_θ)          -> inner_update / adapt
    meta-objective   min_θ  Σ_i L_i^query(f_θ'_i)                -> maml_loss

`grad(maml_loss)` is the exact meta-gradient: autograd differentiates through the inner
gradient step, second-order (Hessian-vector) terms included. The meta-update θ ← θ − β·(that)
is done by Adam in `meta_train`. Nothing here knows what the tasks are: L is `loss` (mean
squared error, for regression) or `cross_entropy` (for classification), passed as `loss_fn`.

Shapes: parameters are a list of (W, b) pairs, W (n_in, n_out), b (n_out,). A meta-batch of
T tasks with K points each is an array (T, K, n_in); adapted parameters carry the task axis
too, W (T, n_in, n_out), b (T, 1, n_out), so all tasks go through one batched matmul.

`dense`, `descend` and `mean_squared_error` are x @ W + b, w − α g and mean((ŷ − y)²), each
one operation to autograd (defined with their gradients at the end of the file, for speed).
Arguments are checked once, where a call comes in from outside (`@checks.checked`, rules in
checks.py); calls inside that call are not checked again.
"""
import ctypes
import math
from collections import namedtuple

import autograd.numpy as np
import numpy
from autograd import grad, value_and_grad
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

import checks
import tasks
from checks import checked


# --- the model: a tiny MLP ----------------------------------------------------------------

@checked
def init_mlp(layer_sizes=(1, 40, 40, 1), rng=None, std=0.01):
    """Random (W, b) pairs for an MLP with the given layer sizes (the paper's is 1-40-40-1).

    As in the paper's code: W ~ normal(0, std²) truncated at ±2 std, b = 0. Small weights
    matter: with large ones (He init, say) fine-tuning at α = 0.01 diverges.
    rng: a numpy.random.Generator.
    """
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
    # traces one multiply where maximum's gradient traces several.
    return x * (x > 0)


@checked
def mlp(params, x):
    """Forward pass: ReLU hidden layers, linear output.

    x: (N, n_in) or (T, N, n_in). params: shared (W (n_in, n_out)) or per task
    (W (T, n_in, n_out), b (T, 1, n_out)). Returns (N, n_out) or (T, N, n_out).
    """
    *hidden, (W_out, b_out) = params
    for W, b in hidden:
        x = relu(dense(x, W, b))
    return dense(x, W_out, b_out)


@checked
def loss(params, x, y):
    """Mean squared error of each task: shape (T,) for x (T, N, n), a scalar for x (N, n)."""
    return mean_squared_error(mlp(params, x), y)


@checked
def cross_entropy(params, x, y):
    """Softmax cross-entropy of each task, y one-hot (T, N, classes): shape (T,) (or a scalar
    for x (N, n)). The network's outputs are the logits."""
    logits = mlp(params, x)
    top = np.max(getval(logits), axis=-1, keepdims=True)   # a constant shift, for stability
    log_softmax = logits - top - np.log(np.sum(np.exp(logits - top), axis=-1, keepdims=True))
    return -np.mean(np.sum(y * log_softmax, axis=-1), axis=-1)


@checked
def accuracy(params, x, y):
    """The fraction of each task's points whose largest output is their class, y one-hot
    (T, N, classes): shape (T,). Not differentiable: for measuring, not training."""
    return hits(getval(mlp(params, x)), y)


def hits(scores, y):
    """The fraction of each task's points whose highest score is their class, y one-hot: shape
    scores.shape[:-2]. A point with a score that is not finite (a network that overflowed) is
    wrong, never a lucky argmax of NaN."""
    scores = numpy.asarray(scores)
    right = (numpy.argmax(scores, axis=-1) == numpy.argmax(y, axis=-1)) & numpy.isfinite(
        scores).all(axis=-1)
    return numpy.mean(right, axis=-1)


# --- MAML -----------------------------------------------------------------------------------

@checked
def per_task(params, n_tasks):
    """Give each of T tasks its own view of θ: W -> (T, n_in, n_out), b -> (T, 1, n_out).

    Adding zeros of shape (T, 1, 1) broadcasts θ along a new task axis in one traced op; its
    gradient sums the tasks' gradients back into θ.
    """
    zeros = numpy.zeros((n_tasks, 1, 1))
    return [(zeros + W, zeros + b) for W, b in params]


def per_task_if_needed(params, x):
    """θ with a copy per task (per_task) if x has a task axis (T, K, n) and θ has none yet."""
    if numpy.ndim(x) == 3 and numpy.ndim(getval(params)[0][0]) == 2:
        return per_task(params, len(x))
    return params


@checked
def inner_update(params, x_support, y_support, alpha, first_order=False, loss_fn=loss):
    """One gradient step on each task's own support set:  θ' = θ − α ∇_θ L^support(θ).

    With x_support (T, K, n) each task steps from its own copy of θ (see per_task). Summing the
    tasks' losses leaves in each task's copy of θ the gradient of that task's loss alone.
    """
    params = per_task_if_needed(params, x_support)

    def support_loss(weights):  # weights = [W0, b0, W1, b1, ...]
        return np.sum(loss_fn(pairs(weights), x_support, y_support))

    # A flat list of arrays rather than the nested list of pairs: autograd's bookkeeping for
    # nested containers costs more (bench_maml.py, "gradients over the nested (W, b) pairs").
    weights = [w for pair in params for w in pair]
    if first_order:
        # autograd has no stop_gradient: we take the gradient at getval(θ), θ's plain values,
        # so the outer grad sees ∇L as a constant and drops its Hessian term (first-order MAML).
        grads = grad(support_loss)([getval(w) for w in weights])
    else:
        grads = grad(support_loss)(weights)
    return pairs([descend(w, g, alpha) for w, g in zip(weights, grads)])


def pairs(weights):
    """[W0, b0, W1, b1, ...] -> [(W0, b0), (W1, b1), ...]"""
    return [(weights[i], weights[i + 1]) for i in range(0, len(weights), 2)]


@checked
def adapt(params, x_support, y_support, alpha=0.01, steps=1, first_order=False, loss_fn=loss):
    """θ' after `steps` inner updates, each task adapted on its own support set.

    x_support, y_support: (T, K, n) -> adapted params with a task axis; (K, n) -> shared shapes.
    steps = 0 returns θ itself (per task).
    """
    params = per_task_if_needed(params, x_support)
    for _ in range(steps):
        params = inner_update(params, x_support, y_support, alpha, first_order, loss_fn)
    return params


@checked
def maml_loss(params, x_support, y_support, x_query, y_query, alpha=0.01, steps=1,
              first_order=False, loss_fn=loss):
    """The meta-objective, (1/T) Σ_i L_i^query(θ'_i): the query loss after adaptation,
    averaged over the T tasks. grad(maml_loss) is the exact MAML meta-gradient."""
    adapted = adapt(params, x_support, y_support, alpha, steps, first_order, loss_fn)
    return np.mean(loss_fn(adapted, x_query, y_query))


@checked
def maml_loss_loop(params, x_support, y_support, x_query, y_query, alpha=0.01, steps=1,
                   first_order=False, loss_fn=loss):
    """The same meta-objective, one task at a time in a Python loop: the textbook reading of
    Σ_i L_i^query(θ'_i). Slow; the reference that tests and bench_maml.py hold maml_loss to."""
    total = 0.0
    for xs, ys, xq, yq in zip(x_support, y_support, x_query, y_query):
        adapted = params
        for _ in range(steps):
            adapted = inner_update(adapted, xs, ys, alpha, first_order, loss_fn)
        total = total + loss_fn(adapted, xq, yq)
    return total / len(x_support)


# --- training: MAML and the pretrained baseline ----------------------------------------------

@checked
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


DECAYS = checks.DECAYS  # what train's decay may be, beside None


def lr_at(lr, i, iterations, decay=None):
    """The learning rate of iteration i of `iterations`: lr, or with decay="cosine" lr
    decayed along half a cosine, lr·½(1 + cos(π i / iterations)), from lr toward 0 at the
    end (Loshchilov & Hutter 2017, "SGDR", without restarts): small late steps average out
    the noise of the meta-batches' gradients."""
    if decay is None:
        return lr
    return lr * 0.5 * (1 + math.cos(math.pi * i / iterations))


class Diverged(FloatingPointError):
    """Training produced a NaN or infinite loss or gradient at `iteration`. `params` (the
    weights before that step) and `batch` are kept so that a caller can tell why."""

    def __init__(self, iteration, loss_value, params, batch):
        super().__init__(f"training diverged at iteration {iteration} (loss {loss_value:.3g})")
        self.iteration, self.loss, self.params, self.batch = iteration, loss_value, params, batch


@checked
def train(objective, params, rng, iterations, meta_batch=25, k=10, lr=1e-3, callback=None,
          sample_tasks=tasks.sample_batch, objective_and_grad=None, decay=None):
    """Minimise objective(params, batch) by Adam, a fresh batch of tasks each iteration.
    decay: None (Adam's step size lr throughout) or "cosine" (lr_at's schedule).

    sample_tasks(meta_batch, k, k, rng) -> Batch (K support and K query points per task).
    callback(iteration, loss, params), if given, is called after every step.
    objective_and_grad(params, batch) -> (loss, direction), if given, replaces
    value_and_grad(objective): Reptile feeds Adam a direction that is not a gradient.
    Returns (params, losses), losses an array of length `iterations`. Raises Diverged.
    """
    keep_freed_memory()
    if objective_and_grad is None:
        # The gradient over a flat list [W0, b0, W1, ...] rather than the list of pairs: less
        # container bookkeeping in autograd (bench_maml.py: "gradients over the nested (W, b)
        # pairs").
        flat_value_and_grad = value_and_grad(lambda weights, batch: objective(pairs(weights), batch))

        def objective_and_grad(params, batch):
            value, grads = flat_value_and_grad([w for pair in params for w in pair], batch)
            return value, pairs(grads)
    state, losses = None, numpy.empty(iterations)
    for i in range(iterations):
        batch = sample_tasks(meta_batch, k, k, rng)
        if i == 0:  # sample_tasks may be yours: the first batch is checked, and where it is used
            checks.batch_of_tasks(batch, "the batch sample_tasks returned")
        with checks.again(i == 0), numpy.errstate(over="ignore", invalid="ignore"):
            losses[i], grads = objective_and_grad(params, batch)
        largest_grad = max(numpy.abs(g).max() for layer in grads for g in layer)
        if not (numpy.isfinite(losses[i]) and largest_grad < 1e150):  # Adam squares it
            raise Diverged(i, losses[i], params, batch)
        params, state = adam_step(params, grads, state, lr_at(lr, i, iterations, decay))
        if callback is not None:
            callback(i, losses[i], params)
    return params, losses


@checked
def meta_train(params, rng, iterations, meta_batch=25, k=10, alpha=0.01, steps=1,
               first_order=False, meta_lr=1e-3, callback=None, sample_tasks=tasks.sample_batch,
               loss_fn=loss, decay=None):
    """MAML: θ ← Adam(θ, ∇_θ maml_loss) on a fresh meta-batch of tasks every iteration.

    Defaults are the paper's sinusoid setup (meta-batch 25, K = 10, α = 0.01, one inner step,
    Adam 1e-3). Returns (params, losses): the meta-trained θ and the query loss per iteration.
    """
    def objective(params, batch):
        return maml_loss(params, *batch[:4], alpha=alpha, steps=steps, first_order=first_order,
                         loss_fn=loss_fn)

    return train(objective, params, rng, iterations, meta_batch, k, meta_lr, callback,
                 sample_tasks, decay=decay)


@checked
def pretrain(params, rng, iterations, meta_batch=25, k=10, lr=1e-3, callback=None,
             sample_tasks=tasks.sample_batch, loss_fn=loss, decay=None):
    """The paper's pretrained baseline: one network regressed on points of many tasks at once
    (no inner step), to be fine-tuned at test time by the same `adapt`. Same budget as MAML:
    each iteration sees the support and query points of `meta_batch` fresh tasks."""
    def objective(params, batch):
        return np.mean(loss_fn(params, np.concatenate([batch.x_support, batch.x_query], axis=1),
                               np.concatenate([batch.y_support, batch.y_query], axis=1)))

    return train(objective, params, rng, iterations, meta_batch, k, lr, callback, sample_tasks,
                 decay=decay)


# --- evaluation: fine-tune on held-out tasks ------------------------------------------------------

Evaluation = namedtuple("Evaluation", "mean ci95 median diverged plain_mean per_task per_task_loss")
Evaluation.__doc__ = """The query loss (or score) after 0..max_steps gradient steps; each field
but per_task has shape (max_steps + 1,). mean is the mean of whatever was measured: the MSE for
the sine waves, the accuracy where evaluate was given score_fn=accuracy.

mean, ci95, median: over the tasks whose fine-tuning did not diverge (mean, half-width of its
    95% interval 1.96·std/√n, median); NaN if every task diverged. For a score (evaluate's
    score_fn), over every task: an accuracy still counts where the loss blew up.
diverged: how many tasks diverged (a loss that is not finite, or has grown a thousand times
    past its value before any step).
plain_mean: the mean over all tasks (inf where a task's loss overflowed).
per_task: (max_steps + 1, T), the loss (or score) of every task (inf where it overflowed).
per_task_loss: (max_steps + 1, T), the loss of every task, which divergence is judged by."""

DIVERGED = 1e3   # a task whose loss grows this many times past its start has diverged


@checked
def summarise(per_task_loss, per_task_score=None):
    """per_task_loss (steps + 1, T) -> Evaluation (see its docstring); with per_task_score of
    the same shape, its mean, interval and median instead of the loss's."""
    per_task_loss = numpy.where(numpy.isnan(per_task_loss), numpy.inf, per_task_loss)
    with numpy.errstate(over="ignore", invalid="ignore"):
        grown = per_task_loss > DIVERGED * numpy.maximum(per_task_loss[:1], 1e-12)
    diverged = ~numpy.isfinite(per_task_loss) | grown
    if per_task_score is None:  # the loss itself: the tasks that diverged are left out
        per_task_score, left_out = per_task_loss, diverged
    else:  # a score (accuracy, say) means something even where the loss blew up: keep them
        left_out = ~numpy.isfinite(per_task_score)
    summaries = []
    with numpy.errstate(over="ignore", invalid="ignore"):  # huge finite losses: inf, not a warning
        for losses, bad in zip(per_task_score, left_out):
            kept = losses[~bad]
            ci95 = 1.96 * kept.std(ddof=1) / numpy.sqrt(len(kept)) if len(kept) > 1 else numpy.nan
            summaries.append((kept.mean() if len(kept) else numpy.nan, ci95,
                              numpy.median(kept) if len(kept) else numpy.nan))
        plain_mean = per_task_score.mean(axis=1)
    mean, ci95, median = numpy.array(summaries).T
    return Evaluation(mean, ci95, median, diverged.sum(axis=1), plain_mean, per_task_score,
                      per_task_loss)


@checked
def evaluate(params, x_support, y_support, x_query, y_query, alpha=0.01, max_steps=10,
             loss_fn=loss, score_fn=None):
    """Fine-tune on each held-out task's support set and measure the query loss after
    0, 1, ..., max_steps gradient steps. Works for any params (MAML or pretrained).

    Data (T, K, n), T >= 2 (the interval needs a spread). A task whose fine-tuning diverges
    (by its loss) is counted, not fatal (see Evaluation). score_fn(params, x, y) -> (T,), if
    given, is what is summarised instead of the loss (e.g. `accuracy`). Returns an Evaluation.
    """
    adapted = per_task(params, len(x_support))
    losses, scores = [], []
    with numpy.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for step in range(max_steps + 1):
            if step:
                adapted = inner_update(adapted, x_support, y_support, alpha, loss_fn=loss_fn)
            losses.append(loss_fn(adapted, x_query, y_query))
            if score_fn:
                scores.append(score_fn(adapted, x_query, y_query))
    with checks.again():  # score_fn may be yours: what it returned is checked
        return summarise(numpy.array(losses), numpy.array(scores) if score_fn else None)


# --- speed ----------------------------------------------------------------------------------------

# autograd records every numpy operation of a traced function as a node, and the meta-gradient
# records the support loss's operations twice (for the inner gradient and for the outer one) and
# the inner gradient's once more. Each primitive below is one node where numpy would be several:
# its forward pass is plain numpy (autograd records nothing inside a primitive), its gradients
# are written in autograd's numpy so that autograd can differentiate them again, and the
# meta-gradient stays exact (test_maml.py checks each to second order). bench_maml.py measures
# each one undone. Shapes: any that numpy's matmul and broadcasting accept, shared (n_in, n_out)
# or per task (T, n_in, n_out); each gradient has its argument's shape.

def sum_to(g, shape):
    """Sum g over the axes that broadcasting added to an array of `shape` (the gradient of a
    broadcast is the sum over the copies)."""
    if g.ndim > len(shape):
        g = np.sum(g, axis=tuple(range(g.ndim - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=axes, keepdims=True) if axes else g


@primitive
def times_transpose(a, b):
    """a @ bᵀ over the last two axes: (..., N, m), (..., n, m) -> (..., N, n)."""
    return a @ numpy.swapaxes(b, -1, -2)


@primitive
def transpose_times(a, b):
    """aᵀ @ b over the last two axes: (..., N, n), (..., N, m) -> (..., n, m)."""
    return numpy.swapaxes(a, -1, -2) @ b


# The gradient of a matrix product is a matrix product: each of the two appears in the other's
# gradient, so autograd can differentiate dense's gradients (the meta-gradient's second order).
defvjp(times_transpose,
       lambda y, a, b: lambda g: sum_to(g @ b, np.shape(a)),                     # ∂/∂a = g b
       lambda y, a, b: lambda g: sum_to(transpose_times(g, a), np.shape(b)))      # ∂/∂b = gᵀ a
defvjp(transpose_times,
       lambda y, a, b: lambda g: sum_to(times_transpose(b, g), np.shape(a)),      # ∂/∂a = b gᵀ
       lambda y, a, b: lambda g: sum_to(a @ g, np.shape(b)))                     # ∂/∂b = a g


@primitive
def dense(x, W, b):
    """x @ W + b: (..., N, n_in), (..., n_in, n_out), (..., n_out) -> (..., N, n_out).
    One node instead of two (a matmul and a broadcast add)."""
    return x @ W + b


# dense's gradients: the meta-gradient's second-order term comes from autograd differentiating
# these, not from us.
defvjp(dense,
       lambda y, x, W, b: lambda g: sum_to(times_transpose(g, W), np.shape(x)),    # g Wᵀ
       lambda y, x, W, b: lambda g: sum_to(transpose_times(x, g), np.shape(W)),    # xᵀ g
       lambda y, x, W, b: lambda g: sum_to(g, np.shape(b)))                        # Σ g


@primitive
def descend(w, g, alpha):
    """w − α g: one step down the gradient g, one node instead of two. alpha: a number, or an
    array that broadcasts against w (a learned step size per weight, as in Meta-SGD)."""
    return w - alpha * g


defvjp(descend,
       lambda y, w, g, alpha: lambda out: sum_to(out, np.shape(w)),               # ∂/∂w = out
       lambda y, w, g, alpha: lambda out: sum_to(-alpha * out, np.shape(g)),     # ∂/∂g = −α out
       lambda y, w, g, alpha: lambda out: sum_to(-g * out, np.shape(alpha)))     # ∂/∂α = −Σ g out


@primitive
def mean_squared_error(prediction, y):
    """mean((prediction − y)²) over the last two axes (points, outputs): (T, N, m) -> (T,), or
    (N, m) -> a number. One node instead of three (a subtract, a square, a mean)."""
    return numpy.mean(numpy.square(prediction - y), axis=(-2, -1))


def squared_error_gradient(g, prediction, y):
    """g · 2 (prediction − y) / n: mean_squared_error's gradient with respect to the
    prediction, g (one number per task) spread over the n = points × outputs averaged."""
    n = numpy.prod(numpy.broadcast_shapes(np.shape(prediction), np.shape(y))[-2:])
    return np.reshape(g, np.shape(g) + (1, 1)) * (2.0 / n) * (prediction - y)


defvjp(mean_squared_error,
       lambda mse, p, y: lambda g: sum_to(squared_error_gradient(g, p, y), np.shape(p)),
       lambda mse, p, y: lambda g: sum_to(-squared_error_gradient(g, p, y), np.shape(y)))


def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    Per-task weights (25, 40, 40) are 320 KB, over glibc's default thresholds, so without this
    each new array comes as fresh pages from the kernel and pays page faults (bench_maml.py,
    "default malloc"). Returns False (and does nothing) where the C library is not glibc.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_TRIM_THRESHOLD, 256 << 20) and mallopt(M_MMAP_THRESHOLD, 32 << 20))
