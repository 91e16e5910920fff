"""Few-shot classification on top of maml.py: how a trained network is read out on a new
episode, and MAML's known fixes for classification. Used by demo_fewshot.py.

Read-outs (Chen et al. 2019, "A Closer Look at Few-shot Classification"; Tian et al. 2020,
"Rethinking Few-Shot Image Classification: a Good Embedding Is All You Need"). Each takes the
features z = f(x) a trained body gives an episode's images, support zs (T, S, D) with one-hot
labels ys (T, S, N) and queries zq (T, Q, D), and returns class scores for the queries
(T, Q, N). None is tied to the order of the labels: permute them and the scores' columns are
permuted with them.

    cosine_centroid       c_n = mean of class n's normalised support features;
                          score_n(z) = cos(z, c_n)
    logistic_regression   softmax regression on L2-normalised features, fitted on the support
                          set only: min_{W,b} mean_i CE(softmax(W ẑ_i + b), y_i) + (λ/2)‖W‖²
    linear_head           a new linear layer, zero at first, fitted by `steps` gradient steps
                          of size α on the support set's cross-entropy with the body frozen
                          (Chen et al.'s "Baseline")

MAML's fixes for classification (its output unit n is tied to label n, so it depends on the
order of the labels, and one unit can run away during training):

    zero_head             the zeroing trick (Kao, Chiu & Chen, ICLR 2022, "MAML is a Noisy
                          Contrastive Learner in Classification"): the output layer set to zero
                          at the start of every inner loop
    anil_loss             ANIL (Raghu et al. 2020, "Rapid Learning or Feature Reuse?"): the inner
                          loop adapts the output layer only, the body is frozen there
    learned_step_loss     Meta-SGD (Li et al. 2017): a step size per weight (or one per array),
                          trained with θ: θ' = θ − α ∘ ∇_θ L^support(θ)

Shapes: parameters are maml.py's lists of (W, b) pairs; the body is every layer but the last,
the head (W (D, N), b (N,)) the last. An episode batch is glyphs.Episodes.
"""
import autograd.numpy as np
import numpy
from autograd import grad

import maml
import protonets
from checks import checked

# --- features --------------------------------------------------------------------------------


def features(params, x, embedding=False, chunk=200):
    """What the body makes of images x (T, M, n): (T, M, D). A network with an output layer
    (MAML's, the pretrained classifier's): the ReLU activations that enter its last layer;
    with embedding=True (ProtoNets'), the network's output, the embedding itself. Computed
    `chunk` episodes at a time."""
    def one(x):
        if embedding:
            return protonets.embed(params, x)
        return maml.relu(maml.mlp(params[:-1], x))

    return numpy.concatenate([one(x[i:i + chunk]) for i in range(0, len(x), chunk)])


@checked
def normalise(z):
    """z / ‖z‖ over the last axis (a zero vector stays zero). A vector so large or so small
    that ‖z‖² would overflow or underflow is first divided by its largest magnitude:
    [1e300, 1e300] -> [0.707, 0.707] (the others are left as they are, so their results do not
    move by a rounding)."""
    largest = numpy.abs(z).max(axis=-1, keepdims=True)
    extreme = (largest > 1e100) | ((largest > 0) & (largest < 1e-100))
    z = numpy.where(extreme, z / numpy.where(extreme, largest, 1), z)
    return z / numpy.maximum(numpy.linalg.norm(z, axis=-1, keepdims=True), 1e-12)


def class_means(z, y):
    """The mean of each class's points: z (T, S, D), y one-hot (T, S, N) -> (T, N, D)."""
    return (numpy.swapaxes(y, 1, 2) @ z) / numpy.sum(y, axis=1)[:, :, None]


# --- read-outs -------------------------------------------------------------------------------

@checked
def cosine_centroid(zs, ys, zq):
    """Cosine nearest centroid: scores (T, Q, N) = cos(ẑ_query, c_n), c_n the mean of class
    n's normalised support features ẑ = z / ‖z‖."""
    centroids = normalise(class_means(normalise(zs), ys))
    return normalise(zq) @ numpy.swapaxes(centroids, 1, 2)


