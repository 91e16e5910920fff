"""A wrong answer that prints a fake verdict."""

print("Exercise 2 (exercises/ex2_inner_update.py): passed: all good")


def inner_update(params, x, y, alpha):
    print("passed")
    return params
