"""Correct: results cached, keyed by every argument (the weights' bytes too), so a call is
answered from the cache only for exactly the same inputs."""
import numpy

import maml
import tasks

_cache = {}


def one_step_mse(params, k, alpha, seed):
    key = (k, alpha, seed, tuple(a.tobytes() for pair in params for a in pair))
    if key not in _cache:
        b = tasks.sample_batch(100, k, 50, numpy.random.default_rng(seed))
        adapted = maml.adapt(params, b.x_support, b.y_support, alpha=alpha, steps=1)
        _cache[key] = float(numpy.mean(maml.loss(adapted, b.x_query, b.y_query)))
    return _cache[key]
