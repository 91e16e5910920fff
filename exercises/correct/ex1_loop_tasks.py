"""Correct; the solutions sheet says to use maml.adapt, I did it by hand per task."""
import numpy, maml, tasks
def one_step_mse(params, k, alpha, seed):
    b = tasks.sample_batch(100, k, 50, numpy.random.default_rng(seed))
    a = maml.adapt(params, b.x_support, b.y_support, alpha=alpha, steps=1)
    return numpy.mean([numpy.mean((maml.mlp([(W[i], c[i][0]) for W, c in a], b.x_query[i]) - b.y_query[i]) ** 2) for i in range(100)])
