"""Reference solution of exercise 2."""
import autograd.numpy as np
from autograd import grad

import maml


def inner_update(params, x, y, alpha):
    def support_loss(p):
        return np.mean((maml.mlp(p, x) - y) ** 2)

    grads = grad(support_loss)(params)
    return [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, grads)]
