"""Typical wrong answer to exercise 4: per-task copies, but the loss AVERAGED over tasks, so
each task's step is T times too small."""
import autograd.numpy as np
from autograd import grad

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    adapted = maml.per_task(params, len(x_support))
    for _ in range(steps):
        grads = grad(lambda p: np.mean(maml.loss(p, x_support, y_support)))(adapted)
        adapted = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(adapted, grads)]
    return adapted
