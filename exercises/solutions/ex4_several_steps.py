"""Reference solution of exercise 4."""
import autograd.numpy as np
from autograd import grad

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    adapted = maml.per_task(params, len(x_support))

    def summed_loss(p):  # a SUM over tasks: task i's copy gets task i's gradient, unscaled
        return np.sum(maml.loss(p, x_support, y_support))

    for _ in range(steps):
        grads = grad(summed_loss)(adapted)
        adapted = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(adapted, grads)]
    return adapted
