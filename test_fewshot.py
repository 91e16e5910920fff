"""Few-shot classification: the read-outs (fewshot.py) do what they say on problems whose answer
is known, MAML's fixes remove the dependence on label order by construction, the learned step
and ANIL are maml.py's step where they should be, and demo_fewshot.py end to end: a short
seeded run writes complete results that --load reproduces, and bad flags are one line."""
import json

import numpy
import pytest
from autograd import grad

import demo_fewshot
import fewshot
import glyphs
import maml


def toy_episodes(rng, T=20, N=5, K=3, Q=4, D=8, spread=0.3):
    """T episodes of N well-separated Gaussian classes in D dimensions: Episodes."""
    centres = rng.normal(size=(T, N, D)) * 3
    label_s, label_q = numpy.repeat(numpy.arange(N), K), numpy.repeat(numpy.arange(N), Q)
    x_s = centres[:, label_s] + spread * rng.normal(size=(T, N * K, D))
    x_q = centres[:, label_q] + spread * rng.normal(size=(T, N * Q, D))
    eye = numpy.eye(N)
    return glyphs.Episodes(x_s, numpy.broadcast_to(eye[label_s], (T, N * K, N)), x_q,
                           numpy.broadcast_to(eye[label_q], (T, N * Q, N)),
                           numpy.broadcast_to(numpy.arange(N), (T, N)))


# --- read-outs ---------------------------------------------------------------------------------

def test_cosine_centroid_is_perfect_on_separable_classes():
    e = toy_episodes(numpy.random.default_rng(0))
    scores = fewshot.cosine_centroid(e.x_support, e.y_support, e.x_query)
    assert scores.shape == e.y_query.shape
    assert (fewshot.accuracy(scores, e.y_query) == 1).all()
    assert numpy.all(numpy.abs(scores) <= 1 + 1e-12)  # cosines


def test_cosine_centroid_uses_directions_not_lengths():
    """A query far along class 0's direction goes to class 0 even if it is nearer class 1."""
    zs = numpy.array([[[1.0, 0.0], [0.0, 1.0]]])
    y = numpy.eye(2)[None]
    zq = numpy.array([[[0.2, 0.01], [0.01, 5.0]]])
    assert fewshot.accuracy(fewshot.cosine_centroid(zs, y, zq), y).tolist() == [1.0]


def test_logistic_regression_reaches_the_optimum():
    """The fit's gradient vanishes (it is the one minimum of a strongly convex loss), and a
    much longer run does not find a lower loss."""
    rng = numpy.random.default_rng(1)
    e = toy_episodes(rng, T=6, spread=2.0)  # overlapping classes: a finite optimum
    x = fewshot.normalise(e.x_support)
    for l2 in demo_fewshot.L2_GRID:  # every λ the demo may choose, the smallest the slowest
        W, b = fewshot.fit_logistic_regression(x, e.y_support, l2)
        g_W, g_b = fewshot.regression_gradient(W, b, x, e.y_support, l2)
        assert numpy.abs(g_W).max() < 1e-7 and numpy.abs(g_b).max() < 1e-7
        W_long, b_long = fewshot.fit_logistic_regression(x, e.y_support, l2, steps=5000)
        loss = fewshot.regression_loss(W, b, x, e.y_support, l2)
        assert numpy.allclose(loss, fewshot.regression_loss(W_long, b_long, x, e.y_support, l2),
                              atol=1e-9)
        for _ in range(5):  # and no nearby point is lower
            step = 1e-3 * rng.normal(size=W.shape)
            assert (fewshot.regression_loss(W + step, b, x, e.y_support, l2) >= loss).all()


