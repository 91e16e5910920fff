"""ex2 reload maml: one of the checker's test answers."""
import importlib, maml
def inner_update(params, x, y, alpha):
    importlib.reload(maml)
    return maml.inner_update(params, x, y, alpha)
