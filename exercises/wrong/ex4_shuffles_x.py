"""ex4 shuffles x: one of the checker's test answers."""
import autograd.numpy as np
import numpy
from autograd import grad
import maml
def adapt_batch(params, x_support, y_support, alpha, steps):
    order = numpy.random.default_rng(0).permutation(x_support.shape[1])
    x_support[:] = x_support[:, order]
    y_support[:] = y_support[:, order]
    p = maml.per_task(params, len(x_support))
    for _ in range(steps):
        g = grad(lambda q: np.sum(maml.loss(q, x_support, y_support)))(p)
        p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
    return p
