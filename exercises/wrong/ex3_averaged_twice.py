"""Typical wrong answer to exercise 3: averaging over the task axis a gradient that already
carries the 1/T of the mean loss."""
import autograd.numpy as np
from autograd import grad

import maml


def first_order_meta_gradient(params, x_support, y_support, x_query, y_query, alpha):
    adapted = maml.adapt(params, x_support, y_support, alpha=alpha, steps=1)
    grads = grad(lambda a: np.mean(maml.loss(a, x_query, y_query)))(adapted)
    return [(dW.mean(axis=0), db.mean(axis=0).reshape(b.shape))
            for (dW, db), (W, b) in zip(grads, params)]
