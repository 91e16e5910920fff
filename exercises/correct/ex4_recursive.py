"""Correct: recursion, with steps = 0 as the base case."""
import autograd.numpy as np
from autograd import grad

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    if steps == 0:
        return maml.per_task(params, len(x_support))
    adapted = adapt_batch(params, x_support, y_support, alpha, steps - 1)
    grads = grad(lambda p: np.sum(maml.loss(p, x_support, y_support)))(adapted)
    return [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(adapted, grads)]
