"""Typical wrong answer to exercise 1: no gradient step at all."""
import numpy

import maml
import tasks


def one_step_mse(params, k, alpha, seed):
    batch = tasks.sample_batch(100, k, 50, numpy.random.default_rng(seed))
    return float(numpy.mean(maml.loss(params, batch.x_query, batch.y_query)))
