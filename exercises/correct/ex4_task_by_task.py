"""A correct answer to exercise 4: each task in a loop, then stacked."""
import autograd.numpy as np
from autograd import grad

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    per_task = []
    for xs, ys in zip(x_support, y_support):
        p = params
        for _ in range(steps):
            g = grad(lambda q: maml.loss(q, xs, ys))(p)
            p = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(p, g)]
        per_task.append(p)
    return [(np.stack([p[layer][0] for p in per_task]),
             np.stack([p[layer][1] for p in per_task])[:, None, :])
            for layer in range(len(params))]
