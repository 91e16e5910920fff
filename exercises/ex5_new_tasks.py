"""Exercise 5: a new task family through the same API.

MAML is model- and task-agnostic: give it lines instead of sine waves. A task is

    y = a·x + b,   a ~ U[-3, 3],  b ~ U[-3, 3],  x ~ U[-5, 5]

Return the same tasks.Batch as tasks.sample_batch does, with the slope a in its `amplitude`
field and the intercept b in its `phase` field. All randomness must come from `rng`.
Then maml.meta_train(..., sample_tasks=sample_line_batch) meta-learns lines.
Check it with:  .venv/bin/python exercises/check.py 5
"""
import numpy  # noqa: F401  (you will want these)

import tasks  # noqa: F401


def sample_line_batch(n_tasks, k_support, k_query, rng):
    """n_tasks lines, k_support + k_query points each. Shapes as in tasks.Batch:
    x_support, y_support (T, K_support, 1); x_query, y_query (T, K_query, 1); amplitude, phase (T,)."""
    # --- your code here ---
    raise NotImplementedError("fill in sample_line_batch")
