"""ex2 returns tuple list type: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def inner_update(params, x, y, alpha):
    g = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2))(params)
    return [[list(W - alpha * dW), list(b - alpha * db)] for (W, b), (dW, db) in zip(params, g)]
