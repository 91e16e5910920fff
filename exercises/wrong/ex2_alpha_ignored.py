"""Typical wrong answer to exercise 2: α is fixed at 0.1."""
import autograd.numpy as np
from autograd import grad

import maml


def inner_update(params, x, y, alpha):
    grads = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2))(params)
    return [(W - 0.1 * dW, b - 0.1 * db) for (W, b), (dW, db) in zip(params, grads)]