def test_regression_gradient_matches_autograd():
    import autograd.numpy as anp
    rng = numpy.random.default_rng(2)
    e = toy_episodes(rng, T=2)
    W, b = rng.normal(size=(2, 8, 5)), rng.normal(size=(2, 1, 5))

    def loss(W, b):
        s = e.x_support @ W + b
        log_p = s - anp.log(anp.sum(anp.exp(s), axis=-1, keepdims=True))
        return anp.sum(-anp.mean(anp.sum(e.y_support * log_p, -1), -1)
                       + 0.05 * anp.sum(W ** 2, axis=(1, 2)))

    g_W, g_b = fewshot.regression_gradient(W, b, e.x_support, e.y_support, 0.1)
    numpy.testing.assert_allclose(g_W, grad(loss, 0)(W, b), rtol=1e-10)
    numpy.testing.assert_allclose(g_b, grad(loss, 1)(W, b), rtol=1e-10)


def test_linear_head_first_step_does_not_depend_on_alpha():
    """One step from a zero head sets it to α·(class sums − mean): the accuracy is the same
    whatever α is; the later steps are where α matters."""
    e = toy_episodes(numpy.random.default_rng(3), spread=3.0)
    first = [fewshot.accuracy(fewshot.linear_head(e.x_support, e.y_support, e.x_query, a, 1)[1],
                              e.y_query) for a in (1e-4, 0.1, 10.0)]
    assert all(numpy.array_equal(first[0], f) for f in first)
    scores = fewshot.linear_head(e.x_support, e.y_support, e.x_query, 0.1, 3)
    assert len(scores) == 4 and not scores[0].any()


def test_every_readout_ignores_the_order_of_the_labels():
    rng = numpy.random.default_rng(4)
    e = toy_episodes(rng, spread=3.0)  # hard enough that accuracy is not all 1
    shuffled, _ = fewshot.permute_labels(e, rng)
    for readout in (lambda z_s, y, z_q: fewshot.cosine_centroid(z_s, y, z_q),
                    lambda z_s, y, z_q: fewshot.logistic_regression(z_s, y, z_q, 0.1),
                    lambda z_s, y, z_q: fewshot.linear_head(z_s, y, z_q, 0.5, 5)[-1]):
        a = fewshot.accuracy(readout(e.x_support, e.y_support, e.x_query), e.y_query)
        b = fewshot.accuracy(readout(e.x_support, shuffled.y_support, e.x_query),
                             shuffled.y_query)
        assert numpy.array_equal(a, b) and 0 < a.mean() < 1


