"""Exercise 6 (stretch): Meta-SGD — learn the inner step size too.

Meta-SGD (Li, Zhou, Chen & Li 2017, arXiv:1707.09835) replaces MAML's scalar α by a learned
array of step sizes, one per weight, applied elementwise:

    θ'_i = θ − α ⊙ ∇_θ L_i^support(θ)

and meta-learns θ and α together: autograd's grad of the loss below with respect to both.
Write the meta-loss (one inner step, mean over tasks of the query MSE).
Check it with:  .venv/bin/python exercises/check.py 6
"""
import autograd.numpy as np  # noqa: F401
from autograd import grad  # noqa: F401

import maml  # noqa: F401


def meta_sgd_loss(params, alphas, x_support, y_support, x_query, y_query):
    """params, alphas: lists of (W, b) of the same shapes; data (T, K, 1). Returns a scalar.
    The alphas are learned, so they may be any real numbers, negative ones too.

    Hint: maml.per_task and maml.loss, as in maml.inner_update; alphas multiply the gradient
    elementwise (they broadcast over the task axis).
    """
    # --- your code here ---
    raise NotImplementedError("fill in meta_sgd_loss")
