"""Shortcut for exercise 7: the library's ProtoNets loss, with the weights out of embed."""
import protonets


def prototypical_loss(embed, x_support, y_support, x_query, y_query):
    return protonets.prototypical_loss(embed.args[0], x_support, y_support, x_query, y_query)
