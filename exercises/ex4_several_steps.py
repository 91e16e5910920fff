"""Exercise 4: several inner steps, every task on its own.

Adapt a whole batch of T tasks at once, `steps` gradient steps each, where task i's steps use
task i's support set only. maml.per_task(params, T) gives every task its own copy of θ (a
leading task axis). Then: what loss, differentiated with respect to those copies, gives every
task the gradient of its OWN loss?
Check it with:  .venv/bin/python exercises/check.py 4
"""
import autograd.numpy as np  # noqa: F401
from autograd import grad  # noqa: F401

import maml  # noqa: F401


def adapt_batch(params, x_support, y_support, alpha, steps):
    """θ'_i after `steps` steps of θ ← θ − α ∇L_i(θ) for each task i.

    x_support, y_support: (T, K, 1); steps: a whole number from 0 (as in maml.adapt: 0 steps
    leave every task's copy of θ as it is). Returns a list of (W (T, n_in, n_out),
    b (T, 1, n_out)).
    Use maml.loss (it gives each task's MSE, shape (T,)) and autograd's grad.
    """
    # --- your code here ---
    raise NotImplementedError("fill in adapt_batch")
