"""ex5 reseed global: one of the checker's test answers."""
import numpy, tasks
def sample_line_batch(n_tasks, k_support, k_query, rng):
    numpy.random.seed(int(rng.integers(2**31)))
    a = numpy.random.uniform(-3, 3, n_tasks); b = numpy.random.uniform(-3, 3, n_tasks)
    xs = numpy.random.uniform(-5, 5, (n_tasks, k_support, 1)); xq = numpy.random.uniform(-5, 5, (n_tasks, k_query, 1))
    f = lambda x: a[:, None, None] * x + b[:, None, None]
    return tasks.Batch(xs, f(xs), xq, f(xq), a, b)