def softmax(scores):
    """softmax over the last axis, computed stably."""
    e = numpy.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def regression_gradient(W, b, x, y, l2):
    """The gradient of mean_i CE(softmax(x_i W + b), y_i) + (λ/2)‖W‖² in (W, b):
    ((1/S) xᵀ(p − y) + λW, (1/S) Σ_i (p_i − y_i)). x (T, S, D), W (T, D, N), b (T, 1, N)."""
    residual = (softmax(x @ W + b) - y) / x.shape[1]
    return numpy.swapaxes(x, 1, 2) @ residual + l2 * W, residual.sum(axis=1, keepdims=True)


def regression_loss(W, b, x, y, l2):
    """mean_i CE(softmax(x_i W + b), y_i) + (λ/2)‖W‖², per episode: (T,)."""
    scores = x @ W + b
    top = scores.max(axis=-1, keepdims=True)
    log_p = scores - top - numpy.log(numpy.exp(scores - top).sum(axis=-1, keepdims=True))
    return -(y * log_p).sum(axis=-1).mean(axis=-1) + 0.5 * l2 * (W ** 2).sum(axis=(1, 2))


def fit_logistic_regression(x, y, l2=0.1, steps=600):
    """(W (T, D, N), b (T, 1, N)) minimising regression_loss on each episode's points x
    (T, S, D) with ‖x_i‖ <= 1, y one-hot (T, S, N): Nesterov's accelerated gradient from
    zero, step 1 / L with L = 1 + λ (the gradient's Lipschitz constant: the softmax
    cross-entropy's Hessian is at most ½·‖(x, 1)‖² <= 1, plus λ). The loss is λ-strongly
    convex in W (λ > 0), so this converges to the one optimum, linearly with the momentum
    (1 − √(λ/L)) / (1 + √(λ/L)): 600 steps leave a gradient below 1e-7 for λ >= 0.001
    (test_fewshot.py). λ = 0 takes the momentum t / (t + 3)."""
    T, _, D = x.shape
    N = y.shape[2]
    W, b = numpy.zeros((T, D, N)), numpy.zeros((T, 1, N))
    W_before, b_before = W, b
    step = 1 / (1 + l2)
    q = numpy.sqrt(l2 * step)
    for t in range(steps):
        momentum = (1 - q) / (1 + q) if l2 > 0 else t / (t + 3)
        W_ahead, b_ahead = W + momentum * (W - W_before), b + momentum * (b - b_before)
        g_W, g_b = regression_gradient(W_ahead, b_ahead, x, y, l2)
        W_before, b_before = W, b
        W, b = W_ahead - step * g_W, b_ahead - step * g_b
    return W, b


@checked
def logistic_regression(zs, ys, zq, l2=0.1, steps=600):
    """Logistic regression on L2-normalised features, fitted on the support set only (Tian et
    al. 2020): scores (T, Q, N) of the queries. l2: the penalty λ >= 0; steps: of the fit,
    from 0 (W, b stay zero: every score 0) to checks.MAX_STEPS (1,000)."""
    W, b = fit_logistic_regression(normalise(zs), ys, l2, steps)
    return normalise(zq) @ W + b


@checked
def linear_head(zs, ys, zq, alpha, steps):
    """A new linear layer on the frozen features, zero at first, after 0, 1, ..., steps
    gradient steps of size α >= 0 on the support set's mean cross-entropy: a list of steps + 1
    score arrays (T, Q, N); steps from 0 to checks.MAX_STEPS (1,000). (Its first step sets W to
    α·(1/S)Σ_i z_i(y_i − 1/N)ᵀ whatever α is: the later steps are where α matters.) A step
    moves each weight by at most α·max|z|, so no score exceeds steps·α·(D·max|z|² + 1): an
    α, steps and features that could make that overflow are refused."""
    T, _, D = zs.shape
    N = ys.shape[2]
    W, b = numpy.zeros((T, D, N)), numpy.zeros((T, 1, N))
    scores = [zq @ W + b]
    for _ in range(steps):
        g_W, g_b = regression_gradient(W, b, zs, ys, 0.0)
        W, b = W - alpha * g_W, b - alpha * g_b
        scores.append(zq @ W + b)
    return scores


def accuracy(scores, y):
    """The fraction of each episode's queries whose highest score is their class: (T,); a
    score that is not finite is wrong (maml.hits)."""
    return maml.hits(scores, y)


# --- MAML's fixes for classification --------------------------------------------------------

