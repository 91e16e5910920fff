"""Typical wrong answer to exercise 4: all tasks adapted with one shared gradient (of the mean
loss over the batch), so every task's data moves every task's weights."""
import autograd.numpy as np
from autograd import grad

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    shared = params
    for _ in range(steps):
        grads = grad(lambda p: np.mean(maml.loss(p, x_support, y_support)))(shared)
        shared = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(shared, grads)]
    return maml.per_task(shared, len(x_support))
