"""The sinusoid regression tasks of the MAML paper (Finn et al. 2017, section 5.1).

A task is one sine wave

    y = A * sin(x - phi),   A ~ U[0.1, 5.0],  phi ~ U[0, pi],  x ~ U[-5, 5],

and a K-shot problem gives the learner K (x, y) points of a new wave (the support set) and
scores it on other points of the same wave (the query set).

Other tutorials differ from the paper here: some draw A from U[0.1, 0.5] (waves ten times
flatter, so their MSE numbers are ~100x smaller and not comparable with the paper's) and
some write sin(x + phi); with phi ~ U[0, pi] that is a different (mirrored) family of waves.
"""
from collections import namedtuple

import numpy as np

from checks import checked

AMPLITUDE_RANGE = (0.1, 5.0)
PHASE_RANGE = (0.0, np.pi)
X_RANGE = (-5.0, 5.0)

Batch = namedtuple("Batch", "x_support y_support x_query y_query amplitude phase")
Batch.__doc__ = """A meta-batch of T tasks.

x_support, y_support: (T, K_support, 1)    x_query, y_query: (T, K_query, 1)
amplitude, phase:     (T,)                 the true waves, for plotting and checking
"""


@checked
def sinusoid(x, amplitude, phase):
    """y = A sin(x - phi). x (T, N, 1) with amplitude, phase (T,); or any x with scalars."""
    amplitude, phase = np.asarray(amplitude), np.asarray(phase)
    if x.ndim == 3:
        amplitude, phase = amplitude[:, None, None], phase[:, None, None]
    return amplitude * np.sin(x - phase)


@checked
def sample_batch(n_tasks, k_support, k_query, rng,
                 amplitude_range=AMPLITUDE_RANGE, phase_range=PHASE_RANGE, x_range=X_RANGE):
    """Draw `n_tasks` sine waves and, for each, `k_support` + `k_query` points.

    rng: a numpy.random.Generator; the same seed gives the same batch.
    Returns a Batch (shapes in its docstring). The waves are drawn first, so two calls
    with the same seed and `n_tasks` give the same waves whatever K is.
    """
    amplitude = rng.uniform(*amplitude_range, size=n_tasks)
    phase = rng.uniform(*phase_range, size=n_tasks)
    x_support = rng.uniform(*x_range, size=(n_tasks, k_support, 1))
    x_query = rng.uniform(*x_range, size=(n_tasks, k_query, 1))
    return Batch(x_support, sinusoid(x_support, amplitude, phase),
                 x_query, sinusoid(x_query, amplitude, phase), amplitude, phase)



QUERY_POINTS = 100   # query points of each held-out task (the paper's Fig. 2 used a dense grid)


@checked
def held_out(seed, n_tasks, k, query_points=QUERY_POINTS):
    """The held-out tasks of an evaluation: `n_tasks` waves with K support points and
    `query_points` query points each, from a random stream kept apart from training's (the
    seed with 2017 appended). The waves are the same for every K (sample_batch draws them
    first), so results for K = 5, 10, 20 are on the same waves."""
    return sample_batch(n_tasks, k, query_points, np.random.default_rng([seed, 2017]))