def test_the_readouts_of_huge_features_are_those_of_the_features_scaled_down():
    """‖z‖² of features near 1e300 overflows: normalise used to give [0, 0] and the cosine
    centroid all-zero scores. Each vector is scaled by its largest magnitude first."""
    numpy.testing.assert_allclose(fewshot.normalise([[1e300, 1e300]]), [[0.5 ** 0.5] * 2])
    numpy.testing.assert_allclose(fewshot.normalise(numpy.array([3e-320, 4e-320])), [0.6, 0.8],
                                  rtol=1e-3)     # subnormals: their squares underflow to 0
    e = toy_episodes(numpy.random.default_rng(5), T=3, spread=3.0)
    for readout in (fewshot.cosine_centroid, fewshot.logistic_regression):
        small = readout(e.x_support, e.y_support, e.x_query)
        numpy.testing.assert_allclose(readout(e.x_support * 1e300, e.y_support,
                                              e.x_query * 1e300), small, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda e: fewshot.logistic_regression(*e[:3], l2=numpy.nan), "l2 (the L2 penalty λ) must"),
    (lambda e: fewshot.logistic_regression(*e[:3], l2=-1), "finite number >= 0, got -1"),
    (lambda e: fewshot.logistic_regression(*e[:3], steps=-5), "steps must be a whole number"),
    (lambda e: fewshot.logistic_regression(*e[:3], steps=2.5), "from 0 to 1,000, got 2.5"),
    (lambda e: fewshot.logistic_regression(*e[:3], steps=10 ** 12), "from 0 to 1,000"),
    (lambda e: fewshot.linear_head(*e[:3], numpy.nan, 3), "alpha (the inner step size) must"),
    (lambda e: fewshot.linear_head(*e[:3], 0.1, -1), "steps must be a whole number"),
    (lambda e: fewshot.linear_head(*e[:3], 0.1, 10 ** 9), "from 0 to 1,000"),
    (lambda e: fewshot.linear_head(*e[:3], 1e305, 3), "linear_head's scores could reach"),
    (lambda e: fewshot.linear_head(e.x_support * 1e200, *e[1:3], 0.1, 3), "scores could reach"),
    (lambda e: fewshot.cosine_centroid(e.x_support, e.y_support * [1, 1, 1, 1, 0], e.x_query),
     "ys: class 4 of episode 0 has no support point"),
    (lambda e: fewshot.cosine_centroid(e.x_support, e.y_support, e.x_query[:, :, :3]),
     "zs, ys and zq must be T episodes of"),
    (lambda e: fewshot.normalise("0.1"), "z must be a numpy array of real numbers"),
    (lambda e: fewshot.normalise([1.0, numpy.inf]), "z contains NaN or infinite values"),
    (lambda e: fewshot.interval([]), "values must hold at least 2 numbers"),
    (lambda e: fewshot.interval([0.5]), "values must hold at least 2 numbers"),
    (lambda e: fewshot.interval([0.5, numpy.nan]), "values contains NaN"),
    (lambda e: fewshot.interval([1e300, -1e300]), "values must be at most 1e+50 in size"),
])
def test_bad_readout_arguments_are_one_clear_error(call, message):
    """Each used to give NaN, zero scores, a raw ZeroDivisionError or TypeError, or run for
    hours (steps=10**12): now one ValueError naming the argument, before any work."""
    with pytest.raises(ValueError) as error:
        call(toy_episodes(numpy.random.default_rng(6), T=2))
    assert message in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_permute_labels_keeps_each_label_with_its_class():
    data = glyphs.load_glyphs()
    e = glyphs.sample_episodes(data.images, data.evaluation, 5, 1, 2, 4,
                               numpy.random.default_rng(0))
    shuffled, order = fewshot.permute_labels(e, numpy.random.default_rng(1))
    flat = data.images.reshape(len(data.images), data.images.shape[1], -1)
    for t in range(4):
        for x, y in zip(shuffled.x_support[t], shuffled.y_support[t]):
            assert (flat[shuffled.classes[t, y.argmax()]] == x).all(axis=1).any()
    assert not (order == numpy.arange(5)).all()


# --- MAML's fixes --------------------------------------------------------------------------------

def small_net(rng, sizes=(8, 16, 12, 5)):
    params = maml.init_mlp(sizes, rng, std=0.5)
    *body, (W, b) = params
    return body + [(W, b + rng.normal(size=b.shape))]  # a head that prefers some labels


@pytest.mark.parametrize("steps", [1, 3])
def test_zeroing_trick_makes_accuracy_exactly_invariant_to_label_order(steps):
    """With a learned head, permuting the labels changes MAML's episodes; with the head zeroed
    at the start of the inner loop, not one episode changes, after one step or several."""
    rng = numpy.random.default_rng(5)
    e = toy_episodes(rng, T=60, spread=4.0)
    shuffled, _ = fewshot.permute_labels(e, rng)
    params = small_net(rng)

    def score(params, episodes):
        return fewshot.maml_curve(params, episodes, 0.5, steps)[steps]

    plain = numpy.abs(score(params, e) - score(params, shuffled))
    assert plain.max() > 0  # the test can fail: label order matters without the fix
    zeroed = fewshot.zero_head(params)
    assert numpy.array_equal(score(zeroed, e), score(zeroed, shuffled))


def test_zeroing_trick_first_step_moves_only_the_head_to_the_class_sums():
    rng = numpy.random.default_rng(6)
    e = toy_episodes(rng, T=3)
    zeroed = fewshot.zero_head(small_net(rng))
    adapted = maml.adapt(zeroed, e.x_support, e.y_support, 0.5, loss_fn=maml.cross_entropy)
    for (W, b), (W1, b1) in zip(zeroed[:-1], adapted[:-1]):
        assert numpy.array_equal(W1[0], W) and numpy.array_equal(b1[0, 0], b)
    z = fewshot.features(zeroed, e.x_support)
    S, N = e.y_support.shape[1:]
    expected = 0.5 / S * numpy.swapaxes(z, 1, 2) @ (e.y_support - 1 / N)
    numpy.testing.assert_allclose(adapted[-1][0], expected, atol=1e-12)
    numpy.testing.assert_allclose(adapted[-1][1], 0, atol=1e-12)  # balanced classes


