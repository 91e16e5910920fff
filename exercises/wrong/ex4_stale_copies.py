"""Typical wrong answer to exercise 4: the tasks' copies of θ kept in a dict keyed by T and
stepped on from where the previous call left them (state kept between calls)."""
import autograd.numpy as np
from autograd import grad

import maml

_copies = {}


def adapt_batch(params, x_support, y_support, alpha, steps):
    T = len(x_support)
    adapted = _copies.get(T) or maml.per_task(params, T)
    for _ in range(steps):
        grads = grad(lambda p: np.sum(maml.loss(p, x_support, y_support)))(adapted)
        adapted = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(adapted, grads)]
    _copies[T] = adapted
    return adapted
