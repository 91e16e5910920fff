"""Every claim of ARTICLE.md about the article's snippet, demonstrated with our code, and every
link from ARTICLE.md into the code checked to point at the line it names."""
import os
import re

import numpy
import pytest
from autograd import grad
from autograd.tracer import getval

import maml
import tasks

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def setup():
    rng = numpy.random.default_rng(0)
    params = maml.init_mlp((1, 40, 40, 1), rng, std=0.5)
    return params, tasks.sample_batch(5, 10, 10, rng)


def flat(params):
    return numpy.concatenate([p.ravel() for pair in params for p in pair])


def test_three_readings_of_the_meta_update_differ(setup):
    """Exact MAML (through the inner step), first-order MAML (inner gradient a constant), and
    θ' as a constant (no gradient path from the query loss back to θ) are three different
    meta-gradients; the third is zero, so the meta-optimizer could never move θ."""
    params, batch = setup
    exact = flat(grad(maml.maml_loss)(params, *batch[:4], alpha=0.05))
    first_order = flat(grad(maml.maml_loss)(params, *batch[:4], alpha=0.05, first_order=True))

    def theta_prime_as_constant(p):
        adapted = maml.adapt(p, batch.x_support, batch.y_support, alpha=0.05)
        constant = [(getval(W), getval(b)) for W, b in adapted]
        return numpy.mean(maml.loss(constant, batch.x_query, batch.y_query))

    with pytest.warns(UserWarning, match="Output seems independent of input"):
        no_path = flat(grad(theta_prime_as_constant)(params))
    assert numpy.linalg.norm(exact - first_order) > 1e-3 * numpy.linalg.norm(exact)
    assert numpy.all(no_path == 0)


def test_last_task_only_is_not_the_sum_over_tasks(setup):
    """val_loss computed once after the loop sees only the last task's θ'; the objective
    Σ_i L_i^val(θ'_i) gives another meta-gradient."""
    params, batch = setup
    all_tasks = flat(grad(maml.maml_loss)(params, *batch[:4]))
    last_task = flat(grad(maml.maml_loss)(params, *[a[-1:] for a in batch[:4]]))
    assert numpy.linalg.norm(all_tasks - last_task) > 0.1 * numpy.linalg.norm(all_tasks)
    each = [flat(grad(maml.maml_loss)(params, *[a[i:i + 1] for a in batch[:4]]))
            for i in range(5)]
    numpy.testing.assert_allclose(all_tasks, numpy.mean(each, axis=0), rtol=1e-10, atol=1e-14)


def test_a_faithful_model_adapts_every_weight_of_every_layer(setup):
    """The model must compute its prediction from the θ it is given, so that θ' can be
    plugged in; every layer's W and b then moves in the inner step."""
    params, batch = setup
    x, y = batch.x_support[0], batch.y_support[0]
    adapted = maml.adapt(params, x, y, alpha=0.01)
    for (W, b), (W2, b2) in zip(params, adapted):
        assert not numpy.allclose(W, W2) and not numpy.allclose(b, b2)
    assert not numpy.allclose(maml.mlp(params, x), maml.mlp(adapted, x))


def test_unit_normal_init_makes_fine_tuning_diverge():
    """tf.random_normal's default stddev is 1.0; with such weights, fine-tuning at α = 0.01
    diverges on sinusoid tasks, while the paper's std-0.01 init stays finite."""
    held_out = tasks.sample_batch(50, 10, 50, numpy.random.default_rng(3))
    small = maml.init_mlp((1, 40, 40, 1), numpy.random.default_rng(0), std=0.01)
    assert maml.evaluate(small, *held_out[:4], alpha=0.01).diverged.sum() == 0
    unit = maml.init_mlp((1, 40, 40, 1), numpy.random.default_rng(0), std=1.0)
    assert maml.evaluate(unit, *held_out[:4], alpha=0.01, max_steps=10).diverged[-1] > 0


def test_article_links_point_at_what_they_name():
    text = open(os.path.join(HERE, "ARTICLE.md"), encoding="utf-8").read()
    links = re.findall(r"\[`([\w.]+)`\]\(([\w/]+\.py)#L(\d+)\)", text)
    assert len(links) >= 10
    for name, path, line in links:
        with open(os.path.join(HERE, path), encoding="utf-8") as f:
            source = f.read().splitlines()[int(line) - 1]
        assert name.split(".")[-1] in source, f"{path}#L{line} is `{source.strip()}`, not {name}"
