"""The MAML family (variants.py): each method's update checked on a case with a known answer,
and the comparison's short run end to end (issue 12)."""
import json
import re

import numpy
import pytest
from autograd import grad

import demo_variants
import checkpoints
import maml
import tasks
import variants


@pytest.fixture
def rng():
    return numpy.random.default_rng(0)


def constant_tasks(values, k=4):
    """Tasks y = c_i at x = 0: for a network f(x) = xW + b, L_i = (b − c_i)²."""
    c = numpy.asarray(values, dtype=float)[:, None, None] * numpy.ones((1, k, 1))
    x = numpy.zeros_like(c)
    return tasks.Batch(x, c, x, c, numpy.ones(len(values)), numpy.zeros(len(values)))


@pytest.mark.parametrize("alpha, steps", [(0.1, 1), (0.1, 5), (0.3, 3)])
def test_reptile_direction_on_a_quadratic(alpha, steps):
    """SGD on (b − c)² gives b' = c + (1 − 2α)^s (b − c), so θ − mean θ' is
    (1 − (1 − 2α)^s)(b − mean c)."""
    params = [(numpy.array([[0.7]]), numpy.array([2.0]))]
    batch = constant_tasks([0.5, -1.0, 3.0])
    direction, _ = variants.reptile_direction(params, batch, alpha=alpha, steps=steps)
    expected = (1 - (1 - 2 * alpha) ** steps) * (2.0 - numpy.mean([0.5, -1.0, 3.0]))
    numpy.testing.assert_allclose(direction[0][1], [expected], rtol=1e-12)
    numpy.testing.assert_allclose(direction[0][0], [[0.0]], atol=1e-15)  # x = 0: W untouched


def test_reptile_moves_toward_the_adapted_weights(rng):
    params = maml.init_mlp((1, 10, 1), rng, std=0.5)
    batch = tasks.sample_batch(5, 10, 10, rng)
    direction, _ = variants.reptile_direction(params, batch, alpha=0.01, steps=3)
    x = numpy.concatenate([batch.x_support, batch.x_query], axis=1)
    y = numpy.concatenate([batch.y_support, batch.y_query], axis=1)
    adapted = [maml.adapt(params, x[i], y[i], alpha=0.01, steps=3) for i in range(5)]
    for layer, (dW, db) in enumerate(direction):
        numpy.testing.assert_allclose(
            dW, params[layer][0] - numpy.mean([a[layer][0] for a in adapted], axis=0), rtol=1e-9)
        numpy.testing.assert_allclose(
            db, params[layer][1] - numpy.mean([a[layer][1] for a in adapted], axis=0), rtol=1e-9)


def test_anil_gradient_is_maml_with_a_frozen_body(rng):
    """ANIL = MAML whose inner step leaves the body alone: a per-task loop that takes MAML's
    inner step and then puts the body back gives the same loss and the same exact gradient."""
    params = maml.init_mlp((1, 12, 12, 1), rng, std=0.5)
    batch = tasks.sample_batch(4, 5, 6, rng)

    def frozen_body_maml(params):
        total = 0.0
        for xs, ys, xq, yq in zip(*batch[:4]):
            adapted = params
            for _ in range(2):
                step = maml.inner_update(adapted, xs, ys, 0.1)
                # list(): autograd's boxed list does not support + (its gradient leaks boxes)
                adapted = list(params[:-1]) + list(step[-1:])
            total = total + maml.loss(adapted, xq, yq)
        return total / 4

    anil = variants.anil_loss(params, *batch[:4], alpha=0.1, steps=2)
    numpy.testing.assert_allclose(anil, frozen_body_maml(params), rtol=1e-12)
    ours = grad(variants.anil_loss)(params, *batch[:4], alpha=0.1, steps=2)
    reference = grad(frozen_body_maml)(params)
    for (W, b), (W2, b2) in zip(ours, reference):
        numpy.testing.assert_allclose(W, W2, rtol=1e-9, atol=1e-14)
        numpy.testing.assert_allclose(b, b2, rtol=1e-9, atol=1e-14)
    assert numpy.abs(ours[0][0]).max() > 0  # the outer loop does reach the body


