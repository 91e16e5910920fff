"""ex4 chained: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def adapt_batch(params, x_support, y_support, alpha, steps):
    p, out = params, []
    for x, y in zip(x_support, y_support):
        for _ in range(steps):
            g = grad(lambda q: maml.loss(q, x, y))(p)
            p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
        out.append(p)
    return [(np.stack([o[i][0] for o in out]), np.stack([o[i][1][None] for o in out])) for i in range(len(params))]
