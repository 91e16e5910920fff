"""ex4 while loop: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def adapt_batch(params, x_support, y_support, alpha, steps):
    p = maml.per_task(params, x_support.shape[0])
    n = 0
    while n < steps:
        g = grad(lambda q: np.mean(maml.loss(q, x_support, y_support)) * len(x_support))(p)
        p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
        n += 1
    return p