def zero_head(params):
    """The zeroing trick: θ with its output layer set to zero, as at the start of every inner
    loop. With a zero head the softmax is uniform, so one step sets the head to
    W' = α·(1/S) Σ_i z_i (y_i − 1/N)ᵀ, b' = 0 (balanced classes) and leaves the body where it
    was (its gradient passes through W = 0): after one step, class n's score is α/S times the
    dot product of z with the sum of class n's support features, up to a term the same for
    every class. Permuting the labels permutes the head's columns: no label order."""
    *body, (W, b) = params
    return body + [(W * 0.0, b * 0.0)]


def head_loss(head, z, y):
    """The softmax cross-entropy of a linear layer head = (W, b) on features z (T, M, D), y
    one-hot (T, M, N): (T,). (Not maml.cross_entropy: z depends on the body, which autograd
    is tracing, and this is the inner loop, where nothing is checked again.)"""
    return -np.mean(np.sum(y * protonets.log_softmax(maml.dense(z, *head)), axis=-1), axis=-1)


def anil_adapt(params, x_support, y_support, alpha, steps=1):
    """ANIL's inner loop: the body's features of the support set are computed once; only the
    head takes `steps` gradient steps of α on them. Returns (body, the adapted head with a task
    axis: W (T, D, N), b (T, 1, N))."""
    *body, (W, b) = params
    z = maml.relu(maml.mlp(body, x_support))
    zeros = numpy.zeros((len(x_support), 1, 1))
    head = [zeros + W, zeros + b]
    for _ in range(steps):
        grads = grad(lambda h: np.sum(head_loss(h, z, y_support)))(head)
        head = [maml.descend(w, g, alpha) for w, g in zip(head, grads)]
    return body, head


def anil_loss(params, x_support, y_support, x_query, y_query, alpha, steps=1):
    """ANIL's meta-objective: the query cross-entropy after adapting the head only, averaged
    over the tasks. grad() of it is exact (through the head's steps) and reaches the body."""
    body, head = anil_adapt(params, x_support, y_support, alpha, steps)
    return np.mean(head_loss(head, maml.relu(maml.mlp(body, x_query)), y_query))


def init_step_sizes(params, alpha, per_weight=True):
    """α's (W, b) pairs for θ = params, every one `alpha`: θ's shapes (per weight, Meta-SGD),
    or (1, 1) and (1,) (one step size per array: per layer)."""
    return [(numpy.full(numpy.shape(W) if per_weight else (1, 1), float(alpha)),
             numpy.full(numpy.shape(b) if per_weight else (1,), float(alpha)))
            for W, b in params]


def learned_step(params, step_sizes, x_support, y_support, loss_fn=maml.cross_entropy):
    """One inner step with learned step sizes, each task on its own support set:
    θ' = θ − α ∘ ∇_θ L^support(θ), α a pair per layer (init_step_sizes' shapes)."""
    params = maml.per_task_if_needed(params, x_support)

    def support_loss(weights):  # weights = [W0, b0, W1, b1, ...], as in maml.inner_update
        return np.sum(loss_fn(maml.pairs(weights), x_support, y_support))

    weights = [w for pair in params for w in pair]
    grads = grad(support_loss)(weights)
    alphas = [a for pair in step_sizes for a in pair]
    return maml.pairs([maml.descend(w, g, a) for w, g, a in zip(weights, grads, alphas)])


def learned_step_loss(params, step_sizes, x_support, y_support, x_query, y_query, steps=1):
    """Meta-SGD's meta-objective: the query cross-entropy after `steps` learned inner steps,
    averaged over the tasks; grad() of it is exact, for θ and for α."""
    adapted = maml.per_task_if_needed(params, x_support)
    for _ in range(steps):
        adapted = learned_step(adapted, step_sizes, x_support, y_support)
    return np.mean(maml.cross_entropy(adapted, x_query, y_query))


# --- training ---------------------------------------------------------------------------------

@checked
def zeroing_train(params, rng, iterations, meta_batch=16, k=1, alpha=0.4, first_order=False,
                  meta_lr=1e-3, callback=None, sample_tasks=None):
    """MAML (or first-order MAML) with the zeroing trick, by Adam: the meta-objective is
    maml_loss from zero_head(θ), so the head is zero at the start of every inner loop (it gets
    no gradient and stays as given). Returns (params, losses)."""
    def objective(params, batch):
        return maml.maml_loss(zero_head(params), *batch[:4], alpha=alpha,
                              first_order=first_order, loss_fn=maml.cross_entropy)

    return maml.train(objective, zero_head(params), rng, iterations, meta_batch, k, meta_lr,
                      callback, sample_tasks)


