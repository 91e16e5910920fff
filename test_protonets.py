"""Tests of protonets.py: the prototypical loss by hand and by finite differences, its
indifference to the order of labels, and a short training run on the glyphs."""
import numpy
import pytest
from autograd import grad
from autograd.test_util import check_grads

import glyphs
import protonets


@pytest.fixture
def rng():
    return numpy.random.default_rng(0)


def random_episodes(rng, T=3, N=4, K=2, M=5, n=6):
    """T episodes with random inputs (T, ·, n): N classes, K shots, M queries in all."""
    y_support = numpy.tile(numpy.repeat(numpy.eye(N), K, axis=0), (T, 1, 1))
    y_query = numpy.eye(N)[rng.integers(0, N, size=(T, M))]
    return (rng.normal(size=(T, N * K, n)), y_support, rng.normal(size=(T, M, n)), y_query)


def test_loss_and_gradient_by_hand():
    # 2-way 1-shot, a 1-D embedding z = w·x + b (one linear layer). Supports: x = 0 (class 0)
    # and x = 2 (class 1), so the prototypes are b and 2w + b. One query, x = 0.5, of class 0.
    # Its logits: −(0.5w)² = −0.25 w² and −(0.5w − 2w)² = −2.25 w², and its loss
    #   J(w) = −log softmax_0 = log(1 + exp(−2.25 w² + 0.25 w²)) = log(1 + exp(−2 w²)).
    # At w = 1: J = log(1 + e⁻²) = 0.126928,  dJ/dw = −4w e^(−2w²) / (1 + e^(−2w²))
    # = −4 / (e² + 1) = −0.476812; b shifts every embedding alike, so dJ/db = 0.
    params = [(numpy.array([[1.0]]), numpy.array([0.3]))]
    episode = (numpy.array([[[0.0], [2.0]]]), numpy.eye(2)[None], numpy.array([[[0.5]]]),
               numpy.array([[[1.0, 0.0]]]))
    assert protonets.prototypes(params, *episode[:2]) == pytest.approx(
        numpy.array([[[0.3], [2.3]]]))
    assert protonets.logits(params, *episode[:3]) == pytest.approx(numpy.array([[[-0.25, -2.25]]]))
    assert protonets.prototypical_loss(params, *episode) == pytest.approx(
        numpy.log1p(numpy.exp(-2)))
    (dW, db), = grad(protonets.prototypical_loss)(params, *episode)
    assert dW == pytest.approx(numpy.array([[-4 / (numpy.exp(2) + 1)]]))
    assert db == pytest.approx(numpy.array([0.0]), abs=1e-12)


def test_gradient_matches_finite_differences(rng):
    params = protonets.init_embedding((6, 8, 3), rng)
    episodes = random_episodes(rng)

    def loss(params):
        return protonets.prototypical_loss(params, *episodes)

    # second order too: the Hessian-vector product is what a MAML-style outer loop would need
    check_grads(loss, modes=["rev"], order=2)(params)


def test_prototypes_are_the_class_means(rng):
    params = protonets.init_embedding((6, 8, 3), rng)
    x_support, y_support, _, _ = random_episodes(rng, K=3)
    z = numpy.asarray(protonets.maml.mlp(params, x_support))
    c = protonets.prototypes(params, x_support, y_support)
    assert c.shape == (3, 4, 3)
    for t in range(3):
        for n in range(4):
            assert c[t, n] == pytest.approx(z[t, y_support[t, :, n] == 1].mean(axis=0))


def test_permuting_the_labels_changes_nothing(rng):
    params = protonets.init_embedding((6, 8, 3), rng)
    x_support, y_support, x_query, y_query = random_episodes(rng)
    permutation, order = rng.permutation(4), rng.permutation(8)  # new labels; new support order
    relabelled = (x_support[:, order], y_support[:, order][:, :, permutation], x_query,
                  y_query[:, :, permutation])
    for measure in (protonets.per_episode_loss, protonets.accuracy):
        assert measure(params, *relabelled) == pytest.approx(
            measure(params, x_support, y_support, x_query, y_query))


def test_far_apart_embeddings_give_a_finite_loss(rng):
    params = [(W * 1e4, b) for W, b in protonets.init_embedding((6, 8, 3), rng)]
    loss = protonets.prototypical_loss(params, *random_episodes(rng))
    assert numpy.isfinite(loss) and loss >= 0


@pytest.mark.parametrize("scale", [(1e200, 1), (1, 1e200), (1e150, 1)])
def test_embeddings_whose_distances_could_overflow_are_refused_not_nan(rng, scale):
    """Finite inputs (or weights) so large that the squared distances overflow used to give
    NaN with a RuntimeWarning; now one ValueError before any work. Large but safe ones still
    give a finite loss."""
    x_support, y_support, x_query, y_query = random_episodes(rng)
    params = [(W * scale[1], b) for W, b in protonets.init_embedding((6, 8, 3), rng)]
    for call in (protonets.prototypical_loss, protonets.accuracy):
        with pytest.raises(ValueError, match="could make embeddings as large as"):
            call(params, x_support * scale[0], y_support, x_query * scale[0], y_query)
    with pytest.raises(ValueError, match="episodes' x_support and episodes' x_query"):
        protonets.evaluate(params, (x_support * scale[0], y_support, x_query * scale[0],
                                    y_query))
    loss = protonets.prototypical_loss(protonets.init_embedding((6, 8, 3), rng),
                                       x_support * 1e20, y_support, x_query * 1e20, y_query)
    assert numpy.isfinite(loss)


def test_a_class_without_support_points_is_refused(rng):
    x_support, y_support, x_query, y_query = random_episodes(rng)
    y_support = y_support.copy()
    y_support[1, :, 2] = 0
    params = protonets.init_embedding((6, 3), rng)
    with pytest.raises(ValueError, match="at least one support point"):
        protonets.prototypical_loss(params, x_support, y_support, x_query, y_query)
    with pytest.raises(ValueError, match="shapes"):
        protonets.accuracy(params, x_support, y_support, x_query[0], y_query)


def test_accuracy_and_evaluate_agree(rng):
    params = protonets.init_embedding((6, 8, 3), rng)
    episodes = random_episodes(rng, T=7)
    per_episode = protonets.accuracy(params, *episodes)
    assert per_episode.shape == (7,) and ((0 <= per_episode) & (per_episode <= 1)).all()
    assert protonets.evaluate(params, episodes, batch_size=3) == pytest.approx(per_episode)


def test_short_training_beats_pixel_nearest_neighbour_on_held_out_scripts():
    data = glyphs.load_glyphs(seed=0)
    rng = numpy.random.default_rng(0)
    params = protonets.init_embedding(rng=rng)
    sample = glyphs.episode_sampler(data, data.background, n_way=5, n_query=5)
    calls = []
    params, losses = protonets.train(params, rng, 100, sample, meta_batch=8, k=1,
                                     callback=lambda i, loss, p: calls.append(i))
    assert calls == list(range(100)) and losses.shape == (100,)
    assert losses[-20:].mean() < 0.75 * losses[:5].mean()
    test = glyphs.sample_episodes(data.images, data.evaluation, 5, 1, 5, 300,
                                  numpy.random.default_rng(1))
    ours, pixels = protonets.evaluate(params, test), glyphs.nearest_neighbour_accuracy(test)
    half_width = [1.96 * a.std(ddof=1) / numpy.sqrt(len(a)) for a in (ours, pixels)]
    assert ours.mean() - half_width[0] > pixels.mean() + half_width[1]  # measured: 0.62 vs 0.40
