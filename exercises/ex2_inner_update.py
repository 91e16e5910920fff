"""Exercise 2: write the inner update for one task.

    θ' = θ − α ∇_θ L(θ),   L(θ) = mean over the K points of (f_θ(x) − y)²

Use autograd's `grad`, so that MAML can later differentiate *through* this step.
Check it with:  .venv/bin/python exercises/check.py 2
"""
import autograd.numpy as np  # noqa: F401  (you may want it)
from autograd import grad  # noqa: F401

import maml  # noqa: F401


def inner_update(params, x, y, alpha):
    """One gradient step on ONE task. params: list of (W, b); x, y: (K, 1).

    Returns the adapted params θ', a list of (W, b) of the same shapes.
    maml.mlp(params, x) is the network's prediction.
    """
    # --- your code here ---
    raise NotImplementedError("fill in inner_update")
