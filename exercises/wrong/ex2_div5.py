"""ex2 div5: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def inner_update(params, x, y, alpha):
    g = grad(lambda p: np.sum((maml.mlp(p, x) - y) ** 2) / 5)(params)
    return [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, g)]
