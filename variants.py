"""The MAML family, each in a few lines on top of maml.py's functions.

    exact MAML, 1/3/5 inner steps   maml.meta_train(steps=...)
    first-order MAML                maml.meta_train(first_order=True)
    Reptile (Nichol et al. 2018)    θ ← θ + ε · mean_i(θ'_i − θ): no gradient through the inner loop
    ANIL (Raghu et al. 2019)        the inner loop adapts only the output layer; the outer loop
                                    learns the body (the exact gradient, through the head's step)
    pretrained                      maml.pretrain: one network fitted to all tasks at once
    oracle                          a network told each task's amplitude and phase: the input is
                                    (x, A, φ), so it needs no adaptation (a lower bound)
    Meta-SGD (Li et al. 2017)       the inner step size learned too, one per weight:
                                    θ'_i = θ − α ∘ ∇_θ L_i^support(θ), θ and α trained together
    per-layer α                     the same with one learned step size per array (W or b)

Every method trains by Adam on the same stream of tasks (tasks.sample_batch) and returns
(params, losses), like maml.meta_train.
"""
import autograd.numpy as np
import numpy
from autograd import grad

import maml
from checks import checked


# --- Reptile ---------------------------------------------------------------------------------------

@checked
def reptile_direction(params, batch, alpha=0.01, steps=5):
    """θ − mean_i θ'_i, where θ'_i is `steps` plain SGD steps on all of task i's points
    (Reptile does not split support and query). Fed to Adam in place of a gradient, it moves θ
    toward the tasks' adapted weights. Returns (direction, mean query loss after adapting)."""
    x = numpy.concatenate([batch.x_support, batch.x_query], axis=1)  # (T, 2K, 1)
    y = numpy.concatenate([batch.y_support, batch.y_query], axis=1)
    adapted = maml.adapt(params, x, y, alpha=alpha, steps=steps)
    direction = [(W - Wa.mean(axis=0), b - ba.mean(axis=(0, 1)))
                 for (W, b), (Wa, ba) in zip(params, adapted)]
    return direction, float(numpy.mean(maml.loss(adapted, batch.x_query, batch.y_query)))


@checked
def reptile_train(params, rng, iterations, meta_batch=25, k=10, alpha=0.01, steps=5,
                  meta_lr=1e-3, callback=None, decay=None):
    """Reptile with Adam as the outer optimiser. Returns (params, losses)."""
    def objective_and_grad(params, batch):
        direction, query_loss = reptile_direction(params, batch, alpha, steps)
        return query_loss, direction

    return maml.train(None, params, rng, iterations, meta_batch, k, meta_lr, callback,
                      objective_and_grad=objective_and_grad, decay=decay)


# --- ANIL ------------------------------------------------------------------------------------------

@checked
def adapt_head(params, x_support, y_support, alpha=0.01, steps=1):
    """θ' with only the output layer adapted: the body stays θ's (shared by all tasks), the
    head gets a task axis (or keeps the one it has), head' = head − α ∇_head L^support.
    x_support (T, K, 1)."""
    *body, head = params
    head = maml.per_task([head], len(x_support))[0]
    for _ in range(steps):
        def support_loss(head):
            return np.sum(maml.loss(body + [tuple(head)], x_support, y_support))
        grad_W, grad_b = grad(support_loss)(list(head))
        head = (head[0] - alpha * grad_W, head[1] - alpha * grad_b)
    return body + [head]


@checked
def anil_loss(params, x_support, y_support, x_query, y_query, alpha=0.01, steps=1):
    """ANIL's meta-objective: the query MSE after adapting the head only. grad() of it is
    exact (second order through the head's step) and reaches the body too."""
    adapted = adapt_head(params, x_support, y_support, alpha, steps)
    return np.mean(maml.loss(adapted, x_query, y_query))


@checked
def anil_train(params, rng, iterations, meta_batch=25, k=10, alpha=0.01, steps=1,
               meta_lr=1e-3, callback=None, decay=None):
    """ANIL by Adam. Returns (params, losses)."""
    def objective(params, batch):
        return anil_loss(params, *batch[:4], alpha=alpha, steps=steps)

    return maml.train(objective, params, rng, iterations, meta_batch, k, meta_lr, callback,
                      decay=decay)


@checked
def evaluate_head(params, x_support, y_support, x_query, y_query, alpha=0.01, max_steps=10):
    """maml.evaluate, but fine-tuning the head only (ANIL's own test-time adaptation)."""
    adapted = adapt_head(params, x_support, y_support, alpha, steps=0)
    mse = [maml.loss(adapted, x_query, y_query)]
    with numpy.errstate(over="ignore", invalid="ignore"):  # divergence is counted, not raised
        for _ in range(max_steps):  # one more step on the head adapted so far
            adapted = adapt_head(adapted, x_support, y_support, alpha, steps=1)
            mse.append(maml.loss(adapted, x_query, y_query))
    return maml.summarise(numpy.array(mse))


# --- the oracle --------------------------------------------------------------------------------------

