"""ex3 loss vector: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def first_order_meta_gradient(params, x_support, y_support, x_query, y_query, alpha):
    adapted = maml.adapt(params, x_support, y_support, alpha=alpha)
    return maml.loss(adapted, x_query, y_query)
