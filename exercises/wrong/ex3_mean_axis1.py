"""ex3 mean axis1: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def first_order_meta_gradient(params, x_support, y_support, x_query, y_query, alpha):
    adapted = maml.adapt(params, x_support, y_support, alpha=alpha)
    g = grad(lambda a: np.mean(maml.loss(a, x_query, y_query)))(adapted)
    return [(dW.mean(axis=0), db.mean(axis=0).reshape(b.shape)) for (dW, db), (W, b) in zip(g, params)]