@checked
def oracle_inputs(x, amplitude, phase):
    """(x, A, φ) per point: x (T, N, 1), amplitude and phase (T,) -> (T, N, 3)."""
    T, N, _ = x.shape
    return numpy.concatenate([x, numpy.broadcast_to(amplitude[:, None, None], (T, N, 1)),
                              numpy.broadcast_to(phase[:, None, None], (T, N, 1))], axis=2)


@checked
def oracle_train(params, rng, iterations, meta_batch=25, k=10, meta_lr=1e-3, callback=None,
                 decay=None):
    """Regress y on (x, A, φ) over all tasks' points (params: a 3-input MLP)."""
    def objective(params, batch):
        x = np.concatenate([batch.x_support, batch.x_query], axis=1)
        y = np.concatenate([batch.y_support, batch.y_query], axis=1)
        return np.mean(maml.loss(params, oracle_inputs(x, batch.amplitude, batch.phase), y))

    return maml.train(objective, params, rng, iterations, meta_batch, k, meta_lr, callback,
                      decay=decay)


@checked
@checked
def evaluate_oracle(params, batch, max_steps=10):
    """The oracle's query MSE, the same after any number of steps (it does not adapt)."""
    mse = maml.loss(params, oracle_inputs(batch.x_query, batch.amplitude, batch.phase),
                    batch.y_query)
    return maml.summarise(numpy.repeat(mse[None], max_steps + 1, axis=0))


# --- the inner step learned: Meta-SGD and a step size per layer ---------------------------------
# Meta-SGD (Li, Zhou, Chen & Li 2017, arXiv:1707.09835) learns, beside θ, a step size for every
# weight: θ'_i = θ − α ∘ ∇_θ L_i^support(θ) (∘: elementwise), and trains (θ, α) together on the
# query loss, exactly as MAML trains θ. The per-layer variant learns one step size per array.
# A learned-step model is ONE list of (W, b) pairs, θ's followed by α's (split_steps), so that
# maml.train's Adam, the checkpoints and the checks treat it like any other params. α's pairs
# have θ's shapes (per weight) or shapes (1, 1) and (1,) (per layer); nothing keeps α >= 0.

@checked
def init_step_sizes(params, rng, alpha=0.01, per_weight=True, alpha_range=None):
    """α's pairs for θ = params: per weight (Meta-SGD), arrays of θ's shapes; else one number
    per array, W's as shape (1, 1) and b's as (1,). Every step size is `alpha`, or, given
    alpha_range (low, high), drawn from U[low, high] by rng (Meta-SGD's paper: [0.005, 0.1])."""
    def start(shape):
        if alpha_range is None:
            return numpy.full(shape, float(alpha))
        return rng.uniform(*alpha_range, size=shape)

    return [(start(numpy.shape(W) if per_weight else (1, 1)),
             start(numpy.shape(b) if per_weight else (1,))) for W, b in params]


def split_steps(params):
    """A learned-step model, θ's pairs followed by α's -> (θ, α). Raises a ValueError naming
    what is wrong if params is not such a list."""
    pairs = list(params)
    half = len(pairs) // 2
    theta, steps = pairs[:half], pairs[half:]
    shapes = [(numpy.shape(W), numpy.shape(b)) for W, b in theta]
    step_shapes = [(numpy.shape(a), numpy.shape(c)) for a, c in steps]
    if not half or len(pairs) % 2 or (step_shapes != shapes and step_shapes != [
            ((1, 1), (1,))] * half):
        raise ValueError(
            "a learned-step model is θ's (W, b) pairs followed by one step-size pair per layer, "
            "of θ's shapes (per weight) or of shapes (1, 1) and (1,) (per layer); got pairs of "
            f"shapes {shapes + step_shapes}")
    return theta, steps


@checked
def learned_step_update(params, step_sizes, x_support, y_support):
    """One inner step with learned step sizes, each task on its own support set:
    θ' = θ − α ∘ ∇_θ L^support(θ). params θ (shared or per task), step_sizes α: a pair per
    layer of θ's shapes, or of (1, 1) and (1,); x_support (T, K, 1) or (K, 1)."""
    params = maml.per_task_if_needed(params, x_support)

    def support_loss(weights):  # weights = [W0, b0, W1, b1, ...], as in maml.inner_update
        return np.sum(maml.loss(maml.pairs(weights), x_support, y_support))

    weights = [w for pair in params for w in pair]
    grads = grad(support_loss)(weights)
    alphas = [a for pair in step_sizes for a in pair]
    return maml.pairs([maml.descend(w, g, a) for w, g, a in zip(weights, grads, alphas)])


@checked
def learned_step_loss(params, x_support, y_support, x_query, y_query, steps=1):
    """The meta-objective of Meta-SGD (params = θ + α, see split_steps): the query MSE after
    `steps` learned inner steps, averaged over the tasks. grad() of it is exact, for θ and α."""
    theta, step_sizes = split_steps(params)
    adapted = maml.per_task_if_needed(theta, x_support)
    for _ in range(steps):
        adapted = learned_step_update(adapted, step_sizes, x_support, y_support)
    return np.mean(maml.loss(adapted, x_query, y_query))


