"""Typical wrong answer to exercise 2: the gradient computed on plain values, so that MAML
cannot differentiate through the step (the snippet-in-the-article mistake)."""
import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval

import maml


def inner_update(params, x, y, alpha):
    plain = [(getval(W), getval(b)) for W, b in params]
    grads = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2))(plain)
    return [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, grads)]
