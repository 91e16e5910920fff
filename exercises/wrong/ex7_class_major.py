"""Typical wrong answer to exercise 7: a reshape that assumes the support points come class by
class (true of glyphs.sample_episodes, not of every episode)."""
import autograd.numpy as np
from autograd.tracer import getval


def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    T, N = y_support.shape[0], y_support.shape[2]
    z_support, z_query = embed(x_support), embed(x_query)
    prototypes = np.mean(np.reshape(z_support, (T, N, -1, z_support.shape[2])), axis=2)
    scores = -np.sum((z_query[:, :, None, :] - prototypes[:, None, :, :]) ** 2, axis=3)
    shifted = scores - np.max(getval(scores), axis=2, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=2, keepdims=True))
    return -np.mean(np.sum(y_query * log_p, axis=2))
