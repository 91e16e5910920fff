"""Typical wrong answer to exercise 2: only the output layer moves."""
import autograd.numpy as np
from autograd import grad

import maml


def inner_update(params, x, y, alpha):
    grads = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2))(params)
    (W, b), (dW, db) = params[-1], grads[-1]
    return list(params[:-1]) + [(W - alpha * dW, b - alpha * db)]
