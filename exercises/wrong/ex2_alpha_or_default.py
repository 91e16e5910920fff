"""ex2 alpha or default: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def inner_update(params, x, y, alpha):
    alpha = alpha or 0.01
    g = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2))(params)
    return [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, g)]
