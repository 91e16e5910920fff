"""ex5 float32 free order: one of the checker's test answers."""
import numpy, tasks
def sample_line_batch(n_tasks, k_support, k_query, rng):
    xq = rng.uniform(-5, 5, (n_tasks, k_query, 1)); xs = rng.uniform(-5, 5, (n_tasks, k_support, 1))
    b = rng.uniform(-3, 3, n_tasks); a = rng.uniform(-3, 3, n_tasks)
    f = lambda x: a[:, None, None] * x + b[:, None, None]
    return tasks.Batch(xs, f(xs), xq, f(xq), a, b)
