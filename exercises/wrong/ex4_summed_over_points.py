"""Typical wrong answer to exercise 4: each task's loss summed over its K support points instead
of averaged, so every step is K times too big."""
import autograd.numpy as np
from autograd import grad

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    adapted = maml.per_task(params, len(x_support))

    def summed(p):
        return np.sum((maml.mlp(p, x_support) - y_support) ** 2)
    for _ in range(steps):
        grads = grad(summed)(adapted)
        adapted = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(adapted, grads)]
    return adapted