def test_zeroing_train_keeps_the_head_zero_and_learns():
    data = glyphs.load_glyphs()
    sample = glyphs.episode_sampler(data.images, data.background[:200], 5, 2)
    params = maml.init_mlp((784, 16, 5), numpy.random.default_rng(0), std=0.05)
    trained, losses = fewshot.zeroing_train(params, numpy.random.default_rng(1), 30,
                                            meta_batch=4, sample_tasks=sample)
    assert not trained[-1][0].any() and not trained[-1][1].any()
    assert losses[-10:].mean() < losses[:5].mean()
    assert not numpy.array_equal(trained[0][0], params[0][0])


def test_anil_moves_only_the_head_and_its_gradient_reaches_the_body():
    rng = numpy.random.default_rng(7)
    e = toy_episodes(rng, T=4)
    params = small_net(rng)
    body, head = fewshot.anil_adapt(params, e.x_support, e.y_support, 0.5, steps=2)
    assert all(w is p for w, p in zip(body, params[:-1]))
    z = fewshot.features(params, e.x_support)
    expected = maml.adapt([params[-1]], z, e.y_support, 0.5, 2, loss_fn=maml.cross_entropy)[0]
    numpy.testing.assert_allclose(head[0], expected[0], rtol=1e-10)
    g = grad(fewshot.anil_loss)(params, *e[:4], 0.5)
    assert numpy.abs(g[0][0]).max() > 0


def test_learned_step_with_equal_step_sizes_is_maml_step_and_its_alpha_gradient_is_right():
    rng = numpy.random.default_rng(8)
    e = toy_episodes(rng, T=3)
    params = small_net(rng)
    for per_weight in (True, False):
        alphas = fewshot.init_step_sizes(params, 0.3, per_weight)
        mine = fewshot.learned_step(params, alphas, e.x_support, e.y_support)
        theirs = maml.inner_update(params, e.x_support, e.y_support, 0.3,
                                   loss_fn=maml.cross_entropy)
        for a, b in zip(mine, theirs):
            numpy.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    alphas = fewshot.init_step_sizes(params, 0.3, per_weight=False)
    g = grad(fewshot.learned_step_loss, 1)(params, alphas, *e[:4])
    h = 1e-6
    for layer in range(len(alphas)):
        up = [tuple(a + h * (i == layer) for a in pair) for i, pair in enumerate(alphas)]
        down = [tuple(a - h * (i == layer) for a in pair) for i, pair in enumerate(alphas)]
        numeric = (fewshot.learned_step_loss(params, up, *e[:4])
                   - fewshot.learned_step_loss(params, down, *e[:4])) / (2 * h)
        numpy.testing.assert_allclose(g[layer][0].sum() + g[layer][1].sum(), numeric,
                                      rtol=1e-5, atol=1e-9)


# --- the demo ----------------------------------------------------------------------------------

SHORT = ["--iterations", "2", "--eval-episodes", "6", "--val-episodes", "4", "--quiet"]


