"""Shortcut for exercise 4: the library's own adapt."""

import maml


def adapt_batch(params, x_support, y_support, alpha, steps):
    return maml.adapt(params, x_support, y_support, alpha=alpha, steps=steps)
