"""Property-based tests of the library's edge (issue 16): any one argument of a public function
replaced by a hostile value gives a result or one clear ValueError / TypeError naming it (or,
for training, maml.Diverged) —
never a traceback from deep inside numpy or autograd, a MemoryError, or a hang."""
import contextlib
import signal

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import maml
import tasks
import variants

RNG = numpy.random.default_rng(0)
PARAMS = maml.init_mlp((1, 6, 1), RNG, std=0.3)
BATCH = tasks.sample_batch(3, 4, 4, RNG)

hostile = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5), st.binary(max_size=5),
    st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(-3, 3), max_size=3), st.tuples(st.floats(), st.floats()),
    st.sampled_from([numpy.nan, numpy.inf, -1, 0, 10**12, 1e308, "0.1", [PARAMS], (),
                     numpy.zeros(3), numpy.zeros((2, 2)), numpy.full((3, 4, 1), numpy.nan),
                     numpy.ones((3, 4, 2)), numpy.ones((3, 5, 1)), numpy.ones((3, 4, 1), bool),
                     [(numpy.ones((2, 6)), numpy.ones(6)), (numpy.ones((6, 1)), numpy.ones(1))],
                     [(numpy.ones((1, 6)), numpy.ones(6))], [(numpy.ones((1, 6), int),
                                                              numpy.ones(6))]]))

WORK_SECONDS = 5
# Arguments that count work: a valid value may ask for much of it (iterations=40,000 trains
# for minutes), so a call still running after WORK_SECONDS with one of them is on its way to a
# result. With any other argument, still running is a hang.
WORK = {"iterations", "n_episodes", "meta_batch", "batch_size", "steps", "max_steps", "k",
        "k_support", "k_query", "n_tasks", "instances", "characters", "n_query", "k_shot",
        "scripts"}  # load_glyphs(scripts=None) renders all 17 scripts: ~15 s, a result


class StillWorking(BaseException):
    """Raised in a call still running after WORK_SECONDS."""


@contextlib.contextmanager
def at_most(seconds, name, value):
    """Stop the block after `seconds` (SIGALRM): fine if `name` counts work, a hang if not."""
    def stop(signum, frame):
        raise StillWorking
    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except StillWorking:
        if name not in WORK:
            pytest.fail(f"{name}={value!r:.60}: still running after {seconds} s, a hang")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


CALLS = {  # function -> its valid keyword arguments
    maml.init_mlp: dict(layer_sizes=(1, 6, 1), rng=RNG, std=0.1),
    maml.mlp: dict(params=PARAMS, x=BATCH.x_support),
    maml.loss: dict(params=PARAMS, x=BATCH.x_query, y=BATCH.y_query),
    maml.adapt: dict(params=PARAMS, x_support=BATCH.x_support, y_support=BATCH.y_support,
                     alpha=0.01, steps=1, first_order=False),
    maml.maml_loss: dict(params=PARAMS, x_support=BATCH.x_support, y_support=BATCH.y_support,
                         x_query=BATCH.x_query, y_query=BATCH.y_query, alpha=0.01, steps=2),
    maml.evaluate: dict(params=PARAMS, x_support=BATCH.x_support, y_support=BATCH.y_support,
                        x_query=BATCH.x_query, y_query=BATCH.y_query, alpha=0.01, max_steps=2),
    maml.meta_train: dict(params=PARAMS, rng=RNG, iterations=1, meta_batch=2, k=2, alpha=0.01,
                          steps=1, meta_lr=1e-3),
    tasks.sample_batch: dict(n_tasks=2, k_support=2, k_query=2, rng=RNG,
                             amplitude_range=(0.1, 5.0), phase_range=(0.0, 3.0),
                             x_range=(-5.0, 5.0)),
    variants.anil_loss: dict(params=PARAMS, x_support=BATCH.x_support,
                             y_support=BATCH.y_support, x_query=BATCH.x_query,
                             y_query=BATCH.y_query, alpha=0.01, steps=1),
    variants.evaluate_head: dict(params=PARAMS, x_support=BATCH.x_support,
                                 y_support=BATCH.y_support, x_query=BATCH.x_query,
                                 y_query=BATCH.y_query, alpha=0.01, max_steps=2),
    variants.train_method: dict(method="maml-1", init=PARAMS, rng=RNG, iterations=1,
                                meta_batch=2, k=2),
    variants.reptile_direction: dict(params=PARAMS, batch=BATCH, alpha=0.01, steps=2),
    maml.adam_step: dict(params=PARAMS, grads=PARAMS, state=maml.adam_step(PARAMS, PARAMS, None)[1],
                         lr=1e-3, b1=0.9, b2=0.999, eps=1e-8),
    tasks.sinusoid: dict(x=BATCH.x_query, amplitude=BATCH.amplitude, phase=BATCH.phase),
    variants.oracle_inputs: dict(x=BATCH.x_query, amplitude=BATCH.amplitude, phase=BATCH.phase),
}


