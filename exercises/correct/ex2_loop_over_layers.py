"""A correct answer to exercise 2: loops, and the sum divided by K."""
import autograd.numpy as np
from autograd import grad

import maml


def inner_update(params, x, y, alpha):
    def support_loss(p):
        errors = maml.mlp(p, x) - y
        return np.sum(errors * errors) / len(x)
    grads = grad(support_loss)(params)
    adapted = []
    for layer in range(len(params)):
        W, b = params[layer]
        dW, db = grads[layer]
        adapted.append((W + (-alpha) * dW, b + (-alpha) * db))
    return adapted
