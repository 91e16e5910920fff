"""Typical wrong answer to exercise 1: the MSE measured on the support points it trained on."""
import numpy

import maml
import tasks


def one_step_mse(params, k, alpha, seed):
    batch = tasks.sample_batch(100, k, 50, numpy.random.default_rng(seed))
    adapted = maml.adapt(params, batch.x_support, batch.y_support, alpha=alpha, steps=1)
    return float(numpy.mean(maml.loss(adapted, batch.x_support, batch.y_support)))