@pytest.mark.parametrize("function", list(CALLS), ids=lambda f: f.__name__)
@given(data=st.data())
def test_one_hostile_argument_is_a_result_or_one_clear_error(function, data):
    valid = CALLS[function]
    name = data.draw(st.sampled_from(sorted(valid)), label="argument")
    value = data.draw(hostile, label="value")
    with numpy.errstate(all="ignore"), at_most(WORK_SECONDS, name, value):
        try:
            function(**dict(valid, **{name: value}))
        except (ValueError, TypeError, maml.Diverged) as e:  # Diverged: training blew up
            message = str(e)
            assert "\n" not in message and len(message) < 400, message
            assert message.strip(), "an error needs a message"


@pytest.mark.parametrize("function", list(CALLS), ids=lambda f: f.__name__)
def test_the_valid_arguments_work(function):
    function(**CALLS[function])


@pytest.mark.parametrize("function, arguments, message", [
    (maml.adam_step, dict(grads=PARAMS[:1]), "grads must have the shapes of params"),
    (maml.adam_step, dict(state="x"), "state must be None (the first step) or the (t, m, v)"),
    (maml.adam_step, dict(state=(1, PARAMS, [(-abs(W) - 1, b) for W, b in PARAMS])),
     "state's v must be >= 0 everywhere"),
    (maml.adam_step, dict(b1=1.0), "b1 must be < 1, got 1.0"),
    (maml.adam_step, dict(eps=0.0), "eps must be a finite number > 0, got 0.0"),
    (tasks.sinusoid, dict(amplitude=numpy.ones(2)), "amplitude must be a finite real array of "
                                                    "shape (3,), one per task of x (3, 4, 1)"),
    (tasks.sinusoid, dict(x=numpy.zeros(4), phase=numpy.nan), "phase must be a finite number, "
                                                              "got nan"),
    (variants.oracle_inputs, dict(x=numpy.zeros((3, 4))), "x must be a finite real array of "
                                                          "shape (T, N, 1)"),
])
def test_the_error_names_the_argument_and_what_was_expected(function, arguments, message):
    valid = CALLS[function]
    if "x" in arguments and arguments["x"].ndim < 3 and function is tasks.sinusoid:
        valid = dict(valid, amplitude=1.0, phase=0.5)
    with pytest.raises(ValueError) as error:
        function(**dict(valid, **arguments))
    assert message in str(error.value)


EMPTY = numpy.zeros((0, 4, 1))
ONE_HOT = numpy.eye(3)[RNG.integers(0, 3, size=(3, 4))]          # 3 tasks, 4 points, 3 classes
CLASSIFIER = maml.init_mlp((1, 5, 3), RNG, std=0.3)


