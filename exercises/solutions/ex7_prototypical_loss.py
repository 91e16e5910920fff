"""Reference solution of exercise 7."""
import autograd.numpy as np
from autograd.tracer import getval


def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    z_support, z_query = embed(x_support), embed(x_query)              # (T, N*K, D), (T, M, D)
    # c_n = mean of class n's support embeddings: yᵀz sums them, yᵀ1 counts them
    counts = np.sum(y_support, axis=1)[:, :, None]                     # (T, N, 1)
    prototypes = np.swapaxes(y_support, 1, 2) @ z_support / counts     # (T, N, D)
    # −‖z − c‖² for every query and class
    difference = z_query[:, :, None, :] - prototypes[:, None, :, :]    # (T, M, N, D)
    scores = -np.sum(difference ** 2, axis=3)                          # (T, M, N)
    # log softmax over the classes, stably: shift by the largest score (a constant to softmax)
    shifted = scores - np.max(getval(scores), axis=2, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=2, keepdims=True))
    # −log p(y_true | x): the one-hot y_query picks the true class; mean over queries, episodes
    return -np.mean(np.sum(y_query * log_p, axis=2))
