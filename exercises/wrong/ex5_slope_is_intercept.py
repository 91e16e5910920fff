"""Typical wrong answer to exercise 5: one number for slope and intercept."""

import tasks


def sample_line_batch(n_tasks, k_support, k_query, rng):
    slope = rng.uniform(-3, 3, size=n_tasks)
    intercept = slope
    x_support = rng.uniform(-5, 5, size=(n_tasks, k_support, 1))
    x_query = rng.uniform(-5, 5, size=(n_tasks, k_query, 1))

    def line(x):
        return slope[:, None, None] * x + intercept[:, None, None]

    return tasks.Batch(x_support, line(x_support), x_query, line(x_query), slope, intercept)
