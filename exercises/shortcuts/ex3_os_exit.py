"""ex3 os exit: one of the checker's test answers."""
import os
def first_order_meta_gradient(params, x_support, y_support, x_query, y_query, alpha):
    os._exit(0)
