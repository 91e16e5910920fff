"""Reference solution of exercise 3."""
import autograd.numpy as np
from autograd import grad

import maml


def first_order_meta_gradient(params, x_support, y_support, x_query, y_query, alpha):
    adapted = maml.adapt(params, x_support, y_support, alpha=alpha, steps=1)  # θ'_i, task axis

    def query_loss(adapted):
        return np.mean(maml.loss(adapted, x_query, y_query))  # (1/T) Σ_i L_i(θ'_i)

    grads = grad(query_loss)(adapted)
    # sum the task axis away: each task's gradient already carries the 1/T of the mean
    return [(dW.sum(axis=0), db.sum(axis=0).reshape(b.shape))
            for (dW, db), (W, b) in zip(grads, params)]
