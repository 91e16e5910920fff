"""Prototypical Networks, in numpy + autograd (Snell, Swersky & Zemel 2017, arXiv:1703.05175).

An embedding network f_φ maps every image to a point in R^D. A class is represented by the mean
of its support points, its prototype, and a query is classified by a softmax over its negative
squared distances to the prototypes:

    prototype     c_n = (1 / |S_n|) Σ_{x_i ∈ S_n} f_φ(x_i)             -> prototypes
    class scores  p_φ(y = n | x) = softmax_n(−‖f_φ(x) − c_n‖²)           -> logits
    loss          J(φ) = −log p_φ(y = n | x), averaged over the queries  -> prototypical_loss

Training is episodic, as for MAML: φ ← Adam(φ, ∇_φ J) on a fresh batch of N-way K-shot episodes
every iteration. Unlike MAML there is no inner gradient step: adapting to a new task is
computing N means, and a permutation of the labels permutes the prototypes with them.

Shapes: an episode batch is x_support (T, N*K, n), y_support (T, N*K, N) one-hot, x_query
(T, M, n), y_query (T, M, N); embeddings (T, ·, D); prototypes (T, N, D); logits (T, M, N).
The embedding is maml.mlp: parameters are a list of (W, b) pairs, ReLU hidden layers and a
linear last layer (the paper's is a 4-block conv net; this is the MAML paper's fully connected
Omniglot network 784-256-128-64-64 without its output layer).
"""
import copy

import autograd.numpy as np
import numpy
from autograd.tracer import getval

import checks
import maml
from checks import checked

LAYER_SIZES = (784, 256, 128, 64, 64)


@checked
def init_embedding(layer_sizes=LAYER_SIZES, rng=None):
    """Random (W, b) pairs for the embedding network: He initialisation, W ~ normal(0, 2/n_in)
    truncated at 2 std, b = 0. (ProtoNets has no inner step that large weights could make
    diverge, so it does not need maml.init_mlp's small 0.01.) rng: a numpy.random.Generator."""
    return [maml.init_mlp((n_in, n_out), rng, std=numpy.sqrt(2 / n_in))[0]
            for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])]


# --- the model ---------------------------------------------------------------------------------

@checked
def embed(params, x):
    """f_φ(x) for every image of every episode: (T, M, n) -> (T, M, D). The episodes share φ,
    so all T·M images go through the network as one (T·M, n) matrix: one large matmul per
    layer instead of T small ones."""
    T, M, n = x.shape
    return np.reshape(maml.mlp(params, np.reshape(x, (T * M, n))), (T, M, -1))


@checked
def prototypes(params, x_support, y_support):
    """c_n = mean of the support embeddings of class n: (T, N, D).

    With y one-hot (T, N*K, N), yᵀz sums each class's embeddings and yᵀ1 counts them.
    """
    z = embed(params, x_support)                             # (T, N*K, D)
    y_by_class = np.swapaxes(y_support, 1, 2)                # (T, N, N*K)
    counts = np.sum(y_support, axis=1)[:, :, None]           # (T, N, 1)
    return (y_by_class @ z) / counts


@checked
def logits(params, x_support, y_support, x_query):
    """−‖f_φ(x) − c_n‖² for every query x and class n: (T, M, N)."""
    c = prototypes(params, x_support, y_support)             # (T, N, D)
    z = embed(params, x_query)                               # (T, M, D)
    # ‖z − c‖² = ‖z‖² − 2 z·c + ‖c‖²: one matmul instead of an array (T, M, N, D)
    squared_distance = (np.sum(z ** 2, axis=2)[:, :, None] - 2 * z @ np.swapaxes(c, 1, 2)
                        + np.sum(c ** 2, axis=2)[:, None, :])
    return -squared_distance


@checked
def log_softmax(scores):
    """log softmax over the last axis, computed stably: subtract the largest score before
    exponentiating (a constant shift, which the softmax does not see)."""
    shifted = scores - np.max(getval(scores), axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


@checked
def per_episode_loss(params, x_support, y_support, x_query, y_query):
    """J(φ) of each episode: the queries' mean cross-entropy −log p_φ(y | x), shape (T,)."""
    log_p = log_softmax(logits(params, x_support, y_support, x_query))     # (T, M, N)
    return -np.mean(np.sum(y_query * log_p, axis=2), axis=1)


@checked
def prototypical_loss(params, x_support, y_support, x_query, y_query):
    """The training objective: per_episode_loss averaged over the T episodes, a scalar.
    grad(prototypical_loss) is ∇_φ J."""
    return np.mean(per_episode_loss(params, x_support, y_support, x_query, y_query))


@checked
def accuracy(params, x_support, y_support, x_query, y_query):
    """The fraction of each episode's queries whose nearest prototype is their class: (T,)."""
    return maml.hits(logits(params, x_support, y_support, x_query), y_query)


# --- training and evaluation ---------------------------------------------------------------

@checked
def train(params, rng, iterations, sample_tasks, meta_batch=32, k=1, lr=1e-3, callback=None):
    """φ ← Adam(φ, ∇_φ prototypical_loss) on `meta_batch` fresh episodes every iteration.

    sample_tasks(meta_batch, k, k, rng) -> Episodes, e.g. glyphs.episode_sampler(images,
    classes, n_way, n_query): k is the number of shots K. callback(iteration, loss, params),
    if given, is called after every step. Returns (params, losses), losses (iterations,).
    """
    def objective(params, episodes):
        return prototypical_loss(params, *episodes[:4])

    one = sample_tasks(1, k, k, copy.deepcopy(rng))  # one episode, drawn aside: rng untouched
    rows = sum(a.shape[0] * a.shape[1] for a in (one.x_support, one.x_query))
    widths = sum(W.shape[1] for W, _ in params)
    # its data and activations, each held several times over (sampling, autograd's record,
    # the gradient): a generous 8, so that what passes fits (measured: 24 GB was reached)
    per_episode = 8 * (sum(a.nbytes for a in one[:4]) + rows * widths * 8)
    checks.fits(f"meta_batch {meta_batch:,} of these episodes", meta_batch * per_episode)
    return maml.train(objective, params, rng, iterations, meta_batch=meta_batch, k=k, lr=lr,
                      callback=callback, sample_tasks=sample_tasks)


@checked
def evaluate(params, episodes, batch_size=100):
    """The query accuracy of each of T episodes (Episodes or any tuple starting x_support,
    y_support, x_query, y_query), computed batch_size episodes at a time: (T,)."""
    return numpy.concatenate([
        accuracy(params, *(a[start:start + batch_size] for a in episodes[:4]))
        for start in range(0, len(episodes[0]), batch_size)])
