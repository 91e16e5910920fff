"""ex4 off by one: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def adapt_batch(params, x_support, y_support, alpha, steps):
    p = maml.per_task(params, len(x_support))
    for _ in range(1, steps):
        g = grad(lambda q: np.sum(maml.loss(q, x_support, y_support)))(p)
        p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
    return p
