"""ex5 one draw: one of the checker's test answers."""
import tasks
def sample_line_batch(n_tasks, k_support, k_query, rng):
    ab = rng.uniform(-3, 3, size=(2, n_tasks))
    x = rng.uniform(-5, 5, size=(n_tasks, k_support + k_query, 1))
    y = ab[0][:, None, None] * x + ab[1][:, None, None]
    return tasks.Batch(x[:, :k_support], y[:, :k_support], x[:, k_support:], y[:, k_support:], ab[0], ab[1])
