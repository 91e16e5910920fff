"""Typical wrong answer to exercise 2: θ' cached in a dict keyed by (α, K), so new data with an α
and K seen before gets the old θ' (state kept between calls)."""
import autograd.numpy as np
from autograd import grad

import maml

_cache = {}


def inner_update(params, x, y, alpha):
    key = (alpha, len(x))
    if key not in _cache:
        g = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2))(params)
        _cache[key] = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, g)]
    return _cache[key]
