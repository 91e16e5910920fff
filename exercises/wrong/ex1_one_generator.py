"""Typical wrong answer to exercise 1: one generator made on the first call and kept, so the same
(K, α, seed) gives other tasks on the next call (state kept between calls)."""
import numpy

import maml
import tasks

_rng = None


def one_step_mse(params, k, alpha, seed):
    global _rng
    if _rng is None:
        _rng = numpy.random.default_rng(seed)
    b = tasks.sample_batch(100, k, 50, _rng)
    adapted = maml.adapt(params, b.x_support, b.y_support, alpha=alpha, steps=1)
    return float(numpy.mean(maml.loss(adapted, b.x_query, b.y_query)))
