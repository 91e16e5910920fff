"""Typical wrong answer to exercise 6: the inner gradient on plain numbers."""
import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval

import maml


def meta_sgd_loss(params, alphas, x_support, y_support, x_query, y_query):
    theta = maml.per_task(params, len(x_support))
    plain = [(getval(W), getval(b)) for W, b in theta]
    grads = grad(lambda p: np.sum(maml.loss(p, x_support, y_support)))(plain)
    adapted = [(W - aW * dW, b - ab * db)
               for (W, b), (aW, ab), (dW, db) in zip(theta, alphas, grads)]
    return np.mean(maml.loss(adapted, x_query, y_query))
