"""ex6 float32: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def meta_sgd_loss(params, alphas, x_support, y_support, x_query, y_query):
    total = 0.0
    for xs, ys, xq, yq in zip(x_support, y_support, x_query, y_query):
        g = grad(lambda p: maml.loss(p, xs, ys))(params)
        a = [(W - aW * dW, b - ab * db) for (W, b), (aW, ab), (dW, db) in zip(params, alphas, g)]
        total = total + maml.loss(a, xq, yq)
    return np.float32(total / len(x_support)) if not hasattr(total, "_value") else total / len(x_support)
