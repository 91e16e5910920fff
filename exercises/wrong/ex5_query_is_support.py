"""Typical wrong answer to exercise 5: the query points are the support points."""

import tasks


def sample_line_batch(n_tasks, k_support, k_query, rng):
    slope = rng.uniform(-3, 3, size=n_tasks)
    intercept = rng.uniform(-3, 3, size=n_tasks)
    x_support = rng.uniform(-5, 5, size=(n_tasks, k_support, 1))
    x_query = x_support[:, :1].repeat(k_query, axis=1) if k_support < k_query else x_support[:, :k_query]

    def line(x):
        return slope[:, None, None] * x + intercept[:, None, None]

    return tasks.Batch(x_support, line(x_support), x_query, line(x_query), slope, intercept)
