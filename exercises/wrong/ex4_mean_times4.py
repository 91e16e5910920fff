"""ex4 mean times4: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def adapt_batch(params, x_support, y_support, alpha, steps):
    p = maml.per_task(params, len(x_support))
    for _ in range(steps):
        g = grad(lambda q: 4 * np.mean(maml.loss(q, x_support, y_support)))(p)
        p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
    return p