def test_short_run_writes_complete_results_that_load_reproduces(tmp_path, capsys):
    out, saved = tmp_path / "out", tmp_path / "models"
    assert demo_fewshot.main([*SHORT, "--out", str(out), "--save", str(saved)]) == 0
    report = json.loads((out / "fewshot.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(demo_fewshot.OUTPUTS)
    rows = report["results"]
    assert len(rows) == len(demo_fewshot.COLUMNS) * (
        len(demo_fewshot.METHODS) * len(demo_fewshot.READOUTS) - 1 + 1)  # pretrained: 3
    assert all(0 <= r["accuracy"] <= 1 and r["ci95"] >= 0 for r in rows)
    assert set(report["label_permutation"]) == set(demo_fewshot.HEAD_METHODS)
    for m in ("maml-zero", "fomaml-zero"):  # by construction
        assert report["label_permutation"][m]["episodes_changed"] == 0
    assert all(report["training"][m]["iterations"] == 2 for m in demo_fewshot.METHODS)
    dedup = report["data"]["dedup"]
    assert dedup["after"]["evaluation"] == report["data"]["evaluation_classes"]
    printed = capsys.readouterr().out
    assert "ProtoNets" in printed and max(len(line) for line in printed.splitlines()) < 100
    again = tmp_path / "again"
    assert demo_fewshot.main(["--load", str(saved), "--eval-episodes", "6", "--val-episodes",
                              "4", "--quiet", "--jobs", "3", "--out", str(again)]) == 0
    assert (again / "fewshot.json").read_bytes() == (out / "fewshot.json").read_bytes()


def test_the_pretrained_classifier_gets_the_global_labels():
    data = glyphs.load_glyphs()
    sample = glyphs.episode_sampler(data.images, data.background, 5, 2)
    episodes = demo_fewshot.all_classes(sample, data.background)(3, 1, 2,
                                                                 numpy.random.default_rng(0))
    position = {c: i for i, c in enumerate(data.background)}
    for t in range(3):
        local = sample(3, 1, 2, numpy.random.default_rng(0))
        expected = [position[c] for c in local.classes[t][local.y_query[t].argmax(1)]]
        assert episodes.y_query[t].argmax(1).tolist() == expected
        assert episodes.y_query.shape[2] == len(data.background)


@pytest.mark.parametrize("argv, message", [
    (["--iterations", "0"], "--iterations must be from 1"),
    (["--force"], "no --save given"),
    (["--omniglot", "/no/such/folder"], "no such folder"),
    (["--load", "/no/such/folder"], "no such folder of checkpoints"),
    (["--methods", "maml,reptile"], "unknown method 'reptile'"),
    (["--train-only"], "--train-only saves the models and nothing else"),
])
def test_bad_flags_are_one_line(capsys, argv, message):
    assert demo_fewshot.main(["--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def fake_report(methods, episodes=30):
    """A report with every row table() prints, for methods {name: label}."""
    rows = [dict(method=m, readout=kind, column=c, shots=k, accuracy=0.5, ci95=0.01)
            for m in [*methods, "nearest"] for kind in (("own",) if m == "nearest" else
                                                        demo_fewshot.READOUTS)
            for c, k in demo_fewshot.COLUMNS]
    return dict(results=rows, evaluation=dict(episodes=episodes),
                data=dict(evaluation_classes=100), training={m: {} for m in methods},
                methods={**methods, "nearest": "pixel 1-NN"},
                label_permutation={m: dict(accuracy=0.5, accuracy_permuted=0.5,
                                           episodes_changed=0, episodes=episodes)
                                   for m in methods})


@pytest.mark.parametrize("methods", [
    {m: label for m, (label, _, _) in demo_fewshot.METHODS.items()},
    {"maml": "a label far longer than the table's column of twenty-three"},
    {"protonets-20way": "ProtoNets, 20-way 1-shot", "metasgd-layer": "learned α per layer"}])
def test_the_printed_table_shows_every_name_whole_within_100_columns(methods, monkeypatch):
    monkeypatch.setitem(demo_fewshot.OWN, "maml", "its own read-out, named at length")
    text = demo_fewshot.table(fake_report(methods), fake_report(methods, episodes=31))
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    for label in methods.values():
        assert any(label in line for line in lines), label
    for name in [*demo_fewshot.READOUTS.values()][1:]:
        assert any(name in line for line in lines), name
    if "maml" in methods:
        assert any("its own read-out, named at length" in line for line in lines)


def test_each_evaluation_job_is_announced_once(capsys):
    """A job per method and K: 'evaluating maml' was printed once for each K."""
    jobs = [(lambda *a: a, (m, k)) for m in ("maml", "protonets-20way") for k in (1, 5)]
    assert demo_fewshot.run_jobs(jobs, 1, True) == [a for _, a in jobs]
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["evaluating maml, 1-shot", "evaluating maml, 5-shot",
                     "evaluating protonets-20way, 1-shot", "evaluating protonets-20way, 5-shot"]
