"""ex2 stack walk: one of the checker's test answers."""
import inspect
def inner_update(params, x, y, alpha):
    for f in inspect.stack():
        ref = f.frame.f_globals.get("reference_update")
        if ref:
            return ref(params, x, y, alpha)
    return params