def test_anil_gradient_matches_finite_differences(rng):
    params = maml.init_mlp((1, 8, 8, 1), rng, std=0.5)
    batch = tasks.sample_batch(3, 5, 5, rng)
    g = grad(variants.anil_loss)(params, *batch[:4], alpha=0.1)
    for _ in range(4):
        direction = [(rng.normal(size=W.shape), rng.normal(size=b.shape)) for W, b in params]
        shift = lambda s: [(W + s * dW, b + s * db)  # noqa: E731
                           for (W, b), (dW, db) in zip(params, direction)]
        eps = 1e-5
        numeric = (variants.anil_loss(shift(eps), *batch[:4], alpha=0.1)
                   - variants.anil_loss(shift(-eps), *batch[:4], alpha=0.1)) / (2 * eps)
        analytic = sum((gW * dW).sum() + (gb * db).sum() for (gW, gb), (dW, db)
                       in zip(g, direction))
        assert abs(numeric - analytic) <= 1e-6 * abs(analytic)


def test_the_oracle_sees_the_task_parameters_and_nothing_else(rng):
    batch = tasks.sample_batch(6, 5, 7, rng)
    inputs = variants.oracle_inputs(batch.x_query, batch.amplitude, batch.phase)
    assert inputs.shape == (6, 7, 3)
    numpy.testing.assert_array_equal(inputs[..., 0], batch.x_query[..., 0])
    numpy.testing.assert_array_equal(inputs[..., 1], numpy.repeat(batch.amplitude[:, None], 7, 1))
    numpy.testing.assert_array_equal(inputs[..., 2], numpy.repeat(batch.phase[:, None], 7, 1))
    params = maml.init_mlp((3, 10, 1), rng, std=0.5)
    garbage = batch._replace(x_support=batch.x_support * 0 + 9.0, y_support=batch.y_support * 0)
    a = variants.evaluate_oracle(params, batch, max_steps=2)
    b = variants.evaluate_oracle(params, garbage, max_steps=2)
    numpy.testing.assert_array_equal(a.mean, b.mean)  # support sets are never looked at
    assert numpy.all(a.mean == a.mean[0])             # and it does not adapt


def test_every_method_trains_from_the_same_start_on_the_same_tasks(rng):
    init = maml.init_mlp((1, 8, 1), rng)
    seen = []
    for method in variants.METHODS:
        seen.append([])
        variants.train_method(method, init, numpy.random.default_rng(5), 3,
                              callback=lambda i, loss, p, s=seen[-1]: s.append(i))
        assert seen[-1] == [0, 1, 2]
    # the oracle's weights for x start as everyone's
    params, _ = variants.train_method("oracle", init, numpy.random.default_rng(5), 0)
    numpy.testing.assert_array_equal(params[0][0][:1], init[0][0])
    assert params[0][0].shape == (3, 8)


