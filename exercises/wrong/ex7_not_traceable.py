"""Typical wrong answer to exercise 7: right numbers, written into numpy.zeros (autograd can't
follow an assignment into a plain array)."""
import autograd.numpy as np
import numpy
from autograd.tracer import getval


def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    T, N = y_support.shape[0], y_support.shape[2]
    z_support, z_query = embed(x_support), embed(x_query)
    prototypes = numpy.zeros((T, N, z_support.shape[2]))
    for t in range(T):
        for n in range(N):
            members = y_support[t, :, n] == 1
            prototypes[t, n] = np.mean(z_support[t][members], axis=0)
    scores = -np.sum((z_query[:, :, None, :] - prototypes[:, None, :, :]) ** 2, axis=3)
    shifted = scores - np.max(getval(scores), axis=2, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=2, keepdims=True))
    return -np.mean(np.sum(y_query * log_p, axis=2))
