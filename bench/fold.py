"""What keeping (W, b) pairs costs: exact MAML with each bias folded into its weight matrix,
Wb = [W; b] of shape (n_in + 1, n_out), three arrays instead of six. A measuring prototype for
bench_maml.py's "bias folded" row, not part of the library: the library keeps (W, b) pairs,
which every reader, exercise, checker, checkpoint and the notebook sees.

Built from maml.py's own primitives, so that the row differs from the kept code in the
parameter layout alone; test_maml.py checks that its meta-gradient is maml.maml_loss's.
"""
import autograd.numpy as np
from autograd import grad
from autograd.extend import defvjp, primitive

import maml


def fold(params):
    """[(W, b), ...] -> [Wb, ...], Wb = [W; b] (n_in + 1, n_out)."""
    return [np.concatenate([W, np.reshape(b, (1, -1))], axis=0) for W, b in params]


@primitive
def dense(x, Wb):
    """x @ W + b with W, b the rows of Wb."""
    return x @ Wb[..., :-1, :] + Wb[..., -1:, :]


def dense_Wb_vjp(y, x, Wb):
    def vjp(g):
        rows = np.concatenate([maml.transpose_times(x, g), np.sum(g, axis=-2, keepdims=True)],
                              axis=-2)
        return maml.sum_to(rows, Wb.shape)
    return vjp


defvjp(dense,
       lambda y, x, Wb: lambda g: maml.sum_to(maml.times_transpose(g, Wb[..., :-1, :]), x.shape),
       dense_Wb_vjp)


def mlp(params, x):
    *hidden, out = params
    for Wb in hidden:
        x = maml.relu(dense(x, Wb))
    return dense(x, out)


def loss(params, x, y):
    return maml.mean_squared_error(mlp(params, x), y)


def maml_loss(params, x_support, y_support, x_query, y_query, alpha=0.01, steps=1,
              first_order=False):
    """maml.maml_loss on folded parameters (first_order is not needed by the benchmark)."""
    zeros = np.zeros((len(x_support), 1, 1))
    params = [zeros + Wb for Wb in params]
    for _ in range(steps):
        grads = grad(lambda p: np.sum(loss(p, x_support, y_support)))(params)
        params = [maml.descend(Wb, g, alpha) for Wb, g in zip(params, grads)]
    return np.mean(loss(params, x_query, y_query))