@pytest.mark.parametrize("call, message", [
    (lambda: maml.maml_loss(PARAMS, EMPTY, EMPTY, EMPTY, EMPTY), "T, K >= 1"),
    (lambda: variants.anil_loss(PARAMS, EMPTY, EMPTY, EMPTY, EMPTY), "T, K >= 1"),
    (lambda: maml.adapt(PARAMS, EMPTY, EMPTY), "T, K >= 1"),
    (lambda: variants.reptile_direction(PARAMS, BATCH._replace(x_query=EMPTY[:, :0])),
     "T, K, n >= 1"),
    (lambda: maml.cross_entropy(CLASSIFIER, BATCH.x_query, ONE_HOT * 0.5), "one-hot"),
    (lambda: maml.accuracy(CLASSIFIER, BATCH.x_query, -ONE_HOT), "one-hot"),
    (lambda: maml.maml_loss(CLASSIFIER, BATCH.x_support, ONE_HOT + 1, BATCH.x_query, ONE_HOT,
                            loss_fn=maml.cross_entropy), "one-hot"),
    (lambda: maml.evaluate(CLASSIFIER, BATCH.x_support, ONE_HOT, BATCH.x_query, ONE_HOT * 2,
                           loss_fn=maml.cross_entropy, score_fn=maml.accuracy), "one-hot"),
    (lambda: maml.meta_train(PARAMS, RNG, 2, loss_fn=maml.cross_entropy), "one-hot"),
    (lambda: maml.meta_train(PARAMS, RNG, 2, sample_tasks=lambda *a: 5),
     "the batch sample_tasks returned must be a tasks.Batch"),
    (lambda: maml.train(None, PARAMS, RNG, 2), "train needs an objective"),
    (lambda: maml.evaluate(PARAMS, *BATCH[:4], score_fn=lambda p, x, y: 1.0),
     "score_fn must return one real number per task"),
    (lambda: maml.evaluate(PARAMS, *BATCH[:4], score_fn=lambda p, x, y: numpy.ones(7)),
     "score_fn must return one real number per task"),
    (lambda: tasks.held_out("0", 2, 5), "seed must be a whole number"),
    (lambda: tasks.held_out(None, 2, 5), "seed must be a whole number"),
    (lambda: tasks.held_out(0, 10 ** 7, 10), "n_tasks * (k + query_points)"),
])
def test_each_case_the_black_box_tester_found_is_one_clear_error(call, message):
    """Found by a tester who saw only the docs: each is now a ValueError naming the value."""
    with pytest.raises(ValueError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("function", ["inner_update", "adapt", "maml_loss", "maml_loss_loop",
                                      "adapt_head", "anil_loss"])
def test_every_function_that_copies_theta_per_task_refuses_what_memory_cannot_hold(
        function, monkeypatch):
    """The memory estimate guards every function that holds a copy of θ per task, not only
    meta_train and evaluate: a machine of 1 GiB refuses 1-2000-2000-1 on 100 tasks."""
    import checks
    monkeypatch.setattr(checks, "machine_memory", lambda: 2 ** 30)
    big = [(numpy.zeros((1, 2000)), numpy.zeros(2000)), (numpy.zeros((2000, 2000)),
                                                         numpy.zeros(2000)),
           (numpy.zeros((2000, 1)), numpy.zeros(1))]
    batch = tasks.sample_batch(100, 2, 2, RNG)
    f = getattr(variants if function in ("adapt_head", "anil_loss") else maml, function)
    arguments = [big, *batch[:2]] + ([] if function in ("inner_update", "adapt", "adapt_head")
                                     else list(batch[2:4]))
    with pytest.raises(ValueError, match="would need about"):
        f(*arguments, **({"alpha": 0.01} if function == "inner_update" else {}))


def test_each_case_the_second_black_box_tester_found_is_one_clear_error(tmp_path):
    """A second tester who saw only the docs: each is now a ValueError naming the value, and
    a checkpoint that load_params would refuse is not saved."""
    import checkpoints
    import files
    import glyphs
    import protonets
    images = RNG.random((4, 5, 28, 28))
    episodes_y = numpy.eye(3)[numpy.tile(numpy.arange(3), (2, 1))]          # (2, 3, 3)
    x = RNG.normal(size=(2, 3, 4))
    embedding = protonets.init_embedding((4, 5), RNG)
    cases = [
        (lambda: maml.per_task(PARAMS, 2.5), "n_tasks must be a whole number"),
        (lambda: maml.per_task(PARAMS, 0), "n_tasks must be a whole number"),
        (lambda: maml.summarise(numpy.ones(3)), "per_task_loss must be a real array"),
        (lambda: maml.summarise(numpy.ones((2, 3)), numpy.ones(4)), "score_fn must return"),
        (lambda: variants.evaluate_oracle(PARAMS, BATCH), "3 inputs"),
        (lambda: protonets.prototypical_loss(embedding, x, episodes_y, x, episodes_y * 0),
         "one-hot"),
        (lambda: protonets.prototypical_loss(embedding, x, episodes_y * 3, x, episodes_y),
         "one-hot"),
        (lambda: checkpoints.save_params(str(tmp_path / "big.npz"), PARAMS, x="a" * 50_000_000),
         "load_models would refuse it"),
        (lambda: checkpoints.save_params(3, PARAMS), "must be a non-empty str"),
        (lambda: files.commit(str(tmp_path), {"a.txt": b"x"}, overwrite="no"),
         "overwrite must be True or False"),
        (lambda: files.check_writable({str(tmp_path): "x.txt"}), "must be a list of file names"),
        (lambda: glyphs.sample_episodes(images, [0, 0, 0], 3, 1, 1, 2, RNG), "distinct"),
        (lambda: glyphs.sample_episodes(images, [0, 99], 2, 1, 1, 2, RNG), "from 0 to 3"),
        (lambda: glyphs.sample_episodes(images, [-1, 2], 2, 1, 1, 2, RNG), "from 0 to 3"),
        (lambda: glyphs.sample_episodes(images[0], [0, 1], 2, 1, 1, 2, RNG), "images must be"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as error:
            call()
        assert message in str(error.value) and "\n" not in str(error.value), message
    assert not (tmp_path / "big.npz").exists() and not (tmp_path / "a.txt").exists()


# --- the few-shot half (issue 24): protonets.py, glyphs.py, figures.py, checkpoints.py ------------

import atexit  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import checkpoints  # noqa: E402
import fewshot  # noqa: E402
import figures  # noqa: E402
import glyphs  # noqa: E402
import protonets  # noqa: E402
from hypothesis import settings  # noqa: E402
from PIL import Image  # noqa: E402

IMAGES = RNG.random((4, 5, 28, 28)).astype(numpy.float32)       # 4 classes, 5 drawings each
EPISODES = glyphs.sample_episodes(IMAGES, [0, 1, 2], 3, 1, 2, 2, RNG)    # 2 episodes, 3-way
EMBEDDING = protonets.init_embedding((784, 6, 4), RNG)
GLYPHS = glyphs.Glyphs(IMAGES, numpy.array(["A", "A", "B", "B"]),
                       numpy.array(["a", "b", "c", "d"]), numpy.array([0, 1]),
                       numpy.array([2, 3]))
FOLDER = tempfile.mkdtemp(prefix="api-properties-")     # a checkpoint and a tiny Omniglot
atexit.register(shutil.rmtree, FOLDER, ignore_errors=True)
CHECKPOINT = os.path.join(FOLDER, "model.npz")
checkpoints.save_params(CHECKPOINT, PARAMS, note="for the tests")
for part, alphabet in (("images_background", "Alpha"), ("images_evaluation", "Beta")):
    for c in range(2):
        os.makedirs(os.path.join(FOLDER, "omniglot", part, alphabet, f"character{c}"))
        for d in range(2):
            Image.fromarray(RNG.random((105, 105)) > 0.5).save(os.path.join(
                FOLDER, "omniglot", part, alphabet, f"character{c}", f"{d}.png"))
EVALUATION = maml.summarise(RNG.random((3, 4)))
with open(os.path.join(FOLDER, "omniglot", "images_background", "Alpha", "character0", "0.png"),
          "rb") as f:
    PNG = f.read()
FEATURES = dict(zs=RNG.normal(size=(2, 3, 4)), ys=EPISODES.y_support,   # a read-out's input
                zq=RNG.normal(size=(2, 6, 4)))

FEW_SHOT_CALLS = {
    protonets.init_embedding: dict(layer_sizes=(784, 6, 4), rng=RNG),
    protonets.embed: dict(params=EMBEDDING, x=EPISODES.x_query),
    protonets.prototypes: dict(params=EMBEDDING, x_support=EPISODES.x_support,
                               y_support=EPISODES.y_support),
    protonets.logits: dict(params=EMBEDDING, x_support=EPISODES.x_support,
                           y_support=EPISODES.y_support, x_query=EPISODES.x_query),
    protonets.log_softmax: dict(scores=RNG.normal(size=(2, 3, 4))),
    protonets.per_episode_loss: dict(params=EMBEDDING, x_support=EPISODES.x_support,
                                     y_support=EPISODES.y_support, x_query=EPISODES.x_query,
                                     y_query=EPISODES.y_query),
    protonets.prototypical_loss: dict(params=EMBEDDING, x_support=EPISODES.x_support,
                                      y_support=EPISODES.y_support, x_query=EPISODES.x_query,
                                      y_query=EPISODES.y_query),
    protonets.accuracy: dict(params=EMBEDDING, x_support=EPISODES.x_support,
                             y_support=EPISODES.y_support, x_query=EPISODES.x_query,
                             y_query=EPISODES.y_query),
    protonets.evaluate: dict(params=EMBEDDING, episodes=EPISODES, batch_size=1),
    protonets.train: dict(params=EMBEDDING, rng=RNG, iterations=1, meta_batch=2, k=1,
                          sample_tasks=glyphs.episode_sampler(IMAGES, [0, 1, 2], 3, 2)),
    glyphs.nearest_neighbour_accuracy: dict(episodes=EPISODES),
    glyphs.sample_episodes: dict(images=IMAGES, classes=[0, 1, 2], n_way=3, k_shot=1,
                                 n_query=2, n_episodes=2, rng=RNG),
    glyphs.episode_sampler: dict(images=IMAGES, classes=[0, 1, 2], n_way=3, n_query=2),
    glyphs.load_omniglot: dict(path=os.path.join(FOLDER, "omniglot")),
    glyphs.decode_drawing: dict(data=PNG, where="0.png", pixels=None),
    fewshot.normalise: dict(z=FEATURES["zs"]),
    fewshot.cosine_centroid: FEATURES,
    fewshot.logistic_regression: dict(FEATURES, l2=0.1, steps=20),
    fewshot.linear_head: dict(FEATURES, alpha=0.5, steps=3),
    fewshot.interval: dict(values=[0.5, 0.75, 1.0]),
    figures.short: dict(mse=0.5),
    figures.spread_tasks: dict(batch=BATCH, n_tasks=2, among=3),
    checkpoints.parse_metadata: dict(text='{"a": 1}'),
    checkpoints.to_json: dict(metadata={"a": [1, 2.5]}),
    checkpoints.expect: dict(value=3, kind="count", what="a count"),
    checkpoints.encode_models: dict(models={"maml": PARAMS}, metadata={}),
    checkpoints.read_npz: dict(path=CHECKPOINT, max_bytes=None),
    checkpoints.load_models: dict(path=CHECKPOINT, names=None),
    checkpoints.load_params: dict(path=CHECKPOINT, model=None),
}
FIGURE_CALLS = {  # slower: a figure each
    figures.episode: dict(x_support=EPISODES.x_support[0], labels_support=[0, 1, 2],
                          x_query=EPISODES.x_query[0], labels_query=[0, 0, 1, 1, 2, 2],
                          guesses={"ProtoNets": numpy.array([0, 1, 1, 1, 2, 0])}),
    figures.glyph_scripts: dict(glyphs=GLYPHS, rng=RNG, characters=2, instances=2),
    figures.curves: dict(results={("maml", 5): EVALUATION}, labels={"maml": "MAML"}, ks=[5],
                         xlabel="steps", ylabel="MSE"),
    figures.training: dict(histories={"maml": [3.0, 2.0, 1.0]}, block=10,
                           titles={"maml": "MAML"}),
    glyphs.load_glyphs: dict(seed=1, instances=2, cache=False, scripts=("Ogham",)),
}


def call_with_one_hostile_argument(function, valid, data):
    name = data.draw(st.sampled_from(sorted(valid)), label="argument")
    value = data.draw(hostile, label="value")
    with numpy.errstate(all="ignore"), pytest.MonkeyPatch.context() as patch, \
            at_most(WORK_SECONDS, name, value):
        patch.setenv("XDG_CACHE_HOME", FOLDER)   # load_glyphs(cache=True) writes there
        try:
            function(**dict(valid, **{name: value}))
        except (ValueError, TypeError, FileNotFoundError) as e:  # no such file: one line too
            message = str(e)
            assert "\n" not in message and len(message) < 400, message
            assert message.strip(), "an error needs a message"
        finally:
            import matplotlib.pyplot as plt
            plt.close("all")


@pytest.mark.parametrize("function", list(FEW_SHOT_CALLS), ids=lambda f: f.__qualname__)
@given(data=st.data())
def test_few_shot_half_one_hostile_argument_is_a_result_or_one_clear_error(function, data):
    call_with_one_hostile_argument(function, FEW_SHOT_CALLS[function], data)


@pytest.mark.parametrize("function", list(FIGURE_CALLS), ids=lambda f: f.__qualname__)
@settings(max_examples=8)
@given(data=st.data())
def test_figures_one_hostile_argument_is_a_result_or_one_clear_error(function, data):
    call_with_one_hostile_argument(function, FIGURE_CALLS[function], data)


@pytest.mark.parametrize("function", list(FEW_SHOT_CALLS) + list(FIGURE_CALLS),
                         ids=lambda f: f.__qualname__)
def test_the_few_shot_half_valid_arguments_work(function):
    function(**{**FEW_SHOT_CALLS, **FIGURE_CALLS}[function])
    import matplotlib.pyplot as plt
    plt.close("all")


def no_support_for_class_2():
    y = EPISODES.y_support.copy()
    y[1, :, 2] = 0
    y[1, 2, 0] = 1          # still one-hot: class 2 of episode 1 has no support point
    return y


@pytest.mark.parametrize("call, message", [
    (lambda: protonets.prototypes(EMBEDDING, EPISODES.x_support, no_support_for_class_2()),
     "class 2 of episode 1 has no support point"),
    (lambda: protonets.prototypical_loss(EMBEDDING, *(a.tolist() for a in EPISODES[:4])),
     "x_support must be a numpy array of real numbers with 3 axes"),
    (lambda: protonets.evaluate(EMBEDDING, tuple(a[:0] for a in EPISODES[:4])),
     "episodes: x_support must be a numpy array of real numbers with 3 axes, each at least 1"),
    (lambda: glyphs.nearest_neighbour_accuracy(EPISODES._replace(y_query=EPISODES.y_query * 2)),
     "episodes: y_query must be one-hot class labels"),
    (lambda: glyphs.load_glyphs(scripts=(s for s in ["Ogham"])),
     "scripts must be None (all) or a non-empty list of script names"),
    (lambda: glyphs.load_glyphs(scripts=["Ogham", "Klingon"]), "Klingon"),
    (lambda: glyphs.load_omniglot(b"/tmp"), "path must be a folder path"),
    (lambda: checkpoints.parse_metadata(b"{}"), "text must be a str"),
    (lambda: checkpoints.load_models(CHECKPOINT, names="maml"), "names must be None or a"),
    (lambda: figures.glyph_scripts(GLYPHS._replace(evaluation=numpy.array([2])), RNG),
     "glyphs.background and glyphs.evaluation must split the class indices 0..3"),
    (lambda: figures.episode(**dict(FIGURE_CALLS[figures.episode], guesses={"1-NN": [0, 1]})),
     "guesses['1-NN'] must be 6 whole-number labels, one per query"),
    (lambda: figures.episode(**dict(FIGURE_CALLS[figures.episode], labels_support=[0, 1])),
     "labels_support must be 3 whole-number labels"),
    (lambda: figures.curves(**dict(FIGURE_CALLS[figures.curves], ks=[5, 10])),
     "results must hold a maml.Evaluation for ('maml', 10)"),
    (lambda: maml.evaluate(PARAMS, BATCH.x_support, numpy.full((3, 4, 1), -1e150),
                           BATCH.x_query, BATCH.y_query),
     "y_support holds values as large as 1e+150: their squared error (about 1e300) and its "
     "spread over tasks (about 1e600) overflow a float (at most 1.8e308)"),
    (lambda: maml.maml_loss(PARAMS, BATCH.x_support * 1e60, *BATCH[1:4]),
     "x_support holds values as large as"),
    (lambda: protonets.prototypical_loss(EMBEDDING, EPISODES.x_support.astype(float) * 1e200,
                                         EPISODES.y_support, EPISODES.x_query, EPISODES.y_query),
     "x_support and x_query with these params could make embeddings as large as"),
    (lambda: protonets.evaluate([(W * 1e100, b) for W, b in EMBEDDING], EPISODES),
     "their squared distances could overflow a float (inf, then NaN)"),
    (lambda: fewshot.logistic_regression(**FEATURES, l2=numpy.nan),
     "l2 (the L2 penalty λ) must be a finite number >= 0, got nan"),
    (lambda: fewshot.logistic_regression(**FEATURES, l2=-1), "l2 (the L2 penalty λ) must be"),
    (lambda: fewshot.logistic_regression(**FEATURES, steps=-5),
     "steps must be a whole number from 0 to 1,000, got -5"),
    (lambda: fewshot.logistic_regression(**FEATURES, steps=2.5), "steps must be a whole"),
    (lambda: fewshot.logistic_regression(**FEATURES, steps=10 ** 12), "steps must be a whole"),
    (lambda: fewshot.linear_head(**FEATURES, alpha=numpy.nan, steps=2),
     "alpha (the inner step size) must be a finite number >= 0, got nan"),
    (lambda: fewshot.linear_head(**FEATURES, alpha=0.1, steps=-1), "steps must be a whole"),
    (lambda: fewshot.linear_head(**FEATURES, alpha=0.1, steps=10 ** 9), "steps must be a whole"),
    (lambda: fewshot.linear_head(**FEATURES, alpha=1e306, steps=1),
     "linear_head's scores could reach"),
    (lambda: fewshot.interval([]), "values must hold at least 2 numbers"),
    (lambda: fewshot.interval([0.5]), "values must hold at least 2 numbers"),
    (lambda: fewshot.cosine_centroid(**dict(FEATURES, ys=no_support_for_class_2())),
     "ys: class 2 of episode 1 has no support point"),
    (lambda: glyphs.decode_drawing(None, "x"), "data must be the bytes of a PNG file, got None"),
    (lambda: glyphs.decode_drawing(PNG, None), "where must be a str"),
])
def test_each_library_edge_of_issue_24_is_one_clear_error(call, message):
    """The cases issue 24 lists, and their kin: each a ValueError naming the value and what
    was expected, before any work (no NaN, no IndexError or KeyError from deep inside)."""
    with pytest.raises(ValueError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value), str(error.value)


@pytest.mark.parametrize("sample", [glyphs.sample_episodes, glyphs.sample_within_script])
def test_episodes_that_memory_cannot_hold_are_refused_up_front(sample, monkeypatch):
    """n_episodes=10**6 used to end in a raw MemoryError ("Unable to allocate 87.6 GiB"):
    now one line with the estimate and the machine's memory, before anything is allocated.
    (A machine of 1 GiB: 10**5 3-way episodes of 3 float32 images each need about 5 GiB.)"""
    import checks
    monkeypatch.setattr(checks, "machine_memory", lambda: 2 ** 30)
    script = () if sample is glyphs.sample_episodes else (numpy.full(4, "A"),)
    with pytest.raises(ValueError) as error:
        sample(IMAGES, [0, 1, 2], *script, 3, 1, 2, 10 ** 5, RNG)
    assert f"{sample.__name__} of 100,000 episodes of 3 × (1 + 2) images would need about 5." \
        in str(error.value) and "than this machine's 1 GiB can hold" in str(error.value), str(
            error.value)
    assert sample(IMAGES, [0, 1, 2], *script, 3, 1, 2, 10, RNG).x_support.shape == (10, 3, 784)
