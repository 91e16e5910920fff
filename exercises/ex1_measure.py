"""Exercise 1 (easy): predict, then measure, the effect of K and α.

Before you write any code, write down your predictions in EXERCISES.md's table: after ONE
gradient step, does the MSE fall as K grows? Is there a step size α beyond which one step
makes things worse?  Then fill in the gap, check it, and run this file to see the table:

    .venv/bin/python exercises/check.py 1
    .venv/bin/python -m exercises.ex1_measure        # from the project's folder
"""
import os

import numpy  # noqa: F401  (you will want these)

import checkpoints
import maml
import tasks  # noqa: F401


def one_step_mse(params, k, alpha, seed):
    """Mean squared error on the QUERY points of 100 held-out sine-wave tasks after ONE gradient
    step with step size `alpha` on each task's K support points.

    Use tasks.sample_batch(100, k, 50, numpy.random.default_rng(seed)) for the tasks, then
    maml.adapt and maml.loss. maml.loss gives one MSE per task, an array of shape (100,):
    return their mean, one number (a float).
    """
    # --- your code here ---
    raise NotImplementedError("fill in one_step_mse")


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    params, _ = checkpoints.load_params(os.path.join(here, "..", "checkpoints", "sinusoid.npz"), model="maml")
    print("MSE after one gradient step (MAML, trained with K = 10, α = 0.01)")
    print("K \\ α " + "".join(f"{alpha:>9}" for alpha in (0.001, 0.01, 0.05)))
    for k in (2, 5, 10, 20):
        print(f"{k:>5} " + "".join(f"{one_step_mse(params, k, alpha, 0):9.3f}"
                                   for alpha in (0.001, 0.01, 0.05)))