def test_short_comparison_writes_a_complete_variants_json(tmp_path, capsys):
    out = tmp_path / "out"
    assert demo_variants.main(["--iterations", "5", "--eval-tasks", "3", "--speed-iterations",
                               "1", "--quiet", "--out", str(out), "--save",
                               str(tmp_path / "ckpt")]) == 0
    data = json.loads((out / "variants.json").read_text())
    assert list(data["methods"]) == list(variants.METHODS)
    assert len(data["results"]) == len(variants.METHODS) * 2 * 11
    assert all(numpy.isfinite(r["mse"]) and r["ci95"] >= 0 for r in data["results"])
    assert set(data["speed"]["methods"]) == set(variants.METHODS)
    for method in variants.METHODS:
        params, metadata = checkpoints.load_params(tmp_path / "ckpt" / f"{method}.npz")
        assert metadata["method"] == method and metadata["training"]["iterations"] == 5
        assert metadata["test_alpha"] == 0.01
    printed = capsys.readouterr().out
    assert demo_variants.printed_table(data, data["protocol"]["training"]) in printed
    assert set(data["step_sizes"]) == {"meta-sgd", "per-layer-alpha"}
    assert demo_variants.step_size_table(data) in printed
    per_weight = {a["array"]: a for a in data["step_sizes"]["meta-sgd"]}
    assert per_weight["W1"]["n"] == 40 * 40 and per_weight["b2"]["n"] == 1
    assert all(a["n"] == 1 for a in data["step_sizes"]["per-layer-alpha"])
    # the saved checkpoints give the same numbers again
    assert demo_variants.main(["--load", str(tmp_path / "ckpt"), "--eval-tasks", "3",
                               "--speed-iterations", "0", "--quiet",
                               "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "variants.json").read_text())
    assert again["results"] == data["results"]


@pytest.mark.parametrize("argv, message", [
    (["--methods", "maml-2"], "unknown method 'maml-2'"),
    (["--iterations", "0"], "--iterations must be from 1"),
    (["--load", "{tmp}/none"], "no such folder of checkpoints"),
    (["--methods", "anil,anil"], "names 'anil' twice"),
    (["--force"], "no --save given"),
    (["--out", ""], "--out must name a folder"),
    (["--k", "0"], "--k must be from 1"),
])
def test_bad_flags_exit_2(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert demo_variants.main(["--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


# --- the inner step learned: Meta-SGD and per-layer α ------------------------------------------

@pytest.mark.parametrize("per_weight, steps", [(True, 1), (False, 1), (True, 2), (False, 3)])
def test_learned_steps_all_equal_to_alpha_are_maml(rng, per_weight, steps):
    """With every learned step size equal to α, Meta-SGD's and per-layer α's inner step is
    MAML's: the same query loss and the same meta-gradient for θ."""
    params = maml.init_mlp((1, 8, 8, 1), rng, std=0.5)
    batch = tasks.sample_batch(4, 5, 6, rng)
    full = params + variants.init_step_sizes(params, rng, alpha=0.03, per_weight=per_weight)
    ours = variants.learned_step_loss(full, *batch[:4], steps=steps)
    numpy.testing.assert_allclose(ours, maml.maml_loss(params, *batch[:4], alpha=0.03,
                                                       steps=steps), rtol=1e-12)
    g_ours = grad(variants.learned_step_loss)(full, *batch[:4], steps=steps)[:len(params)]
    g_maml = grad(maml.maml_loss)(params, *batch[:4], alpha=0.03, steps=steps)
    for (W, b), (W2, b2) in zip(g_ours, g_maml):
        numpy.testing.assert_allclose(W, W2, rtol=1e-9, atol=1e-14)
        numpy.testing.assert_allclose(b, b2, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("alpha", [0.1, 0.3, -0.2])
def test_step_size_gradient_on_a_quadratic(alpha):
    """f(x) = xW + b at x = 0: L_i = (b − c_i)², b' = b − 2α(b − c_i), the query loss
    (1 − 2α)²(b − c_i)², so ∂/∂α of its mean over tasks is mean −4(1 − 2α)(b − c_i)²; W's
    gradient is 0 at x = 0, so W's step size gets no gradient."""
    params = [(numpy.array([[0.7]]), numpy.array([2.0]))]
    c = numpy.array([0.5, -1.0, 3.0])
    batch = constant_tasks(c)
    full = params + [(numpy.array([[alpha]]), numpy.array([alpha]))]
    g = grad(variants.learned_step_loss)(full, *batch[:4])
    numpy.testing.assert_allclose(g[1][1], [numpy.mean(-4 * (1 - 2 * alpha) * (2.0 - c) ** 2)],
                                  rtol=1e-12)
    numpy.testing.assert_allclose(g[1][0], [[0.0]], atol=1e-15)


@pytest.mark.parametrize("per_weight", [True, False])
def test_learned_step_gradient_matches_finite_differences(rng, per_weight):
    """The exact meta-gradient for θ and α together, second order included (random step sizes
    of both signs, a smooth point away from ReLU kinks by a small step)."""
    params = maml.init_mlp((1, 8, 8, 1), rng, std=0.5)
    sizes = variants.init_step_sizes(params, rng, per_weight=per_weight,
                                     alpha_range=(-0.05, 0.1))
    full = params + sizes
    batch = tasks.sample_batch(3, 5, 5, rng)
    g = grad(variants.learned_step_loss)(full, *batch[:4])
    for _ in range(4):
        direction = [(rng.normal(size=W.shape), rng.normal(size=b.shape)) for W, b in full]
        shift = lambda s: [(W + s * dW, b + s * db)  # noqa: E731
                           for (W, b), (dW, db) in zip(full, direction)]
        eps = 1e-6
        numeric = (variants.learned_step_loss(shift(eps), *batch[:4])
                   - variants.learned_step_loss(shift(-eps), *batch[:4])) / (2 * eps)
        analytic = sum((gW * dW).sum() + (gb * db).sum() for (gW, gb), (dW, db)
                       in zip(g, direction))
        assert abs(numeric - analytic) <= 1e-5 * abs(analytic)


def test_evaluate_learned_step_with_alpha_everywhere_is_maml_evaluate(rng):
    params = maml.init_mlp((1, 8, 8, 1), rng, std=0.3)
    batch = tasks.sample_batch(5, 5, 20, rng)
    for per_weight in (True, False):
        full = params + variants.init_step_sizes(params, rng, alpha=0.02, per_weight=per_weight)
        ours = variants.evaluate_learned_step(full, *batch[:4], max_steps=4)
        reference = maml.evaluate(params, *batch[:4], alpha=0.02, max_steps=4)
        numpy.testing.assert_allclose(ours.mean, reference.mean, rtol=1e-10)
        numpy.testing.assert_allclose(ours.per_task, reference.per_task, rtol=1e-10)


def test_learned_step_sizes_are_trained_and_saved_with_theta(rng):
    init = maml.init_mlp((1, 8, 8, 1), rng)
    for method, shapes in (("meta-sgd", [W.shape for W, _ in init]),
                           ("per-layer-alpha", [(1, 1)] * 3)):
        params, losses = variants.train_method(method, init, numpy.random.default_rng(3), 30)
        theta, sizes = variants.split_steps(params)
        assert [a.shape for a, _ in sizes] == shapes and len(losses) == 30
        assert all(not numpy.allclose(a, 0.01) for a, _ in sizes)  # Adam moved them


def test_step_sizes_start_at_alpha_or_in_the_range(rng):
    params = maml.init_mlp((1, 8, 8, 1), rng)
    fixed = variants.init_step_sizes(params, rng, alpha=0.05)
    assert all(numpy.all(a == 0.05) and numpy.all(c == 0.05) for a, c in fixed)
    drawn = variants.init_step_sizes(params, numpy.random.default_rng(7), alpha_range=(0.005, 0.1))
    again = variants.init_step_sizes(params, numpy.random.default_rng(7), alpha_range=(0.005, 0.1))
    values = numpy.concatenate([a.ravel() for pair in drawn for a in pair])
    assert values.min() >= 0.005 and values.max() <= 0.1 and values.std() > 0.01
    assert all(numpy.array_equal(a, b) for p, q in zip(drawn, again) for a, b in zip(p, q))


@pytest.mark.parametrize("shapes", [
    [((1, 4), (4,)), ((4, 1), (1,)), ((1, 4), (4,))],                 # an odd number of pairs
    [((1, 4), (4,)), ((4, 1), (1,)), ((1, 4), (4,)), ((4, 2), (2,))],  # α not of θ's shapes
])
def test_split_steps_names_what_is_wrong(shapes):
    params = [(numpy.zeros(a), numpy.zeros(b)) for a, b in shapes]
    with pytest.raises(ValueError, match="learned-step model is θ's"):
        variants.split_steps(params)


def test_validation_tasks_are_not_the_held_out_ones(tmp_path):
    """--validation evaluates on tasks of a stream of their own (for choosing settings)."""
    runs = {}
    for name, extra in (("held", []), ("validation", ["--validation"])):
        assert demo_variants.main(["--iterations", "2", "--methods", "maml-1", "--eval-tasks",
                                   "3", "--speed-iterations", "0", "--quiet", "--out",
                                   str(tmp_path / name), *extra]) == 0
        runs[name] = json.loads((tmp_path / name / "variants.json").read_text())
    assert runs["validation"]["protocol"]["evaluation"]["validation_tasks"] == 3
    assert "held_out_tasks" not in runs["validation"]["protocol"]["evaluation"]
    assert runs["held"]["results"][0]["mse"] != runs["validation"]["results"][0]["mse"]


@pytest.mark.parametrize("sizes, message", [
    ("0.01", "step_sizes must be a non-empty list of (W, b) pairs"),
    ([(numpy.full((1, 3), 0.01), numpy.full(3, 0.01))], "one (W, b) pair per layer"),
    ([(numpy.full((1, 3), numpy.nan), numpy.full(3, 0.01)),
      (numpy.full((3, 1), 0.01), numpy.full(1, 0.01))], "NaN or infinite"),
])
def test_learned_step_update_names_bad_step_sizes(rng, sizes, message):
    params = maml.init_mlp((1, 3, 1), rng)
    batch = tasks.sample_batch(2, 4, 4, rng)
    with pytest.raises(ValueError, match=re.escape(message)):
        variants.learned_step_update(params, sizes, batch.x_support, batch.y_support)


def test_the_variants_figure_shows_the_share_of_tasks_that_diverged():
    """The means leave diverged tasks out, so the figure's second row shows how many there
    were: the share after each step, for the methods where any diverged."""
    import matplotlib
    matplotlib.use("Agg")
    import figures
    calm = numpy.tile(numpy.linspace(3.0, 0.5, 4)[:, None], (1, 8))  # (steps + 1, tasks)
    wild = calm.copy()
    wild[2:, :2], wild[3:, 2] = numpy.inf, 1e9  # 2 of 8 tasks diverge at step 2, 3 at step 3
    results = {(m, k): maml.summarise(loss) for m, loss in (("calm", calm), ("wild", wild))
               for k in (5, 10)}
    fig = figures.curves(results, {"calm": "calm", "wild": "wild"}, (5, 10), "steps", "MSE",
                         diverged_row=True)
    top, bottom = fig.axes[0], fig.axes[2]
    assert [len(line.get_ydata()) for line in top.lines if len(line.get_ydata())] == [4, 4]
    (line,) = bottom.lines  # the calm method is named, not drawn
    assert line.get_ydata().tolist() == [0, 0, 25, 37.5]
    assert "none diverged: 1 of 2" in bottom.texts[0].get_text()
    assert fig._supxlabel.get_text() == "steps"
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_a_cosine_decayed_meta_learning_rate_falls_to_zero_and_is_saved_and_loaded(tmp_path):
    """--meta-lr-decay cosine: Adam's step size goes from --meta-lr to 0 along half a cosine;
    the checkpoint records it, --load gives the same numbers, and without the flag nothing
    changes (the protocol has no such key)."""
    assert maml.lr_at(1e-3, 0, 100, "cosine") == 1e-3
    assert maml.lr_at(1e-3, 50, 100, "cosine") == pytest.approx(5e-4)
    assert 0 < maml.lr_at(1e-3, 99, 100, "cosine") < 3e-7
    assert maml.lr_at(1e-3, 99, 100) == 1e-3
    init = maml.init_mlp((1, 40, 40, 1), numpy.random.default_rng(0))
    plain, _ = variants.train_method("maml-1", init, numpy.random.default_rng(1), 5)
    decayed, _ = variants.train_method("maml-1", init, numpy.random.default_rng(1), 5,
                                       decay="cosine")
    first = lambda params: params[0][0]  # noqa: E731
    assert not numpy.allclose(first(plain), first(decayed))
    with pytest.raises(ValueError, match="decay must be one of 'cosine'"):
        variants.train_method("maml-1", init, numpy.random.default_rng(1), 5, decay="linear")
    out = []
    for extra, name in ((["--iterations", "4", "--meta-lr-decay", "cosine", "--save",
                          str(tmp_path / "ck")], "a"), (["--load", str(tmp_path / "ck")], "b")):
        folder = tmp_path / name
        assert demo_variants.main(["--methods", "maml-1,meta-sgd", "--eval-tasks", "2",
                                   "--speed-iterations", "0", "--quiet", "--out", str(folder),
                                   *extra]) == 0
        out.append((folder / "variants.json").read_bytes())
    assert out[0] == out[1]
    assert json.loads(out[0])["protocol"]["training"]["meta_lr_decay"] == "cosine"
    assert "meta_lr_decay" not in demo_variants.settings(demo_variants.parse_args([]))


@pytest.mark.parametrize("flag", ["--iterations=5", "--k=5", "--meta-batch=5", "--meta-lr=0.01",
                                  "--meta-lr-decay=cosine", "--paper", "--save=x"])
def test_load_refuses_every_flag_that_only_sets_how_to_train(flag, capsys):
    """They used to be ignored silently with --load (all but three): the checkpoints say how
    the models were trained."""
    assert demo_variants.main(["--load", "checkpoints/variants", flag]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"drop {flag.split('=')[0]} (it sets how to train)" in line
