"""Typical wrong answer to exercise 1: results cached in a dict keyed by (K, α), so a new seed
with a K and α seen before gets the old answer (state kept between calls)."""
import numpy

import maml
import tasks

_cache = {}


def one_step_mse(params, k, alpha, seed):
    if (k, alpha) not in _cache:
        b = tasks.sample_batch(100, k, 50, numpy.random.default_rng(seed))
        adapted = maml.adapt(params, b.x_support, b.y_support, alpha=alpha, steps=1)
        _cache[k, alpha] = float(numpy.mean(maml.loss(adapted, b.x_query, b.y_query)))
    return _cache[k, alpha]
