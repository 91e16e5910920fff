"""ex2 x scaled: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def inner_update(params, x, y, alpha):
    x /= 5
    g = grad(lambda p: np.mean((maml.mlp(p, 5 * x) - y) ** 2))(params)
    return [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, g)]
