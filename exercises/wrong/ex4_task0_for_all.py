"""ex4 task0 for all: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def adapt_batch(params, x_support, y_support, alpha, steps):
    p = params
    for _ in range(steps):
        g = grad(lambda q: maml.loss(q, x_support[0], y_support[0]))(p)
        p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
    return maml.per_task(p, len(x_support))
