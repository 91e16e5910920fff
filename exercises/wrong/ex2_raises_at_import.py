"""A file that fails when imported."""

import no_such_module  # noqa: F401


def inner_update(params, x, y, alpha):
    return params
