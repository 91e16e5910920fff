"""Tests of the MAML core: exact gradients, vectorisation, behaviour, tasks, checkpoints."""
import os

import autograd.numpy as anp
import numpy
import pytest
from autograd import grad

import checkpoints
import maml
import tasks


@pytest.fixture
def rng():
    return numpy.random.default_rng(0)


@pytest.fixture
def params(rng):
    # larger weights than the paper's init (std 0.01): a generic point, with ReLUs well away
    # from their kinks, so that finite differences are accurate
    return maml.init_mlp((1, 40, 40, 1), rng, std=0.5)


@pytest.fixture
def batch(rng):
    return tasks.sample_batch(5, 10, 10, rng)


def flat(params):
    return numpy.concatenate([p.ravel() for layer in params for p in layer])


def unflat(vector, like):
    out, i = [], 0
    for W, b in like:
        out.append((vector[i:i + W.size].reshape(W.shape), vector[i + W.size:i + W.size + b.size]))
        i += W.size + b.size
    return out


def finite_difference_error(f, params, rng, n_directions=8, eps=1e-5):
    """Largest relative error between grad(f)·v and the central difference along v."""
    g = flat(grad(f)(params))
    theta = flat(params)
    errors = []
    for _ in range(n_directions):
        v = rng.normal(size=theta.shape)
        v /= numpy.linalg.norm(v)
        numeric = (f(unflat(theta + eps * v, params)) - f(unflat(theta - eps * v, params))) / (2 * eps)
        errors.append(abs(numeric - g @ v) / max(abs(numeric), abs(g @ v)))
    return max(errors)


# --- the meta-gradient is exact -----------------------------------------------------------------

@pytest.mark.parametrize("steps", [1, 2])
def test_meta_gradient_matches_finite_differences(params, batch, rng, steps):
    def exact(p):
        return maml.maml_loss(p, *batch[:4], alpha=0.05, steps=steps)

    def first_order(p):
        return maml.maml_loss(p, *batch[:4], alpha=0.05, steps=steps, first_order=True)

    error = finite_difference_error(exact, params, rng)
    assert error < 1e-6, f"exact MAML meta-gradient off by {error:.2e}"
    # The same check must fail for first-order MAML, which drops the second-order term:
    # so the finite differences do see that term, and the exact gradient gets it right.
    g_fo = flat(grad(first_order)(params))
    g_exact = flat(grad(exact)(params))
    assert numpy.linalg.norm(g_fo - g_exact) / numpy.linalg.norm(g_exact) > 1e-3


@pytest.mark.parametrize("a, alpha, theta", [(2.0, 0.1, 1.5), (8.0, 0.05, -0.7), (0.5, 0.3, 2.0)])
def test_closed_form_quadratic(a, alpha, theta):
    # A linear net y = w x + b on the support points x = ±c, y = 0 has L = c² w² + b²,
    # i.e. L(w) = ½ a w² with a = 2c². Then θ' = (1 - αa) θ, and the meta-gradient of
    # L(θ') is a(1 - αa)² θ (exact) or a(1 - αa) θ (first order).
    c = numpy.sqrt(a / 2)
    x = numpy.array([[[c], [-c]]])
    y = numpy.zeros_like(x)
    params = [(numpy.array([[theta]]), numpy.array([0.0]))]
    (dw, _), = grad(maml.maml_loss)(params, x, y, x, y, alpha=alpha)
    (dw_fo, _), = grad(maml.maml_loss)(params, x, y, x, y, alpha=alpha, first_order=True)
    assert dw[0, 0] == pytest.approx(a * (1 - alpha * a) ** 2 * theta, rel=1e-12)
    assert dw_fo[0, 0] == pytest.approx(a * (1 - alpha * a) * theta, rel=1e-12)


def test_alpha_zero_reduces_to_the_plain_gradient(params, batch):
    x_s, y_s, x_q, y_q = batch[:4]
    plain = flat(grad(lambda p: numpy.mean(maml.loss(p, x_q, y_q)))(params))
    for first_order in (False, True):
        g = flat(grad(maml.maml_loss)(params, x_s, y_s, x_q, y_q, alpha=0.0,
                                      first_order=first_order))
        numpy.testing.assert_allclose(g, plain, rtol=1e-12, atol=1e-14)


# --- vectorised over tasks, and each task on its own ----------------------------------------------

