"""Typical wrong answer to exercise 4: α fixed at 0.05."""
import autograd.numpy as np
from autograd import grad

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    adapted = maml.per_task(params, len(x_support))
    for _ in range(steps):
        grads = grad(lambda p: np.sum(maml.loss(p, x_support, y_support)))(adapted)
        adapted = [(W - 0.05 * dW, b - 0.05 * db) for (W, b), (dW, db) in zip(adapted, grads)]
    return adapted
