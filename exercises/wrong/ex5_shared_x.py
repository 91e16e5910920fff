"""Typical wrong answer to exercise 5: rng.uniform, but one set of x for all tasks of a batch."""
import numpy

import tasks


def sample_line_batch(n_tasks, k_support, k_query, rng):
    slope, intercept = rng.uniform(-3, 3, n_tasks), rng.uniform(-3, 3, n_tasks)
    x_support = numpy.repeat(rng.uniform(-5, 5, (1, k_support, 1)), n_tasks, axis=0)
    x_query = numpy.repeat(rng.uniform(-5, 5, (1, k_query, 1)), n_tasks, axis=0)

    def line(x):
        return slope[:, None, None] * x + intercept[:, None, None]
    return tasks.Batch(x_support, line(x_support), x_query, line(x_query), slope, intercept)
