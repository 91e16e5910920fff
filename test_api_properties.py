"""Property-based tests of the library's edge (issue 16): any one argument of a public function
replaced by a hostile value gives a result or one clear ValueError / TypeError naming it (or,
for training, maml.Diverged) —
never a traceback from deep inside numpy or autograd, a MemoryError, or a hang."""
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
    with numpy.errstate(all="ignore"):
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
