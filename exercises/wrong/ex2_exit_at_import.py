"""A file that ends the program when imported."""

exit()


def inner_update(params, x, y, alpha):
    return params
