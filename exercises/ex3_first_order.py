"""Exercise 3: first-order MAML, and its gap to exact MAML.

First-order MAML (the paper's section 5.2) drops the second derivatives: its meta-gradient is
the gradient of the query loss with respect to the ADAPTED weights θ'_i, averaged over tasks,

    g_FO = (1/T) Σ_i ∇_θ' L_i^query(θ'_i)     (no Hessian term)

Compute it directly: adapt (maml.adapt gives θ' with a task axis), then take autograd's
gradient with respect to θ', and bring it back to θ's shapes. Do not call maml_loss here.
Check it with:  .venv/bin/python exercises/check.py 3
"""
import autograd.numpy as np  # noqa: F401
from autograd import grad  # noqa: F401

import maml  # noqa: F401


def first_order_meta_gradient(params, x_support, y_support, x_query, y_query, alpha):
    """The first-order MAML meta-gradient for a batch of T tasks (data (T, K, 1)).

    Returns a list of (dW, db) with the shapes of params: dW (n_in, n_out), db (n_out,).
    """
    # --- your code here ---
    raise NotImplementedError("fill in first_order_meta_gradient")
