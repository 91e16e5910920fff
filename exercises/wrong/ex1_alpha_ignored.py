"""Typical wrong answer to exercise 1: α is not passed on."""
import numpy

import maml
import tasks


def one_step_mse(params, k, alpha, seed):
    batch = tasks.sample_batch(100, k, 50, numpy.random.default_rng(seed))
    adapted = maml.adapt(params, batch.x_support, batch.y_support, steps=1)
    return float(numpy.mean(maml.loss(adapted, batch.x_query, batch.y_query)))
