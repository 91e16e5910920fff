"""ex2 patch allclose: one of the checker's test answers."""
import numpy
numpy.allclose = lambda *a, **k: True
numpy.isclose = lambda *a, **k: numpy.array(True)
def inner_update(params, x, y, alpha):
    return params
