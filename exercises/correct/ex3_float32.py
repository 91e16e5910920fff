"""ex3 float32: one of the checker's test answers."""
import autograd.numpy as np
from autograd import grad
import maml
def first_order_meta_gradient(params, x_support, y_support, x_query, y_query, alpha):
    a = maml.adapt(params, x_support, y_support, alpha=alpha)
    g = grad(lambda q: np.sum(maml.loss(q, x_query, y_query)) / len(x_query))(a)
    return [(dW.sum(0).astype("float32"), db.sum(0).reshape(b.shape).astype("float32")) for (dW, db), (W, b) in zip(g, params)]
