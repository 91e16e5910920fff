"""ex2 tuple of tuples: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def inner_update(params, x, y, alpha):
    loss = lambda p: np.mean(np.square(y - maml.mlp(p, x)))
    g = grad(loss)(params)
    return tuple((W + (-alpha) * dW, b + (-alpha) * db) for (W, b), (dW, db) in zip(params, g))
