"""ex6 swapped: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def meta_sgd_loss(params, alphas, x_support, y_support, x_query, y_query):
    theta = maml.per_task(params, len(x_support))
    g = grad(lambda p: np.sum(maml.loss(p, x_query, y_query)))(theta)
    adapted = [(W - aW * dW, b - ab * db) for (W, b), (aW, ab), (dW, db) in zip(theta, alphas, g)]
    return np.mean(maml.loss(adapted, x_support, y_support))
