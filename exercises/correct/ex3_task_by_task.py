"""A correct answer to exercise 3, one task at a time."""
from autograd import grad

import maml


def first_order_meta_gradient(params, x_support, y_support, x_query, y_query, alpha):
    T = len(x_support)
    total = None
    for xs, ys, xq, yq in zip(x_support, y_support, x_query, y_query):
        g = grad(lambda p: maml.loss(p, xs, ys))(params)
        adapted = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, g)]
        gq = grad(lambda p: maml.loss(p, xq, yq))(adapted)
        gq = [(dW / T, db / T) for dW, db in gq]
        total = gq if total is None else [(a + c, b + d) for (a, b), (c, d) in zip(total, gq)]
    return total
