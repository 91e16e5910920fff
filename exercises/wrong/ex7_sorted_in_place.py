"""Typical wrong answer to exercise 7: sorts the support set by class IN PLACE, then reshapes."""
import autograd.numpy as np
import numpy
from autograd.tracer import getval


def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    T, N = y_support.shape[0], y_support.shape[2]
    order = numpy.argsort(numpy.argmax(y_support, axis=2), axis=1, kind="stable")
    x_support[:] = numpy.take_along_axis(x_support, order[:, :, None], axis=1)
    y_support[:] = numpy.take_along_axis(y_support, order[:, :, None], axis=1)
    z_support, z_query = embed(x_support), embed(x_query)
    prototypes = np.mean(np.reshape(z_support, (T, N, -1, z_support.shape[2])), axis=2)
    scores = -np.sum((z_query[:, :, None, :] - prototypes[:, None, :, :]) ** 2, axis=3)
    shifted = scores - np.max(getval(scores), axis=2, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=2, keepdims=True))
    return -np.mean(np.sum(y_query * log_p, axis=2))
