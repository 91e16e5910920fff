"""Typical wrong answer to exercise 6: the learned step sizes collapsed to one scalar."""
import autograd.numpy as np
from autograd import grad

import maml


def meta_sgd_loss(params, alphas, x_support, y_support, x_query, y_query):
    alpha = np.mean(alphas[0][0])
    theta = maml.per_task(params, len(x_support))
    grads = grad(lambda p: np.sum(maml.loss(p, x_support, y_support)))(theta)
    adapted = [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(theta, grads)]
    return np.mean(maml.loss(adapted, x_query, y_query))
