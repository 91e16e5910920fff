"""Typical wrong answer to exercise 2: the already-averaged loss divided by K again."""
import autograd.numpy as np
from autograd import grad

import maml


def inner_update(params, x, y, alpha):
    grads = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2) / len(x))(params)
    return [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, grads)]
