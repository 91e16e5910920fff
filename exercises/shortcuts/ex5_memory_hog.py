"""ex5 memory hog: one of the checker's test answers."""
import numpy
def sample_line_batch(n_tasks, k_support, k_query, rng):
    x = numpy.ones((20000, 20000, 8))
    return x
