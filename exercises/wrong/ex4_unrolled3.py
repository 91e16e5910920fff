"""ex4 unrolled3: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def adapt_batch(params, x_support, y_support, alpha, steps):
    p = maml.per_task(params, len(x_support))
    f = lambda q: np.sum(maml.loss(q, x_support, y_support))
    if steps >= 1:
        g = grad(f)(p); p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
    if steps >= 2:
        g = grad(f)(p); p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
    if steps >= 3:
        g = grad(f)(p); p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
    return p