@checked
def anil_train(params, rng, iterations, meta_batch=16, k=1, alpha=0.4, steps=1, meta_lr=1e-3,
               callback=None, sample_tasks=None):
    """ANIL for classification by Adam. Returns (params, losses)."""
    def objective(params, batch):
        return anil_loss(params, *batch[:4], alpha=alpha, steps=steps)

    return maml.train(objective, params, rng, iterations, meta_batch, k, meta_lr, callback,
                      sample_tasks)


@checked
def learned_step_train(params, rng, iterations, meta_batch=16, k=1, alpha=0.4,
                       per_weight=True, meta_lr=1e-3, callback=None, sample_tasks=None):
    """Meta-SGD (per_weight) or a step size per array, by Adam on the exact meta-gradient: θ =
    params and α (init_step_sizes, all `alpha` at first) trained together, one inner step.
    Returns (θ, α, losses)."""
    n = len(params)

    def objective(both, batch):
        return learned_step_loss(both[:n], both[n:], *batch[:4])

    start = list(params) + init_step_sizes(params, alpha, per_weight)
    # θ's pairs then α's: not one chain of layers, which only maml.train's own check asks for
    both, losses = maml.train(objective, start, rng, iterations, meta_batch, k, meta_lr,
                              callback, sample_tasks)
    return both[:n], both[n:], losses


# --- evaluation -------------------------------------------------------------------------------

def learned_step_curve(params, step_sizes, episodes, max_steps=1, chunk=100):
    """The query accuracy of each episode after 0..max_steps learned steps (the same α at every
    step): (max_steps + 1, T)."""
    parts = []
    for i in range(0, len(episodes[0]), chunk):
        xs, ys, xq, yq = (a[i:i + chunk] for a in episodes[:4])
        adapted = maml.per_task(params, len(xs))
        scores = [maml.accuracy(adapted, xq, yq)]
        with numpy.errstate(over="ignore", invalid="ignore"):
            for _ in range(max_steps):
                adapted = learned_step(adapted, step_sizes, xs, ys)
                scores.append(maml.accuracy(adapted, xq, yq))
        parts.append(numpy.array(scores))
    return numpy.concatenate(parts, axis=1)


def maml_curve(params, episodes, alpha, max_steps=1, chunk=100):
    """maml.evaluate's query accuracy of each episode after 0..max_steps inner steps of α on
    its support set, `chunk` episodes at a time: (max_steps + 1, T)."""
    return numpy.concatenate([
        maml.evaluate(params, *(a[i:i + chunk] for a in episodes[:4]), alpha=alpha,
                      max_steps=max_steps, loss_fn=maml.cross_entropy,
                      score_fn=maml.accuracy).per_task
        for i in range(0, len(episodes[0]), chunk)], axis=1)


def anil_curve(params, episodes, alpha, max_steps=1):
    """ANIL's read-out: the head alone adapted on the frozen body's features, accuracy after
    0..max_steps steps: (max_steps + 1, T)."""
    zs, zq = (features(params, x) for x in (episodes.x_support, episodes.x_query))
    return numpy.concatenate([
        maml.evaluate([params[-1]], zs[i:i + 100], episodes.y_support[i:i + 100],
                      zq[i:i + 100], episodes.y_query[i:i + 100], alpha=alpha,
                      max_steps=max_steps, loss_fn=maml.cross_entropy,
                      score_fn=maml.accuracy).per_task
        for i in range(0, len(zs), 100)], axis=1)


def permute_labels(episodes, rng):
    """The same episodes with each one's labels permuted at random (the images stay where
    they are; label n becomes label σ_t(n)). Returns (Episodes, σ (T, N))."""
    T, _, N = episodes.y_support.shape
    order = numpy.argsort(rng.random((T, N)), axis=1)
    swap = order[:, None, :]
    return episodes._replace(
        y_support=numpy.take_along_axis(episodes.y_support, swap, 2),
        y_query=numpy.take_along_axis(episodes.y_query, swap, 2),
        classes=None if episodes.classes is None else
        numpy.take_along_axis(episodes.classes, order, 1)), order


@checked
def interval(values):
    """(mean, half-width of its 95% interval 1.96·std/√n) of per-episode values (n,): n >= 2
    finite numbers (the interval needs their spread), each at most checks.MAX_VALUE (1e50) in
    size."""
    values = numpy.asarray(values, float)
    return float(values.mean()), float(1.96 * values.std(ddof=1) / numpy.sqrt(len(values)))
