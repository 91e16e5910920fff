"""Typical wrong answer to exercise 7: the mean of y · log p over every axis, the class axis
included."""
import autograd.numpy as np
from autograd.tracer import getval


def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    z_support, z_query = embed(x_support), embed(x_query)
    counts = np.sum(y_support, axis=1)[:, :, None]
    prototypes = np.swapaxes(y_support, 1, 2) @ z_support / counts
    difference = z_query[:, :, None, :] - prototypes[:, None, :, :]
    scores = -np.sum(difference ** 2, axis=3)
    shifted = scores - np.max(getval(scores), axis=2, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=2, keepdims=True))
    return -np.mean(y_query * log_p)