def test_mlp_takes_shared_or_per_task_params_and_one_or_many_tasks(params, batch):
    x = batch.x_support                                        # (5, 10, 1)
    shared = maml.mlp(params, x)
    assert maml.mlp(params, x[0]).shape == (10, 1)
    assert shared.shape == (5, 10, 1)
    numpy.testing.assert_allclose(shared[2], maml.mlp(params, x[2]), rtol=1e-12)
    per_task = maml.mlp(maml.per_task(params, 5), x)
    numpy.testing.assert_allclose(per_task, shared, rtol=1e-12)
    assert [W.shape for W, b in maml.per_task(params, 5)] == [(5, 1, 40), (5, 40, 40), (5, 40, 1)]
    assert [b.shape for W, b in maml.per_task(params, 5)] == [(5, 1, 40), (5, 1, 40), (5, 1, 1)]


@pytest.mark.parametrize("steps, first_order", [(1, False), (3, False), (1, True), (3, True)])
def test_vectorised_equals_per_task_loop(params, batch, steps, first_order):
    kwargs = dict(alpha=0.02, steps=steps, first_order=first_order)
    vectorised = maml.maml_loss(params, *batch[:4], **kwargs)
    one_by_one = numpy.mean([maml.maml_loss(params, xs, ys, xq, yq, **kwargs)
                             for xs, ys, xq, yq in zip(*batch[:4])])
    looped = maml.maml_loss_loop(params, *batch[:4], **kwargs)
    assert vectorised == pytest.approx(one_by_one, rel=1e-12)
    assert vectorised == pytest.approx(looped, rel=1e-12)
    g = flat(grad(maml.maml_loss)(params, *batch[:4], **kwargs))
    g_loop = flat(grad(maml.maml_loss_loop)(params, *batch[:4], **kwargs))
    g_tasks = numpy.mean([flat(grad(maml.maml_loss)(params, xs, ys, xq, yq, **kwargs))
                          for xs, ys, xq, yq in zip(*batch[:4])], axis=0)
    numpy.testing.assert_allclose(g, g_loop, rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(g, g_tasks, rtol=1e-12, atol=1e-14)


def test_one_task_never_moves_another_tasks_weights(params, batch):
    x_s, y_s = batch.x_support, batch.y_support
    adapted = maml.adapt(params, x_s, y_s, alpha=0.01, steps=2)
    y_other = y_s.copy()
    y_other[1:] += 3.0  # change every task's data except task 0's
    adapted_other = maml.adapt(params, x_s, y_other, alpha=0.01, steps=2)
    for (W, b), (W2, b2) in zip(adapted, adapted_other):
        numpy.testing.assert_array_equal(W[0], W2[0])
        numpy.testing.assert_array_equal(b[0], b2[0])
        assert not numpy.allclose(W[1], W2[1])
    alone = maml.adapt(params, x_s[0], y_s[0], alpha=0.01, steps=2)
    for (W, b), (W0, b0) in zip(adapted, alone):
        numpy.testing.assert_allclose(W[0], W0, rtol=1e-12, atol=1e-15)
        numpy.testing.assert_allclose(b[0].ravel(), b0, rtol=1e-12, atol=1e-15)


# --- behaviour ------------------------------------------------------------------------------------

def test_one_inner_step_lowers_every_tasks_support_loss(params, batch):
    before = maml.loss(params, batch.x_support, batch.y_support)
    adapted = maml.adapt(params, batch.x_support, batch.y_support, alpha=0.001)
    after = maml.loss(adapted, batch.x_support, batch.y_support)
    assert before.shape == after.shape == (5,)
    assert numpy.all(after < before)


def test_short_meta_training_beats_the_pretrained_baseline():
    # The paper's init, and a 3x larger learning rate than its 1e-3 to keep the test short:
    # 2000 iterations separate the two clearly for each of the seeds 0-3 we tried.
    params = maml.init_mlp((1, 40, 40, 1), numpy.random.default_rng(0))
    maml_params, maml_losses = maml.meta_train(params, numpy.random.default_rng(10), 2000,
                                               meta_lr=3e-3)
    pre_params, pre_losses = maml.pretrain(params, numpy.random.default_rng(10), 2000, lr=3e-3)
    assert maml_losses[-100:].mean() < maml_losses[:100].mean()
    assert pre_losses[-100:].mean() < pre_losses[:100].mean()
    held_out = tasks.sample_batch(200, 10, 50, numpy.random.default_rng(12345))
    after_maml = maml.evaluate(maml_params, *held_out[:4], max_steps=1)
    after_pre = maml.evaluate(pre_params, *held_out[:4], max_steps=1)
    # after one gradient step, MAML's interval sits wholly below the baseline's
    assert after_maml.mean[1] + after_maml.ci95[1] < after_pre.mean[1] - after_pre.ci95[1]


def test_training_is_deterministic_by_seed(params):
    a, losses_a = maml.meta_train(params, numpy.random.default_rng(7), 5)
    b, losses_b = maml.meta_train(params, numpy.random.default_rng(7), 5)
    numpy.testing.assert_array_equal(losses_a, losses_b)
    numpy.testing.assert_array_equal(flat(a), flat(b))
    _, losses_c = maml.meta_train(params, numpy.random.default_rng(8), 5)
    assert not numpy.array_equal(losses_a, losses_c)


def test_training_calls_back_every_iteration(params):
    seen = []
    maml.meta_train(params, numpy.random.default_rng(0), 3, callback=lambda i, l, p: seen.append(i))
    assert seen == [0, 1, 2]


def test_evaluate_reports_mean_and_95_percent_interval(params, rng):
    held_out = tasks.sample_batch(30, 5, 20, rng)
    result = maml.evaluate(params, *held_out[:4], alpha=0.01, max_steps=3)
    assert result.mean.shape == result.ci95.shape == (4,)
    assert result.per_task.shape == (4, 30)
    numpy.testing.assert_allclose(result.mean[0], numpy.mean(maml.loss(params, *held_out[2:4])))
    expected_ci = 1.96 * result.per_task.std(axis=1, ddof=1) / numpy.sqrt(30)
    numpy.testing.assert_allclose(result.ci95, expected_ci)
    stepped = maml.adapt(params, held_out.x_support, held_out.y_support, alpha=0.01, steps=3)
    numpy.testing.assert_allclose(result.per_task[3], maml.loss(stepped, *held_out[2:4]))


# --- tasks ------------------------------------------------------------------------------------------

def test_sample_batch_shapes_ranges_and_truth():
    b = tasks.sample_batch(7, 5, 11, numpy.random.default_rng(3))
    assert b.x_support.shape == b.y_support.shape == (7, 5, 1)
    assert b.x_query.shape == b.y_query.shape == (7, 11, 1)
    assert b.amplitude.shape == b.phase.shape == (7,)
    assert numpy.all((0.1 <= b.amplitude) & (b.amplitude <= 5.0))
    assert numpy.all((0 <= b.phase) & (b.phase <= numpy.pi))
    assert numpy.all(numpy.abs(b.x_support) <= 5) and numpy.all(numpy.abs(b.x_query) <= 5)
    i = 4
    numpy.testing.assert_allclose(
        b.y_query[i, :, 0], b.amplitude[i] * numpy.sin(b.x_query[i, :, 0] - b.phase[i]))


def test_sample_batch_is_deterministic_by_seed():
    a = tasks.sample_batch(4, 5, 5, numpy.random.default_rng(1))
    b = tasks.sample_batch(4, 5, 5, numpy.random.default_rng(1))
    c = tasks.sample_batch(4, 5, 5, numpy.random.default_rng(2))
    for x, y in zip(a, b):
        numpy.testing.assert_array_equal(x, y)
    assert not numpy.array_equal(a.amplitude, c.amplitude)
    # the same waves whatever K is
    d = tasks.sample_batch(4, 20, 5, numpy.random.default_rng(1))
    numpy.testing.assert_array_equal(a.amplitude, d.amplitude)


@pytest.mark.parametrize("args, name", [
    ((0, 5, 5), "n_tasks"), ((3, 0, 5), "k_support"), ((3, 5, -1), "k_query"),
    ((3, 2.5, 5), "k_support")])
def test_sample_batch_rejects_bad_counts(args, name):
    with pytest.raises(ValueError, match=name):
        tasks.sample_batch(*args, numpy.random.default_rng(0))


def test_sample_batch_rejects_bad_rng_and_ranges():
    with pytest.raises(ValueError, match="rng"):
        tasks.sample_batch(3, 5, 5, 42)
    with pytest.raises(ValueError, match="amplitude_range"):
        tasks.sample_batch(3, 5, 5, numpy.random.default_rng(0), amplitude_range=(5, 1))


# --- checkpoints --------------------------------------------------------------------------------

def test_save_load_round_trip(params, tmp_path):
    path = tmp_path / "model.npz"
    checkpoints.save_params(path, params, iterations=12, kind="maml")
    loaded, metadata = checkpoints.load_params(path)
    assert metadata == {"iterations": 12, "kind": "maml"}
    assert len(loaded) == len(params)
    for (W, b), (W2, b2) in zip(params, loaded):
        numpy.testing.assert_array_equal(W, W2)
        numpy.testing.assert_array_equal(b, b2)
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind


def test_load_rejects_a_corrupt_or_foreign_file(tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="not a valid checkpoint"):
        checkpoints.load_params(corrupt)
    foreign = tmp_path / "foreign.npz"
    numpy.savez(foreign, weights=numpy.ones(3))
    with pytest.raises(ValueError, match="not a valid checkpoint"):
        checkpoints.load_params(foreign)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        checkpoints.load_params(tmp_path / "missing.npz")


def test_failed_save_keeps_the_old_file(params, tmp_path):
    path = tmp_path / "model.npz"
    checkpoints.save_params(path, params, version=1)
    with pytest.raises(ValueError, match="metadata"):
        checkpoints.save_params(path, params, bad=object())  # metadata that is not JSON
    assert checkpoints.load_params(path)[1] == {"version": 1}
    assert os.listdir(tmp_path) == ["model.npz"]


# --- bad input gets a clear ValueError naming the argument ---------------------------------------

@pytest.mark.parametrize("change, name", [
    (dict(x_support=numpy.zeros((5, 10))), "x_support"),          # (T, K) instead of (T, K, 1)
    (dict(y_support=numpy.zeros((5, 9, 1))), "y_support"),        # K mismatch with x_support
    (dict(x_support=numpy.zeros((5, 0, 1)), y_support=numpy.zeros((5, 0, 1))), "x_support"),
    (dict(x_query=numpy.zeros((5, 10, 2))), "x_query"),           # two features, net takes one
    (dict(x_query=numpy.zeros((4, 10, 1)), y_query=numpy.zeros((4, 10, 1))), "x_query"),
    (dict(y_query=numpy.full((5, 10, 1), numpy.nan)), "y_query"),
    (dict(steps=-1), "steps"), (dict(steps=1.5), "steps"),
    (dict(alpha=numpy.inf), "alpha"), (dict(alpha=numpy.nan), "alpha"), (dict(alpha=-0.1), "alpha"),
])
def test_maml_loss_rejects_bad_input(params, batch, change, name):
    args = dict(x_support=batch.x_support, y_support=batch.y_support,
                x_query=batch.x_query, y_query=batch.y_query, alpha=0.01, steps=1)
    args.update(change)
    with pytest.raises(ValueError, match=name):
        maml.maml_loss(params, **args)


def test_training_and_init_reject_bad_input(params):
    with pytest.raises(ValueError, match="iterations"):
        maml.meta_train(params, numpy.random.default_rng(0), -5)
    with pytest.raises(ValueError, match="k"):
        maml.meta_train(params, numpy.random.default_rng(0), 5, k=0)
    with pytest.raises(ValueError, match="lr"):
        maml.pretrain(params, numpy.random.default_rng(0), 5, lr=float("nan"))
    with pytest.raises(ValueError, match="rng"):
        maml.init_mlp((1, 40, 1), rng=None)
    with pytest.raises(ValueError, match="layer_sizes"):
        maml.init_mlp((1, 0, 1), rng=numpy.random.default_rng(0))


def test_evaluate_counts_diverged_tasks_instead_of_failing(params, rng):
    held_out = tasks.sample_batch(6, 5, 5, rng)
    ok = maml.evaluate(params, *held_out[:4], alpha=0.01, max_steps=3)
    assert (ok.diverged == 0).all() and numpy.allclose(ok.mean, ok.plain_mean)
    blown = maml.evaluate(params, *held_out[:4], alpha=50.0, max_steps=10)
    assert blown.diverged[0] == 0 and blown.diverged[-1] == 6   # every task, by the last step
    assert numpy.isnan(blown.mean[-1]) and blown.plain_mean[-1] == numpy.inf  # said, not hidden
    assert numpy.isfinite(blown.mean[0]) and blown.mean[0] == ok.mean[0]


def test_evaluate_summarises_the_tasks_that_stayed_finite():
    per_task = numpy.array([[1.0, 2.0, 3.0, 4.0], [0.5, numpy.nan, 1.5, 1e9]])
    e = maml.summarise(per_task)
    assert e.diverged.tolist() == [0, 2]            # NaN, and 1e9 = 2.5e8 times its start
    assert maml.summarise(numpy.array([[1.0, 2.0], [999.0, 2001.0]])).diverged[1] == 1
    assert e.mean.tolist() == [2.5, 1.0] and e.median.tolist() == [2.5, 1.0]
    assert e.plain_mean[1] == numpy.inf


def test_saved_files_get_the_usual_permissions(params, tmp_path):
    path = tmp_path / "model.npz"
    umask = os.umask(0o022)
    try:
        checkpoints.save_params(path, params)
    finally:
        os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o644


# --- the API checks its inputs at the entry points (issue 9) ------------------------------------

@pytest.mark.parametrize("bad, message", [
    ([], "non-empty list of \\(W, b\\) pairs"),
    (None, "non-empty list of \\(W, b\\) pairs"),
    ("params", "non-empty list of \\(W, b\\) pairs"),
    ([numpy.zeros((1, 40)), numpy.zeros(40)], "params\\[0\\] must be a \\(W, b\\) pair"),
    ([(numpy.zeros((1, 40)), numpy.zeros(40)), (numpy.zeros((30, 40)), numpy.zeros(40)),
      (numpy.zeros((40, 1)), numpy.zeros(1))], "params\\[1\\] W has shape \\(30, 40\\)"),
    ([(numpy.zeros((1, 40)), numpy.zeros(41))], "params\\[0\\] has W \\(1, 40\\) and b \\(41,\\)"),
    ([(numpy.zeros((1, 4), dtype=int), numpy.zeros(4))], "params\\[0\\] W must be an array of real"),
    ([(numpy.zeros((1, 4), dtype=complex), numpy.zeros(4))], "real floats"),
    ([(numpy.full((1, 1), numpy.nan), numpy.zeros(1))], "params\\[0\\] contains NaN"),
])
def test_every_entry_point_names_the_bad_parameter_and_layer(batch, bad, message):
    b = batch
    for call in (lambda: maml.mlp(bad, b.x_support[0]),
                 lambda: maml.adapt(bad, b.x_support, b.y_support),
                 lambda: maml.maml_loss(bad, *b[:4]),
                 lambda: maml.evaluate(bad, *b[:4], max_steps=1),
                 lambda: maml.meta_train(bad, numpy.random.default_rng(0), 1)):
        if "NaN" in message and call is not None:
            try:
                call()
            except ValueError as e:
                assert "NaN" in str(e) or "mlp" in repr(call), e
                continue
            except FloatingPointError:
                pytest.fail("NaN parameters reported as a divergence")
            # mlp checks shapes only (it runs inside every traced step): NaN goes through it
            continue
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize("alpha", ["0.01", 1j, True, None, [0.01], float("nan"), -1.0])
def test_numbers_must_be_real_finite_numbers(params, batch, alpha):
    import decimal
    with pytest.raises(ValueError, match="alpha"):
        maml.maml_loss(params, *batch[:4], alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        maml.evaluate(params, *batch[:4], alpha=alpha, max_steps=1)
    with pytest.raises(ValueError, match="lr"):
        maml.pretrain(params, numpy.random.default_rng(0), 1, lr=decimal.Decimal("0.1"))
    with pytest.raises(ValueError, match="std"):
        maml.init_mlp((1, 4, 1), numpy.random.default_rng(0), std="0.1")


def test_numpy_numbers_are_accepted(params, batch):
    maml.maml_loss(params, *batch[:4], alpha=numpy.float32(0.01), steps=numpy.int64(1))


def test_save_refuses_what_load_would_refuse(params, tmp_path):
    path = tmp_path / "model.npz"
    checkpoints.save_params(path, params, version=1)
    per_task = maml.per_task(params, 3)
    nan = [(W.copy(), b) for W, b in params]
    nan[1][0][0, 0] = numpy.nan
    for bad in ([], nan, per_task):
        with pytest.raises(ValueError):
            checkpoints.save_params(path, bad)
    with pytest.raises(ValueError, match="metadata"):
        checkpoints.save_params(path, params, loss=float("nan"))
    assert checkpoints.load_params(path)[1] == {"version": 1}


def test_metadata_with_numpy_numbers_is_saved_as_plain_json(params, tmp_path):
    path = tmp_path / "model.npz"
    checkpoints.save_params(path, params, iterations=numpy.int64(5), lr=numpy.float32(0.5),
                     history=numpy.arange(3.0))
    assert checkpoints.load_params(path)[1] == {"iterations": 5, "lr": 0.5, "history": [0.0, 1.0, 2.0]}


def test_several_models_in_one_file(params, tmp_path):
    other = [(W + 1, b) for W, b in params]
    checkpoints.save_models(tmp_path / "both.npz", {"maml": params, "pretrained": other}, run=3)
    models, metadata = checkpoints.load_models(tmp_path / "both.npz")
    assert sorted(models) == ["maml", "pretrained"] and metadata == {"run": 3}
    numpy.testing.assert_array_equal(models["pretrained"][0][0], other[0][0])
    assert checkpoints.load_params(tmp_path / "both.npz", model="maml")[0][1][0].shape == (40, 40)
    with pytest.raises(ValueError, match="pass model="):
        checkpoints.load_params(tmp_path / "both.npz")


# --- tests aimed at bugs the suite caught only by chance (issue 9) -----------------------------

def reference_adam(params, gradients, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba's Algorithm 1, written out for one flat vector."""
    m = v = numpy.zeros_like(params)
    for t, g in enumerate(gradients, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        params = params - lr * m_hat / (numpy.sqrt(v_hat) + eps)
    return params


def test_adam_step_is_kingma_and_ba(rng):
    params = [(rng.normal(size=(2, 3)), rng.normal(size=3))]
    gradients = [[(rng.normal(size=(2, 3)) * 10 ** i, rng.normal(size=3))] for i in range(-2, 3)]
    state, ours = None, params
    for g in gradients:
        ours, state = maml.adam_step(ours, g, state, lr=0.1, eps=1e-12)
    flat = lambda p: numpy.concatenate([p[0][0].ravel(), p[0][1]])  # noqa: E731
    expected = reference_adam(flat(params), [flat(g) for g in gradients], lr=0.1, eps=1e-12)
    numpy.testing.assert_allclose(flat(ours), expected, rtol=1e-6)


def test_query_points_are_drawn_apart_from_the_support_points():
    batch = tasks.sample_batch(200, 10, 10, numpy.random.default_rng(0))
    assert not numpy.isin(batch.x_query, batch.x_support).any()
    correlation = numpy.corrcoef(batch.x_support.ravel(), batch.x_query.ravel())[0, 1]
    assert abs(correlation) < 0.05


def test_mlp_is_relu_after_every_hidden_layer(rng):
    params = maml.init_mlp((1, 5, 5, 5, 1), rng, std=1.0)
    x = rng.normal(size=(50, 1))
    h = x
    for W, b in params[:-1]:
        h = numpy.maximum(h @ W + b, 0)
        assert (h == 0).any() and (h > 0).any()  # both sides of every ReLU are used
    numpy.testing.assert_allclose(maml.mlp(params, x), h @ params[-1][0] + params[-1][1],
                                  rtol=1e-12)


@pytest.mark.parametrize("x_shape, W_shape, b_shape", [
    ((5, 3), (3, 4), (4,)),                  # one task, shared θ
    ((2, 5, 3), (2, 3, 4), (2, 1, 4)),       # per-task θ (the inner loop)
    ((2, 5, 3), (3, 4), (4,)),               # shared θ, many tasks (the baseline, evaluation)
])
def test_dense_primitive_gradients_to_second_order(rng, x_shape, W_shape, b_shape):
    """dense's VJPs are written by hand (in autograd's numpy): finite differences check them,
    and their own derivatives, which the meta-gradient's second-order term uses."""
    from autograd.test_util import check_grads
    x, W, b = (rng.normal(size=s) for s in (x_shape, W_shape, b_shape))
    # check_grads differentiates with respect to its first argument only: all three in a list
    check_grads(lambda xWb: anp.tanh(maml.dense(*xWb)), modes=["rev"], order=2)([x, W, b])


@pytest.mark.parametrize("a_shape, b_shape", [
    ((5, 3), (4, 3)), ((2, 5, 3), (2, 4, 3)), ((2, 5, 3), (4, 3)), ((5, 3), (2, 4, 3))])
def test_matrix_product_primitives_gradients_to_second_order(rng, a_shape, b_shape):
    """times_transpose (a bᵀ) and transpose_times (aᵀ b) are each other's gradients: finite
    differences check both, to second order, shared and per-task shapes mixed."""
    from autograd.test_util import check_grads
    a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
    numpy.testing.assert_allclose(maml.times_transpose(a, b), a @ numpy.swapaxes(b, -1, -2))
    c = rng.normal(size=a_shape[:-2] + (a_shape[-2], b_shape[-2]))   # same rows as a
    numpy.testing.assert_allclose(maml.transpose_times(a, c), numpy.swapaxes(a, -1, -2) @ c)
    check_grads(lambda ab: anp.tanh(maml.times_transpose(*ab)), modes=["rev"], order=2)([a, b])
    check_grads(lambda ac: anp.tanh(maml.transpose_times(*ac)), modes=["rev"], order=2)([a, c])


@pytest.mark.parametrize("w_shape, alpha_shape", [
    ((3, 4), ()), ((2, 3, 4), ()), ((2, 1, 4), (1, 4)), ((3, 4), (3, 4))])
def test_descend_primitive_gradients_to_second_order(rng, w_shape, alpha_shape):
    """descend(w, g, α) = w − α g, its gradients with respect to all three (α too: a learned,
    per-weight α as in Meta-SGD goes through it) checked to second order."""
    from autograd.test_util import check_grads
    w, g = rng.normal(size=w_shape), rng.normal(size=w_shape)
    alpha = rng.uniform(0.1, 1.0, size=alpha_shape)
    numpy.testing.assert_allclose(maml.descend(w, g, alpha), w - alpha * g)
    check_grads(lambda wga: anp.tanh(maml.descend(*wga)), modes=["rev"], order=2)([w, g, alpha])


@pytest.mark.parametrize("p_shape, y_shape", [
    ((5, 1), (5, 1)), ((3, 5, 2), (3, 5, 2)), ((3, 5, 1), (5, 1)), ((5, 1), (3, 5, 1))])
def test_mean_squared_error_primitive_gradients_to_second_order(rng, p_shape, y_shape):
    """mean_squared_error's gradient 2 (p − y) / n, with respect to p and y, to second order."""
    from autograd.test_util import check_grads
    p, y = rng.normal(size=p_shape), rng.normal(size=y_shape)
    numpy.testing.assert_allclose(maml.mean_squared_error(p, y),
                                  numpy.mean((p - y) ** 2, axis=(-2, -1)))
    check_grads(lambda py: anp.sum(anp.tanh(maml.mean_squared_error(*py))), modes=["rev"],
                order=2)([p, y])


def test_cross_entropy_is_softmax_cross_entropy_and_shift_invariant(rng):
    params = maml.init_mlp((3, 5, 4), rng, std=1.0)
    x = rng.normal(size=(2, 6, 3))
    y = numpy.eye(4)[rng.integers(0, 4, size=(2, 6))]
    logits = maml.mlp(params, x)
    p = numpy.exp(logits) / numpy.exp(logits).sum(axis=-1, keepdims=True)
    expected = -numpy.mean(numpy.log((p * y).sum(axis=-1)), axis=-1)
    numpy.testing.assert_allclose(maml.cross_entropy(params, x, y), expected, rtol=1e-12)
    shifted = params[:-1] + [(params[-1][0], params[-1][1] + 1000.0)]  # huge logits: no overflow
    numpy.testing.assert_allclose(maml.cross_entropy(shifted, x, y), expected, rtol=1e-9)


def test_classification_meta_gradient_matches_finite_differences(rng):
    """The same maml_loss with a cross-entropy loss: exact MAML for classification."""
    from autograd.test_util import check_grads
    params = maml.init_mlp((3, 6, 4), rng, std=0.5)
    x_s, x_q = rng.normal(size=(2, 8, 3)), rng.normal(size=(2, 8, 3))
    y_s, y_q = (numpy.eye(4)[rng.integers(0, 4, size=(2, 8))] for _ in range(2))
    smooth = [(W, b) for W, b in params]

    def objective(flat):
        p = [(flat[0], flat[1]), (flat[2], flat[3])]
        return maml.maml_loss(p, x_s, y_s, x_q, y_q, alpha=0.3, steps=2,
                              loss_fn=maml.cross_entropy)
    check_grads(objective, modes=["rev"], order=1)([w for pair in smooth for w in pair])


def test_the_folded_benchmark_prototype_computes_the_same_meta_gradient(rng):
    """bench_maml.py's "biases folded" row measures bench/fold.py: it must compute the same
    exact meta-gradient (1 and 3 steps) for the row to say what keeping (W, b) pairs costs."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "fold", os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench", "fold.py"))
    fold = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fold)
    params = [(W, rng.normal(size=b.shape)) for W, b in maml.init_mlp((1, 40, 40, 1), rng, 0.3)]
    batch = tasks.sample_batch(4, 5, 7, rng)
    for steps in (1, 3):
        want = grad(maml.maml_loss)(params, *batch[:4], alpha=0.05, steps=steps)
        got = grad(fold.maml_loss)(fold.fold(params), *batch[:4], alpha=0.05, steps=steps)
        numpy.testing.assert_allclose(fold.maml_loss(fold.fold(params), *batch[:4], alpha=0.05,
                                                     steps=steps),
                                      maml.maml_loss(params, *batch[:4], alpha=0.05, steps=steps))
        for g, Wb in zip(fold.fold(want), got):
            numpy.testing.assert_allclose(Wb, g, rtol=1e-9, atol=1e-12)


def _composite(name):
    """Each speed primitive as the plain autograd-numpy expression it replaces."""
    return {"dense": lambda x, W, b: x @ W + b,
            "times_transpose": lambda a, b: a @ anp.swapaxes(b, -1, -2),
            "transpose_times": lambda a, b: anp.swapaxes(a, -1, -2) @ b,
            "descend": lambda w, g, alpha: w - alpha * g,
            "mean_squared_error": lambda p, y: anp.mean(anp.square(p - y), axis=(-2, -1))}[name]


def _primitive_arguments(draw, name):
    """Shapes of the kinds the library passes: shared or per-task (a leading task axis T on
    either argument), any sizes."""
    from hypothesis import strategies as st
    T, N, n, m = (draw(st.integers(1, 4)) for _ in range(4))
    task = lambda: draw(st.sampled_from([(), (T,)]))   # noqa: E731 (shared or per task)
    if name == "dense":
        bias = draw(st.sampled_from([(m,), (1, m)] + [(T, 1, m)] * 2))
        return [task() + (N, n), task() + (n, m), bias]
    if name == "times_transpose":
        return [task() + (N, m), task() + (n, m)]
    if name == "transpose_times":
        return [task() + (N, n), task() + (N, m)]
    if name == "descend":
        shape = task() + (n, m)
        return [shape, shape, draw(st.sampled_from([(), (n, m), (1, m)]))]
    # prediction and y: equal shapes as the library passes them, or any that broadcast (a
    # (N, 1) prediction against a (N,) or (N, m) y averages over the broadcast shape)
    prediction = task() + (N, draw(st.sampled_from([1, m])))
    y = draw(st.sampled_from([prediction, prediction[-2:], (N, m), (N, 1), (m,), (1, m)]))
    return [prediction, y]


@pytest.mark.parametrize("name", ["dense", "times_transpose", "transpose_times", "descend",
                                  "mean_squared_error"])
def test_each_primitive_equals_the_numpy_it_replaces_to_second_order(name):
    """Generated shapes (shared and per-task mixed) and values: value, gradient and a
    Hessian-vector product of each primitive equal those autograd takes of the plain numpy
    expression it stands for. (bench_maml.py measures the plain expressions as "undone".)"""
    from hypothesis import given, strategies as st

    @given(st.data())
    def check(data):
        shapes = _primitive_arguments(data.draw, name)
        rng = numpy.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
        args = [rng.normal(size=s) for s in shapes]
        if name == "descend":
            args[2] = rng.uniform(0.01, 1.0, size=shapes[2])
        ours, plain = getattr(maml, name), _composite(name)
        out_shape = numpy.shape(plain(*args))
        weights, v = rng.normal(size=out_shape), [rng.normal(size=s) for s in shapes]

        def scalar(f):
            return lambda a: anp.sum(anp.tanh(f(*a)) * weights)

        def hvp(f):  # ∇(∇f · v): second derivatives, as the meta-gradient takes them
            return grad(lambda a: sum(anp.sum(g * u) for g, u in zip(grad(scalar(f))(a), v)))

        numpy.testing.assert_allclose(ours(*args), plain(*args), rtol=1e-12, atol=1e-12)
        for want, got in zip(grad(scalar(plain))(args), grad(scalar(ours))(args)):
            assert numpy.shape(got) == numpy.shape(want)
            numpy.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        for want, got in zip(hvp(plain)(args), hvp(ours)(args)):
            numpy.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)

    check()


def test_inner_update_with_shared_theta_steps_each_task_from_its_own_copy(rng):
    """Shared θ and a batch of tasks: each task takes its own step (as adapt does), never one
    step on the tasks' summed gradient (a black-box tester found that mixing)."""
    params = maml.init_mlp((1, 8, 1), rng, std=0.5)
    batch = tasks.sample_batch(3, 5, 5, rng)
    stepped = maml.inner_update(params, batch.x_support, batch.y_support, 0.1)
    for i in range(3):
        alone = maml.inner_update(params, batch.x_support[i], batch.y_support[i], 0.1)
        for (W, b), (W_i, b_i) in zip(stepped, alone):
            numpy.testing.assert_allclose(W[i], W_i, rtol=1e-12)
            numpy.testing.assert_allclose(b[i, 0], b_i, rtol=1e-12)


@pytest.mark.parametrize("start", [numpy.inf, numpy.nan, 1e308])
def test_a_task_whose_loss_is_not_finite_counts_as_diverged_even_from_the_start(start):
    """Not finite is diverged, whatever the loss before any step was (it was counted only
    against a finite start before)."""
    losses = numpy.array([[1.0, start, 2.0], [0.5, numpy.inf, 2e3 + 1], [0.4, 1.0, numpy.nan]])
    result = maml.summarise(losses)
    expected_first = 0 if numpy.isfinite(start) else 1
    assert list(result.diverged) == [expected_first, 2, 1]   # steps 0, 1, 2 (tasks: columns)
    assert numpy.isnan(maml.summarise(numpy.full((2, 3), numpy.nan)).mean).all()
