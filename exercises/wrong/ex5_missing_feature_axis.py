"""Typical wrong answer to exercise 5: points of shape (T, K) instead of (T, K, 1)."""
import tasks


def sample_line_batch(n_tasks, k_support, k_query, rng):
    slope = rng.uniform(-3, 3, size=n_tasks)
    intercept = rng.uniform(-3, 3, size=n_tasks)
    x_support = rng.uniform(-5, 5, size=(n_tasks, k_support))
    x_query = rng.uniform(-5, 5, size=(n_tasks, k_query))
    return tasks.Batch(x_support, slope[:, None] * x_support + intercept[:, None], x_query,
                       slope[:, None] * x_query + intercept[:, None], slope, intercept)
