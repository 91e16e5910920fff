"""Correct in float32."""
import autograd.numpy as np
from autograd import grad
import maml
def inner_update(params, x, y, alpha):
    g = grad(lambda p: np.mean((maml.mlp(p, x) - y) ** 2))(params)
    return [((W - alpha * dW).astype(np.float32), (b - alpha * db).astype(np.float32)) for (W, b), (dW, db) in zip(params, g)]
