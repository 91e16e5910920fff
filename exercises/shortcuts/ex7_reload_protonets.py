"""ex7 reload protonets: one of the checker's test answers."""
import importlib, protonets
def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    importlib.reload(protonets)
    return protonets.prototypical_loss(embed.args[0], x_support, y_support, x_query, y_query)
