"""Typical wrong answer to exercise 7: log(softmax) computed naively: e^(−d²) underflows for large
embeddings."""
import autograd.numpy as np
from autograd.tracer import getval


def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    z_support, z_query = embed(x_support), embed(x_query)
    counts = np.sum(y_support, axis=1)[:, :, None]
    prototypes = np.swapaxes(y_support, 1, 2) @ z_support / counts
    difference = z_query[:, :, None, :] - prototypes[:, None, :, :]
    scores = -np.sum(difference ** 2, axis=3)
    p = np.exp(scores) / np.sum(np.exp(scores), axis=2, keepdims=True)
    log_p = np.log(p)
    return -np.mean(np.sum(y_query * log_p, axis=2))
