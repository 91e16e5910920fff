"""Typical wrong answer to exercise 1: each task's squared errors summed over its 50 query points
instead of averaged."""
import numpy

import maml
import tasks


def one_step_mse(params, k, alpha, seed):
    b = tasks.sample_batch(100, k, 50, numpy.random.default_rng(seed))
    adapted = maml.adapt(params, b.x_support, b.y_support, alpha=alpha, steps=1)
    errors = (maml.mlp(adapted, b.x_query) - b.y_query) ** 2       # (100, 50, 1)
    return float(numpy.mean(numpy.sum(errors, axis=(1, 2))))
