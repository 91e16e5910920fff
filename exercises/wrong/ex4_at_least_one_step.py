"""Typical wrong answer to exercise 4: the loop tests after stepping, so steps = 0 still takes
one step."""
import autograd.numpy as np
from autograd import grad

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    adapted, done = maml.per_task(params, len(x_support)), 0
    while True:
        grads = grad(lambda p: np.sum(maml.loss(p, x_support, y_support)))(adapted)
        adapted = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(adapted, grads)]
        done += 1
        if done >= steps:
            return adapted
