"""ex6 loop forever: one of the checker's test answers."""
def meta_sgd_loss(params, alphas, x_support, y_support, x_query, y_query):
    while True:
        pass
