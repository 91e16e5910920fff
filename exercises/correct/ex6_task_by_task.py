"""A correct answer to exercise 6, one task at a time."""
from autograd import grad

import maml


def meta_sgd_loss(params, alphas, x_support, y_support, x_query, y_query):
    total = 0.0
    for xs, ys, xq, yq in zip(x_support, y_support, x_query, y_query):
        g = grad(lambda p: maml.loss(p, xs, ys))(params)
        adapted = [(W - aW * dW, b - ab * db)
                   for (W, b), (aW, ab), (dW, db) in zip(params, alphas, g)]
        total = total + maml.loss(adapted, xq, yq)
    return total / len(x_support)
