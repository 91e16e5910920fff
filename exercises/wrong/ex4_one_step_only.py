"""Typical wrong answer to exercise 4: `steps` ignored."""
import autograd.numpy as np
from autograd import grad

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    adapted = maml.per_task(params, len(x_support))
    for _ in range(1):
        grads = grad(lambda p: np.sum(maml.loss(p, x_support, y_support)))(adapted)
        adapted = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(adapted, grads)]
    return adapted
