"""Typical wrong answer to exercise 2: θ updated in place."""
import autograd.numpy as np
from autograd import grad

import maml


def inner_update(params, x, y, alpha):
    grads = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2))(params)
    for (W, b), (dW, db) in zip(params, grads):
        W -= alpha * dW
        b -= alpha * db
    return params
