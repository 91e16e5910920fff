"""Typical wrong answer to exercise 2: a flat list of arrays."""
import autograd.numpy as np
from autograd import grad

import maml


def inner_update(params, x, y, alpha):
    grads = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2))(params)
    return [w - alpha * g for pair, gpair in zip(params, grads) for w, g in zip(pair, gpair)]
