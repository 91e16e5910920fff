"""Argument checks for the library (maml.py, tasks.py, variants.py), in one place, so the
algorithm stays short to read.

`@checked` checks a function's arguments by their names (the table RULES below) when the call
comes from outside; calls made inside a checked call are not checked again, so the traced inner
loop pays nothing. Each check raises a ValueError that names the argument (and, for parameters,
the layer) and says what was expected — instead of a traceback from deep inside numpy or
autograd, or a silent NaN. Checks read through autograd's boxes with getval.
"""
import contextlib
import functools
import inspect
import numbers
import os
import threading

import numpy
from autograd.tracer import getval

# Sane upper bounds: far above any experiment here, far below what exhausts a 24 GB machine.
MAX_ELEMENTS = 50_000_000    # per array, in a checkpoint or in memory (400 MB of float64)
MAX_STEPS = 1000             # inner gradient steps
MAX_COUNT = 100_000_000      # iterations
MEMORY_SHARE = 0.8           # a run may plan to use this share of the machine's memory


def count(name, value, low=1, high=None):
    """Raise unless value is a whole number (not a bool) with low <= value <= high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
            high is not None and value > high):
        bound = f">= {low}" if high is None else f"from {low} to {high:,}"
        raise ValueError(f"{name} must be a whole number {bound}, got {_short(value)}")
    return int(value)


def number(name, value, low=0.0, strict=False, high=numpy.inf):
    """Raise unless value is a finite real number (int or float, not a bool or a string) that is
    >= low (> low with strict=True) and <= high. Returns it as a float."""
    value = getval(value)
    if isinstance(value, numpy.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, bool) or isinstance(value, numpy.bool_) or not isinstance(
            value, (numbers.Integral, float, numpy.floating)):
        raise ValueError(f"{name} must be a real number, got {_describe(value)}")
    if not numpy.isfinite(value) or value < low or (strict and value == low) or value > high:
        bounds = [f"{'>' if strict else '>='} {low:g}"] if low > -numpy.inf else []
        bounds += [f"<= {high:g}"] if high < numpy.inf else []
        raise ValueError(f"{name} must be a finite number{' ' if bounds else ''}"
                         f"{' and '.join(bounds)}, got {_short(value)}")
    return float(value)


def alpha(value):
    """The inner step size α: a finite real number >= 0."""
    return number("alpha (the inner step size)", value)


def rng(value):
    """Raise unless value is a numpy.random.Generator."""
    if not isinstance(value, numpy.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
                         f"got {type(value).__name__}")


def params(value, name="params", per_task=True, finite=True):
    """Raise unless value is a non-empty list of (W, b) pairs of real floating arrays whose
    shapes chain: W (n_in, n_out), b (n_out,); or, if per_task, W (T, n_in, n_out),
    b (T, 1, n_out), with the same T in every layer that has one. finite=True also refuses
    NaN and inf.

    Returns (layer sizes (n_in, ..., n_out), T or None).
    """
    value = getval(value)
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must be a non-empty list of (W, b) pairs, got "
                         f"{_describe(value)}")
    sizes, n_tasks = [], None
    for i, pair in enumerate(value):
        pair = getval(pair)
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"{name}[{i}] must be a (W, b) pair, got {_describe(pair)}")
        W, b = (getval(a) for a in pair)
        for what, a in (("W", W), ("b", b)):
            dtype = getattr(a, "dtype", None)
            if not isinstance(a, numpy.ndarray) or dtype.kind != "f":
                raise ValueError(f"{name}[{i}] {what} must be an array of real floats, got "
                                 f"{_describe(a)}")
        if W.ndim == 2 and b.shape == W.shape[1:]:
            T = None
        elif per_task and W.ndim == 3 and b.shape == (W.shape[0], 1, W.shape[2]):
            T = W.shape[0]
        else:
            expected = "W (n_in, n_out) and b (n_out,)" + (
                ", or per task W (T, n_in, n_out) and b (T, 1, n_out)" if per_task else "")
            raise ValueError(f"{name}[{i}] has W {W.shape} and b {b.shape}: expected {expected}")
        if T is not None and n_tasks not in (None, T):  # shared layers may mix with per-task ones
            raise ValueError(f"{name}[{i}] has a task axis of {T} but an earlier layer has "
                             f"{n_tasks}")
        n_tasks = T if T is not None else n_tasks
        if sizes and W.shape[-2] != sizes[-1]:
            raise ValueError(f"{name}[{i}] W has shape {W.shape}: its input width "
                             f"{W.shape[-2]} must be {name}[{i - 1}]'s output width {sizes[-1]}")
        sizes = sizes or [W.shape[-2]]
        sizes.append(W.shape[-1])
        if min(W.shape) < 1:
            raise ValueError(f"{name}[{i}] W has shape {W.shape}: every width must be >= 1")
        if finite and not (numpy.isfinite(W).all() and numpy.isfinite(b).all()):
            raise ValueError(f"{name}[{i}] contains NaN or infinite weights")
    return tuple(sizes), n_tasks


def data(sizes, **arrays):
    """Raise unless each x_* / y_* array is finite and (K, n) or (T, K, n), with x's n the
    network's input width, y's its output width, and each x with the same tasks and points
    as its y."""
    for name, a in arrays.items():
        if not isinstance(a, numpy.ndarray) or a.ndim not in (2, 3) or min(a.shape[:-1]) < 1 or (
                a.dtype.kind not in "fiu"):
            raise ValueError(f"{name} must be a real array of shape (K, n) or (T, K, n) with "
                             f"T, K >= 1, got {_describe(a)}")
        width = sizes[0] if name.startswith("x") else sizes[-1]
        if a.shape[-1] != width:
            raise ValueError(f"{name} has shape {a.shape}: its last axis must be {width} to fit "
                             "the network")
        if not numpy.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    for name, a in arrays.items():
        y_name = "y" + name[1:]
        if name.startswith("x") and y_name in arrays and arrays[y_name].shape[:-1] != a.shape[:-1]:
            raise ValueError(f"{name} has shape {a.shape} but {y_name} has shape "
                             f"{arrays[y_name].shape}: expected the same tasks and points")


def _short(value):
    """repr(value) on one line, at most 60 characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(value):
    """A short description of a bad value: its type, and its shape and dtype if it has them."""
    if isinstance(value, numpy.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {_short(value)}"


def weight_count(sizes):
    """How many weights (W and b) an MLP with these layer sizes has."""
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def layer_sizes(value):
    """Two or more whole numbers, with fewer than MAX_ELEMENTS weights in all."""
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise ValueError(f"layer_sizes must be two or more whole numbers, got {_describe(value)}")
    for n in value:
        count("each of layer_sizes", n, low=1, high=MAX_ELEMENTS)
    weights = weight_count(value)
    if weights > MAX_ELEMENTS:
        raise ValueError(f"layer_sizes {tuple(value)} make {weights:,} weights, more than the "
                         f"limit of {MAX_ELEMENTS:,}")


def interval(name, value):
    """A pair (low, high) of finite real numbers with low < high and a finite width."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high), got {_describe(value)}")
    low, high = (number(f"{name}[{i}]", v, low=-numpy.inf) for i, v in enumerate(value))
    if not (low < high and numpy.isfinite(high - low)):
        raise ValueError(f"{name} must have low < high and a finite width, got {tuple(value)}")


def function(name, value):
    """Raise unless value can be called."""
    if not callable(value):
        raise ValueError(f"{name} must be a function, got {_describe(value)}")


def flag(name, value):
    """Raise unless value is True or False."""
    if not isinstance(value, (bool, numpy.bool_)):
        raise ValueError(f"{name} must be True or False, got {_describe(value)}")


def one_hot(y):
    """Raise unless every row of y (along its last axis) is one-hot: zeros and a single one."""
    bad = ~(numpy.isin(y, (0, 1)).all(axis=-1) & (y.sum(axis=-1) == 1))
    if bad.any():
        raise ValueError(f"y must be one-hot class labels (each row zeros and a single 1) for a "
                         f"classification loss, got {bad.sum():,} of {bad.size:,} rows that are "
                         f"not, e.g. {_short(y[numpy.nonzero(bad)][0])}")


def batch_of_tasks(value, name="batch"):
    """A Batch (tasks.Batch, or any namedtuple with its four first fields): x_support,
    y_support, x_query, y_query real, finite (T, K, n) arrays of the same T."""
    fields = ("x_support", "y_support", "x_query", "y_query")
    if not all(hasattr(value, f) for f in fields):
        raise ValueError(f"{name} must be a tasks.Batch, got {_describe(value)}")
    for f in fields:
        a = getattr(value, f)
        if not isinstance(a, numpy.ndarray) or a.ndim != 3 or a.dtype.kind not in "fiu" or (
                min(a.shape) < 1 or not numpy.isfinite(a).all()):
            raise ValueError(f"{name}: {f} must be a finite real array (T, K, n) with T, K, "
                             f"n >= 1, got {_describe(a)}")
    if len({len(getattr(value, f)) for f in fields}) != 1:
        raise ValueError(f"{name}: its arrays must hold the same number of tasks")


def scores(per_task_score, shape):
    """Raise unless per_task_score (what evaluate's score_fn returned, step by step) is None
    or real numbers of `shape`: one per task and step."""
    if per_task_score is not None and (numpy.shape(per_task_score) != shape or numpy.asarray(
            per_task_score).dtype.kind not in "fiub"):
        raise ValueError(f"score_fn must return one real number per task, shape ({shape[-1]},), "
                         f"got {_describe(numpy.asarray(per_task_score))} over the steps")


def wave(x, amplitude, phase, name):
    """x a finite real array; for x (T, N, 1), amplitude and phase finite real arrays (T,),
    otherwise finite real numbers (tasks.sinusoid, variants.oracle_inputs)."""
    x = getval(x)
    if not isinstance(x, numpy.ndarray) or x.dtype.kind not in "fiu" or (
            not numpy.isfinite(x).all()) or (name == "oracle_inputs" and (
                x.ndim != 3 or x.shape[-1] != 1)):
        shape = "(T, N, 1)" if name == "oracle_inputs" else "(T, N, 1) or any shape"
        raise ValueError(f"x must be a finite real array of shape {shape}, got {_describe(x)}")
    for what, v in (("amplitude", amplitude), ("phase", phase)):
        if x.ndim == 3:
            v = getval(v)
            v = numpy.asarray(v) if isinstance(v, (list, tuple)) else v
            if not isinstance(v, numpy.ndarray) or v.shape != x.shape[:1] or (
                    v.dtype.kind not in "fiu") or not numpy.isfinite(v).all():
                raise ValueError(f"{what} must be a finite real array of shape "
                                 f"({x.shape[0]},), one per task of x {x.shape}, got "
                                 f"{_describe(v)}")
        else:
            number(what, v, low=-numpy.inf)


def adam(given):
    """adam_step's arguments: grads of params' shapes, state None or (t, m, v) from an earlier
    adam_step on the same shapes, 0 <= b1, b2 < 1, eps > 0."""
    params(given["params"], per_task=False)
    shapes = [tuple(getval(a).shape for a in pair) for pair in getval(given["params"])]

    def like_params(name, value, low=-numpy.inf):
        params(value, name, per_task=False)
        if [tuple(getval(a).shape for a in pair) for pair in getval(value)] != shapes:
            raise ValueError(f"{name} must have the shapes of params {shapes}")
        if low > -numpy.inf and any((getval(a) < low).any() for pair in value for a in pair):
            raise ValueError(f"{name} must be >= {low:g} everywhere")

    like_params("grads", given["grads"])
    state = given["state"]
    if state is not None:
        if not isinstance(state, (tuple, list)) or len(state) != 3:
            raise ValueError("state must be None (the first step) or the (t, m, v) an earlier "
                             f"adam_step returned, got {_describe(state)}")
        count("state's step count t", state[0], low=0, high=MAX_COUNT)
        like_params("state's m", state[1])
        like_params("state's v", state[2], low=0.0)
    for name in ("b1", "b2"):
        number(name, given[name], high=1.0)
        if given[name] == 1:
            raise ValueError(f"{name} must be < 1, got {_short(given[name])}")


def machine_memory():
    """This machine's physical memory in bytes, or None where it can't be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def training_bytes(layer_sizes, meta_batch, k, steps):
    """Roughly the memory one meta-training iteration holds: the per-task weights and the
    activations of every inner step, kept for the meta-gradient. Constants fitted to
    tracemalloc peaks of maml.meta_train (1-40-40-1 to 1-200-200-1, T up to 100, K up to
    1,000, 1 to 5 steps)."""
    weights = weight_count(layer_sizes)
    points = 2 * meta_batch * k * sum(layer_sizes[1:])
    return 8 * (steps + 1) * (4 * meta_batch * weights + 1.2 * points)


def evaluation_bytes(layer_sizes, n_tasks, k_support, k_query):
    """Roughly the memory maml.evaluate holds: each task's weights, their gradient and the
    activations of one step (nothing is kept for a meta-gradient)."""
    weights = weight_count(layer_sizes)
    return 8 * n_tasks * (6 * weights + 3 * (k_support + k_query) * sum(layer_sizes[1:]))


def fits(what, need):
    """Raise unless `need` bytes fit in MEMORY_SHARE of this machine's memory."""
    have = machine_memory()
    if have and need > MEMORY_SHARE * have:
        raise ValueError(f"{what} would need about {need / 2 ** 30:,.1f} GiB, more than this "
                         f"machine's {have / 2 ** 30:,.0f} GiB can hold: use smaller values")


# name of an argument -> its check. Data and parameters are checked together (below).
RULES = {
    "alpha": alpha,
    "steps": lambda v: count("steps", v, low=0, high=MAX_STEPS),
    "max_steps": lambda v: count("max_steps", v, low=0, high=MAX_STEPS),
    "first_order": lambda v: flag("first_order", v),
    "per_weight": lambda v: flag("per_weight", v),
    "rng": rng,
    "seed": lambda v: count("seed", v, low=0, high=2 ** 63 - 1),
    "iterations": lambda v: count("iterations", v, low=0, high=MAX_COUNT),
    "meta_batch": lambda v: count("meta_batch", v, high=MAX_ELEMENTS),
    "k": lambda v: count("k", v, high=MAX_ELEMENTS),
    "n_tasks": lambda v: count("n_tasks", v, high=MAX_ELEMENTS),
    "k_support": lambda v: count("k_support", v, high=MAX_ELEMENTS),
    "k_query": lambda v: count("k_query", v, high=MAX_ELEMENTS),
    "query_points": lambda v: count("query_points", v, high=MAX_ELEMENTS),
    "amplitude_range": lambda v: interval("amplitude_range", v),
    "phase_range": lambda v: interval("phase_range", v),
    "x_range": lambda v: interval("x_range", v),
    "alpha_range": lambda v: v is None or interval("alpha_range", v),
    "lr": lambda v: number("lr", v, strict=True),
    "eps": lambda v: number("eps", v, strict=True),
    "meta_lr": lambda v: number("meta_lr", v, strict=True),
    "std": lambda v: number("std", v, strict=True, high=1e3),
    "layer_sizes": layer_sizes,
    "init": lambda v: params(v, "init", per_task=False),
    "batch": batch_of_tasks,
    "loss_fn": lambda v: function("loss_fn", v),
    "score_fn": lambda v: v is None or function("score_fn", v),
    "sample_tasks": lambda v: function("sample_tasks", v),
    "objective": lambda v: v is None or function("objective", v),
    "objective_and_grad": lambda v: v is None or function("objective_and_grad", v),
    "callback": lambda v: v is None or function("callback", v),
}
DATA = ("x", "y", "x_support", "y_support", "x_query", "y_query")
ADAPTING = ("inner_update", "adapt", "maml_loss", "maml_loss_loop", "adapt_head", "anil_loss")
# (these hold a copy of θ per task, and the activations of every step, for a meta-gradient)
PER_TASK = ("mlp", "loss", "cross_entropy", "accuracy", "inner_update", "adapt", "maml_loss",
            "maml_loss_loop", "adapt_head")  # these take θ with a task axis too (see per_task)


def arguments(name, given):
    """Check the arguments `given` ({name: value}) of the library function `name`."""
    for key, value in given.items():
        if key in RULES:
            RULES[key](value)
    if name in ("sinusoid", "oracle_inputs"):
        wave(given["x"], given["amplitude"], given["phase"], name)
    if name == "train" and given.get("objective") is None and (
            given.get("objective_and_grad") is None):
        raise ValueError("train needs an objective (or an objective_and_grad), got None")
    if name in ("oracle_train", "evaluate_oracle"):
        layers, _ = params(given["params"], per_task=False)
        if layers[0] != 3:
            raise ValueError(f"the oracle's network takes (x, A, φ), 3 inputs: params has "
                             f"{layers[0]}")
    if name == "per_task":
        layers, _ = params(given["params"], per_task=False)
        fits(f"per_task for {given['n_tasks']:,} tasks",
             8 * given["n_tasks"] * weight_count(layers))
    if name == "summarise":
        losses = getval(given["per_task_loss"])
        if not isinstance(losses, numpy.ndarray) or losses.ndim != 2 or min(losses.shape) < 1 or (
                losses.dtype.kind not in "fiu"):
            raise ValueError("per_task_loss must be a real array (steps + 1, T) with T >= 1, got "
                             f"{_describe(losses)}")
        scores(given["per_task_score"], losses.shape)
    if name == "adam_step":
        adam(given)
        return
    if name == "learned_step_update":  # one step-size pair per layer of θ, of θ's shapes or 1
        params(given["step_sizes"], "step_sizes", per_task=False)
        layers = [tuple(getval(a).shape[-2:] if i == 0 else getval(a).shape[-1:] for i, a in
                        enumerate(pair)) for pair in getval(given["params"])]
        sizes = [tuple(getval(a).shape for a in pair) for pair in getval(given["step_sizes"])]
        if sizes != layers and sizes != [((1, 1), (1,))] * len(layers):
            raise ValueError(f"step_sizes must be one (W, b) pair per layer of params, of its "
                             f"shapes {layers} or each ((1, 1), (1,)), got {sizes}")
    if name in ("sample_batch", "held_out"):
        support, query = (("k_support", "k_query") if name == "sample_batch" else
                          ("k", "query_points"))
        points = given["n_tasks"] * (given[support] + given[query])
        if points > MAX_ELEMENTS:
            raise ValueError(f"n_tasks * ({support} + {query}) = {points:,} points is more "
                             f"than the limit of {MAX_ELEMENTS:,}")
    if "meta_batch" in given and "k" in given and given["meta_batch"] * 2 * given["k"] > MAX_ELEMENTS:
        raise ValueError(f"meta_batch * 2k = {given['meta_batch'] * 2 * given['k']:,} points per "
                         f"iteration is more than the limit of {MAX_ELEMENTS:,}")
    if name in ("meta_train", "pretrain", "train") and "params" in given:
        layers, _ = params(given["params"], per_task=False)
        fits(f"{name} with meta_batch {given['meta_batch']}, k {given['k']} and "
             f"{given.get('steps', 1)} inner steps", training_bytes(
                 layers, given["meta_batch"], given["k"], given.get("steps", 1)))
    if name == "evaluate" and "params" in given:
        layers, _ = params(given["params"], per_task=False)
        shapes = [getattr(getval(given[f]), "shape", (0, 0)) for f in ("x_support", "x_query")]
        if all(len(s) == 3 for s in shapes):
            fits(f"evaluate on {shapes[0][0]:,} tasks", evaluation_bytes(
                layers, shapes[0][0], shapes[0][1], shapes[1][1]))
    if "params" in given:
        sizes, n_tasks = params(given["params"], per_task=name in PER_TASK)
        arrays = {key: given[key] for key in DATA if key in given}
        data(sizes, **arrays)
        tasks_of = {key: (getval(a).shape[0] if getval(a).ndim == 3 else None)
                    for key, a in arrays.items()}
        if len(set(tasks_of.values())) > 1 or (
                n_tasks is not None and set(tasks_of.values()) - {n_tasks}):
            shapes = ", ".join(f"{key} {getval(a).shape}" for key, a in arrays.items())
            raise ValueError(f"the arrays must hold the same tasks"
                             f"{f' as the task axis of params ({n_tasks})' if n_tasks else ''}"
                             f": got {shapes}")
        if name in ("evaluate", "evaluate_head") and (tasks_of.get("x_support") or 0) < 2:
            raise ValueError("evaluate needs (T, K, n) support and query sets with T >= 2 tasks "
                             f"(the interval needs a spread), got {getval(given['x_support']).shape}")
        classifies = {name} | {getattr(given.get(f), "__name__", None)
                               for f in ("loss_fn", "score_fn")}
        if classifies & {"cross_entropy", "accuracy"}:   # maml's classification losses
            for key in ("y", "y_support", "y_query"):
                if key in arrays:
                    one_hot(getval(arrays[key]))
        if name in ADAPTING and tasks_of.get("x_support"):
            T = tasks_of["x_support"]
            K = max(getval(a).shape[1] for a in arrays.values())
            steps = given.get("steps", 1)
            fits(f"{name} on {T:,} tasks of {K:,} points with {steps} inner step(s)",
                 training_bytes(sizes, T, K, steps))


_inside = threading.local()


@contextlib.contextmanager
def again(when=True):
    """Inside a checked call, check the calls made in this block too (if `when`)."""
    depth = getattr(_inside, "depth", 0)
    _inside.depth = 0 if when else depth
    try:
        yield
    finally:
        _inside.depth = depth


def checked(fun):
    """Check fun's arguments (by name, see RULES) when it is called from outside the library;
    inside a checked call, call straight through."""
    signature = inspect.signature(fun)

    @functools.wraps(fun)
    def wrapper(*args, **kwargs):
        if getattr(_inside, "depth", 0):
            return fun(*args, **kwargs)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{fun.__name__}: {e}") from None
        bound.apply_defaults()
        arguments(fun.__name__, bound.arguments)
        _inside.depth = 1
        try:
            return fun(*args, **kwargs)
        finally:
            _inside.depth = 0
    return wrapper