@checked
def learned_step_train(params, rng, iterations, meta_batch=25, k=10, alpha=0.01, steps=1,
                       per_weight=True, alpha_range=None, meta_lr=1e-3, callback=None,
                       decay=None):
    """Meta-SGD (per_weight) or per-layer α by Adam: θ = params and α (init_step_sizes: `alpha`
    everywhere, or drawn from alpha_range with rng before training starts), trained together
    on the exact meta-gradient. Returns (θ + α, losses)."""
    def objective(params, batch):
        return learned_step_loss(params, *batch[:4], steps=steps)

    start = list(params) + init_step_sizes(params, rng, alpha, per_weight, alpha_range)
    return maml.train(objective, start, rng, iterations, meta_batch, k, meta_lr, callback,
                      decay=decay)


@checked
def evaluate_learned_step(params, x_support, y_support, x_query, y_query, max_steps=10):
    """maml.evaluate for a learned-step model (θ + α): each held-out task fine-tuned by the
    learned step, the same α at every step. Returns a maml.Evaluation."""
    theta, step_sizes = split_steps(params)
    adapted = maml.per_task(theta, len(x_support))
    mse = [maml.loss(adapted, x_query, y_query)]
    with numpy.errstate(over="ignore", invalid="ignore"):  # divergence is counted, not raised
        for _ in range(max_steps):
            adapted = learned_step_update(adapted, step_sizes, x_support, y_support)
            mse.append(maml.loss(adapted, x_query, y_query))
    return maml.summarise(numpy.array(mse))


# --- one table of methods -------------------------------------------------------------------------------

@checked
def train_method(method, init, rng, iterations, meta_batch=25, k=10, alpha=0.01, meta_lr=1e-3,
                 callback=None, alpha_range=None, decay=None):
    """Train one method of METHODS from `init` (1-40-40-1; the oracle widens the input).
    alpha_range, for the learned-step methods only: draw their starting step sizes from it
    (else every one starts at alpha). Returns (params, losses)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    kind, steps = METHODS[method]
    common = dict(iterations=iterations, meta_batch=meta_batch, k=k, callback=callback,
                  decay=decay)
    if kind == "maml":
        return maml.meta_train(init, rng, alpha=alpha, steps=steps, meta_lr=meta_lr, **common)
    if kind == "fomaml":
        return maml.meta_train(init, rng, alpha=alpha, steps=steps, first_order=True,
                               meta_lr=meta_lr, **common)
    if kind == "reptile":
        return reptile_train(init, rng, alpha=alpha, steps=steps, meta_lr=meta_lr, **common)
    if kind == "anil":
        return anil_train(init, rng, alpha=alpha, steps=steps, meta_lr=meta_lr, **common)
    if kind == "pretrained":
        return maml.pretrain(init, rng, lr=meta_lr, **common)
    if kind in ("meta-sgd", "per-layer-alpha"):
        return learned_step_train(init, rng, alpha=alpha, steps=steps, meta_lr=meta_lr,
                                  per_weight=kind == "meta-sgd", alpha_range=alpha_range,
                                  **common)
    (W0, b0), *rest = init  # the oracle's two extra inputs (A, φ) start at zero weight
    wide = numpy.concatenate([W0, numpy.zeros((2, W0.shape[1]))])
    return oracle_train([(wide, b0)] + rest, rng, meta_lr=meta_lr, **common)


def evaluate_method(method, params, batch, alpha=0.01, max_steps=10):
    """A trained method on held-out tasks, adapted as it was trained to (ANIL its head only;
    the oracle not at all; Meta-SGD and per-layer α every layer with their learned step sizes;
    the others every layer with α). Returns a maml.Evaluation."""
    kind = METHODS[method][0] if method in METHODS else None
    if kind == "oracle":
        return evaluate_oracle(params, batch, max_steps)
    if kind == "anil":
        return evaluate_head(params, *batch[:4], alpha=alpha, max_steps=max_steps)
    if kind in ("meta-sgd", "per-layer-alpha"):  # its own learned α, not `alpha`
        return evaluate_learned_step(params, *batch[:4], max_steps=max_steps)
    if kind is None:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return maml.evaluate(params, *batch[:4], alpha=alpha, max_steps=max_steps)


# name: (kind, inner steps in training)
METHODS = {"maml-1": ("maml", 1), "maml-3": ("maml", 3), "maml-5": ("maml", 5),
           "fomaml": ("fomaml", 1), "reptile": ("reptile", 5), "anil": ("anil", 1),
           "meta-sgd": ("meta-sgd", 1), "per-layer-alpha": ("per-layer-alpha", 1),
           "pretrained": ("pretrained", 0), "oracle": ("oracle", 0)}


def implied_metadata(method):
    """What a method's name makes of its checkpoint's metadata (checkpoints.load_method):
    {'inner_steps': its inner steps}; {} for a name that is not one of METHODS."""
    return {"inner_steps": METHODS[method][1]} if method in METHODS else {}
