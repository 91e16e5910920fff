"""Argument checks for the library (maml.py, tasks.py, variants.py, and the few-shot half:
protonets.py, fewshot.py, glyphs.py, figures.py, checkpoints.py), in one place, so the
algorithm stays short to read.

`@checked` checks a function's arguments by their names (the tables RULES and MODULE_RULES
below) when the call comes from outside; calls made inside a checked call are not checked
again, so the traced inner loop pays nothing. Each check raises a ValueError that names the argument (and, for parameters,
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
MAX_VALUE = 1e50             # data: the spread of their squared error, ~value⁴, stays finite
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
        peak = float(numpy.abs(a).max())
        if peak > MAX_VALUE:
            e = numpy.log10(peak)
            raise ValueError(
                f"{name} holds values as large as {peak:.2g}: their squared error (about "
                f"1e{2 * e:.0f}) and its spread over tasks (about 1e{4 * e:.0f}) overflow a float "
                f"(at most 1.8e308), so the interval is infinite and a gradient step gives "
                f"inf, then NaN; scale the data to at most {MAX_VALUE:.0e}")
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


def choice(name, value, allowed):
    """Raise unless value is one of the strings `allowed`."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))} or None, "
                         f"got {_describe(value)}")


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


DECAYS = ("cosine",)  # the learning-rate schedules maml.train knows, beside None (constant)


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
    "decay": lambda v: v is None or choice("decay", v, DECAYS),
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


def arguments(name, given, module=None):
    """Check the arguments `given` ({name: value}) of the library function `name` (of
    `module`)."""
    if module in MODULE_RULES:
        rules = MODULE_RULES[module]
        for key, value in given.items():
            check = rules.get(key, RULES.get(key))
            if check is not None:
                check(value)
        TOGETHER[module](name, given)
        return
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



# --- the few-shot half: protonets.py, glyphs.py, figures.py, checkpoints.py ------------------------
# Their arguments are checked by module: an argument's name means one thing within a module
# (`path` is a checkpoint file in checkpoints.py, an Omniglot folder in glyphs.py). RULES' checks
# apply where a module has no rule of its own; then each module's check of the arguments
# together (shapes that must agree).

EPISODE_SHAPES = ("the shapes x_support (T, N*K, n), y_support (T, N*K, N), x_query (T, M, n), "
                  "y_query (T, M, N)")


def real_array(name, value, ndim, low_sizes=1, finite=True, kinds="fiu", shapes=None):
    """Raise unless value is a numpy array of real numbers with `ndim` axes (an int, or a tuple
    of allowed counts), every axis >= low_sizes long, and finite if `finite`. Returns it.
    `shapes`, if given, says in the message which shapes were expected."""
    value = getval(value)
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if not isinstance(value, numpy.ndarray) or value.dtype.kind not in kinds or (
            value.ndim not in ndims) or (value.ndim and min(value.shape) < low_sizes):
        axes = " or ".join(str(n) for n in ndims)
        raise ValueError(f"{name} must be a numpy array of real numbers with {axes} axes, "
                         f"each at least {low_sizes} long{f' ({shapes})' if shapes else ''}, "
                         f"got {_describe(value)}")
    if finite and not numpy.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def one_hot_labels(name, value, shapes=EPISODE_SHAPES):
    """A (T, M, N) array of one-hot rows (zeros and a single 1), N >= 1."""
    value = real_array(name, value, 3, shapes=shapes)
    bad = ~(numpy.isin(value, (0, 1)).all(axis=-1) & (value.sum(axis=-1) == 1))
    if bad.any():
        raise ValueError(f"{name} must be one-hot class labels (each row zeros and a single 1), "
                         f"got {bad.sum():,} of {bad.size:,} rows that are not, e.g. "
                         f"{_short(value[numpy.nonzero(bad)][0])}")
    return value


def every_class_supported(name, y, shapes=EPISODE_SHAPES):
    """Raise unless every class of every episode of y (T, S, N) has a support point."""
    y = real_array(name, y, 3, shapes=shapes)
    empty = numpy.argwhere(y.sum(axis=1) == 0)
    if len(empty):
        t, n = empty[0]
        raise ValueError(f"{name}: class {n} of episode {t} has no support point (its "
                         f"mean would be 0/0); every class of every episode needs at "
                         f"least one support point ({len(empty):,} have none)")


def episode_arrays(given, where=""):
    """x_support (T, S, n), y_support (T, S, N) one-hot with every class present, x_query
    (T, M, n), y_query (T, M, N) one-hot: whichever of them are in `given`, with n the input
    width of given['params'] (if there) and T, S, M, N agreeing."""
    sizes = params(given["params"], per_task=False)[0] if "params" in given else None
    arrays = {}
    for key in ("x_support", "x_query", "x"):
        if key in given:
            arrays[key] = a = real_array(where + key, given[key], 3, shapes=EPISODE_SHAPES)
            if sizes and a.shape[-1] != sizes[0]:
                raise ValueError(f"{where}{key} has shape {a.shape}: its last axis must be "
                                 f"{sizes[0]}, the input width of params")
    if "y_support" in given:  # first: a class left out makes its rows all zeros too
        every_class_supported(where + "y_support", given["y_support"])
    for key in ("y_support", "y_query"):
        if key in given:
            arrays[key] = one_hot_labels(where + key, given[key])
    shapes = {key: a.shape for key, a in arrays.items()}
    agree = (len({s[0] for s in shapes.values()}) <= 1
             and all(shapes[f"x_{p}"][:2] == shapes[f"y_{p}"][:2] for p in ("support", "query")
                     if f"x_{p}" in shapes and f"y_{p}" in shapes)
             and ("y_support" not in shapes or "y_query" not in shapes
                  or shapes["y_support"][2] == shapes["y_query"][2])
             and ("x_support" not in shapes or "x_query" not in shapes
                  or shapes["x_support"][2] == shapes["x_query"][2]))
    if not agree:
        raise ValueError(f"{where or 'the arrays'} must be T episodes of {EPISODE_SHAPES}, "
                         "got " + ", ".join(f"{key} {s}" for key, s in shapes.items()))


def small_embeddings(params_value, arrays):
    """Raise unless the embeddings of the arrays {name: x} stay within MAX_VALUE, so that their
    squared distances cannot overflow (inf, then NaN). A cheap bound, before any work: max |x|
    times each layer's largest column sum of |W|, plus max |b| (ReLU makes nothing larger)."""
    bound = max(float(numpy.abs(getval(x)).max()) for x in arrays.values())
    with numpy.errstate(over="ignore", invalid="ignore"):
        for W, b in getval(params_value):
            bound = bound * numpy.abs(getval(W)).sum(axis=0).max() + numpy.abs(getval(b)).max()
    if not bound <= MAX_VALUE:
        raise ValueError(f"{' and '.join(arrays)} with these params could make embeddings as "
                         f"large as {bound:.2g} (max |x| times each layer's largest column sum "
                         f"of |W|, plus |b|): their squared distances could overflow a float "
                         f"(inf, then NaN); scale them so that this is at most {MAX_VALUE:.0e}")


def protonets_arguments(name, given):
    """protonets.py: the embedding and the episodes."""
    if name == "log_softmax":
        real_array("scores", given["scores"], (1, 2, 3), finite=False, kinds="f")
        if numpy.isnan(getval(given["scores"])).any():
            raise ValueError("scores contain NaN")
        return
    if name == "evaluate":
        value = given["episodes"]
        if not isinstance(value, tuple) or len(value) < 4:
            raise ValueError("episodes must be glyphs.Episodes (or a tuple x_support, "
                             f"y_support, x_query, y_query, ...), got {_describe(value)}")
        episode_arrays(dict(zip(("x_support", "y_support", "x_query", "y_query"), value[:4]),
                            params=given["params"]), "episodes: ")
        small_embeddings(given["params"], {"episodes' x_support": value[0],
                                           "episodes' x_query": value[2]})
        return
    episode_arrays(given)
    arrays = {key: getval(given[key]) for key in ("x_support", "x_query", "x") if key in given}
    if arrays and "params" in given:
        sizes = params(given["params"], per_task=False)[0]
        images = sum(a.shape[0] * a.shape[1] for a in arrays.values())
        fits(f"protonets.{name} on {images:,} images", 8 * 3 * images * sum(sizes))
        small_embeddings(given["params"], arrays)


READOUT_SHAPES = "zs (T, S, D), ys (T, S, N) one-hot, zq (T, Q, D)"


def real_numbers(name, value, ndim, low_sizes=1):
    """real_array, but a list of numbers will do too: returned as an array."""
    value = getval(value)
    if isinstance(value, (list, tuple)):
        with contextlib.suppress(ValueError):   # ragged: real_array says what was expected
            value = numpy.asarray(value)
    return real_array(name, value, ndim, low_sizes)


def fewshot_arguments(name, given):
    """fewshot.py: the read-outs' features and labels, their steps, the values of an interval;
    its training functions take maml.py's rules."""
    if name.endswith("_train"):
        return arguments(name, given)
    if name in ("cosine_centroid", "logistic_regression", "linear_head"):
        zs, zq = (real_array(key, given[key], 3, shapes=READOUT_SHAPES) for key in ("zs", "zq"))
        every_class_supported("ys", given["ys"], READOUT_SHAPES)
        ys = one_hot_labels("ys", given["ys"], READOUT_SHAPES)
        if not (len(zs) == len(ys) == len(zq) and zs.shape[1] == ys.shape[1]
                and zs.shape[2] == zq.shape[2]):
            raise ValueError(f"zs, ys and zq must be T episodes of {READOUT_SHAPES}, got zs "
                             f"{zs.shape}, ys {ys.shape}, zq {zq.shape}")
    if name == "linear_head":  # each step moves W by at most α·max|z| and b by at most α
        top = max(numpy.abs(zs).max(), numpy.abs(zq).max()).astype(float)
        with numpy.errstate(over="ignore"):
            bound = given["steps"] * given["alpha"] * (zs.shape[2] * top ** 2 + 1)
        if bound > 1e300:
            raise ValueError(f"linear_head's scores could reach {bound:.2g} (steps · alpha · "
                             f"(D · max|z|² + 1)), more than a float holds (1.8e308): use a "
                             f"smaller alpha or fewer steps, or scale the features")
    if name == "interval":
        values = real_numbers("values", given["values"], 1, low_sizes=0)
        if len(values) < 2:
            raise ValueError("values must hold at least 2 numbers (an interval needs their "
                             f"spread), got {len(values)}")
        if numpy.abs(values).max() > MAX_VALUE:
            raise ValueError(f"values must be at most {MAX_VALUE:.0e} in size (their squared "
                             f"spread must not overflow), got {numpy.abs(values).max():.2g}")


def glyph_set(value, name="glyphs"):
    """glyphs.Glyphs: images (C, I, h, w) real floats or uint8 in range, script and char (C,)
    printable strings, background and evaluation splitting range(C) between them."""
    fields = ("images", "script", "char", "background", "evaluation")
    if not all(hasattr(value, f) for f in fields):
        raise ValueError(f"{name} must be glyphs.Glyphs (load_glyphs, load_omniglot), got "
                         f"{_describe(value)}")
    images = real_array(f"{name}.images", value.images, 4)
    n = len(images)
    for f in ("script", "char"):
        names = getattr(value, f)
        if not isinstance(names, numpy.ndarray) or names.shape != (n,) or (
                names.dtype.kind != "U"):
            raise ValueError(f"{name}.{f} must be {n} strings, one per class, got "
                             f"{_describe(names)}")
    both = numpy.concatenate([numpy.asarray(value.background), numpy.asarray(value.evaluation)])
    if both.dtype.kind not in "iu" or not numpy.array_equal(numpy.sort(both), numpy.arange(n)):
        raise ValueError(f"{name}.background and {name}.evaluation must split the class "
                         f"indices 0..{n - 1} between them")


def glyphs_path(value, name="path"):
    """A folder path: a non-empty str or os.PathLike of str, no NUL (bytes paths are not read)."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str) or not text or "\0" in text:
        raise ValueError(f"{name} must be a folder path (a non-empty str or os.PathLike), got "
                         f"{_describe(value)}")


def script_names(value):
    """None, or a non-empty list, tuple or set of script names (str)."""
    if value is not None and (not isinstance(value, (list, tuple, set, frozenset)) or not value
                              or not all(isinstance(s, str) for s in value)):
        raise ValueError("scripts must be None (all) or a non-empty list of script names "
                         f"(glyphs.SCRIPTS), got {_describe(value)}")


def png_data(value):
    """The bytes of a PNG file, for decode_drawing (which reads its header first)."""
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError(f"data must be the bytes of a PNG file, got {_describe(value)}")


def pixel_budget(value):
    """None, or a files.Budget of pixels."""
    import files
    if value is not None and not isinstance(value, files.Budget):
        raise ValueError(f"pixels must be None or a files.Budget, got {_describe(value)}")


def episodes_bytes(images, n_way, k_shot, n_query, n_episodes):
    """Roughly the memory sample_episodes holds at its peak: the episodes' images twice
    (gathered, then cut into support and query sets) and, per episode, the random numbers and
    orders it sorts to choose classes and instances (8 bytes each, twice)."""
    C, I, *pixels = images.shape
    size = 2 * n_way * (k_shot + n_query) * numpy.prod(pixels) * images.itemsize
    return n_episodes * (size + 16 * (C + n_way * I))


def glyphs_arguments(name, given):
    """glyphs.py: episodes for the 1-NN baseline; images and classes for the samplers, and
    the memory their episodes take."""
    if name in ("sample_episodes", "sample_within_script"):
        images = getval(given["images"])
        with contextlib.suppress(ValueError):   # ragged: sample_episodes says what it expects
            images = numpy.asarray(images)
        if isinstance(images, numpy.ndarray) and images.ndim == 4:
            n_way, k_shot, n_query = given["n_way"], given["k_shot"], given["n_query"] or 0
            fits(f"{name} of {given['n_episodes']:,} episodes of {n_way} × ({k_shot} + "
                 f"{n_query}) images", episodes_bytes(images, n_way, k_shot, n_query,
                                                      given["n_episodes"]))
    if name == "nearest_neighbour_accuracy":
        value = given["episodes"]
        if not isinstance(value, tuple) or len(value) < 4:
            raise ValueError("episodes must be glyphs.Episodes (or a tuple x_support, "
                             f"y_support, x_query, y_query, ...), got {_describe(value)}")
        episode_arrays(dict(zip(("x_support", "y_support", "x_query", "y_query"), value[:4])),
                       "episodes: ")
    if name == "episode_sampler":
        images = given["images"]
        images = images.images if hasattr(images, "images") else images
        real_array("images", images, 4, kinds="f")
        classes = numpy.asarray(given["classes"]) if isinstance(
            given["classes"], (list, tuple, numpy.ndarray)) else given["classes"]
        if not isinstance(classes, numpy.ndarray) or classes.ndim != 1 or (
                classes.dtype.kind not in "iu") or not ((0 <= classes) & (
                    classes < len(images))).all() or len(set(classes.tolist())) != len(classes):
            raise ValueError(f"classes must be distinct whole numbers from 0 to "
                             f"{len(images) - 1} (rows of images), got {_describe(classes)}")
        count("n_way", given["n_way"], high=len(classes))
        if given["n_query"] is not None:
            count("n_query", given["n_query"], high=images.shape[1] - 1)


def models_and_names(given):
    """params_by_model {model: params of a 1-in 1-out network} and names {model: text} for
    each of them (the sinusoid figures)."""
    models = given["params_by_model"]
    if not isinstance(models, dict) or not 1 <= len(models) <= 10:
        raise ValueError("params_by_model must be a dict {model: params} of 1 to 10 models, "
                         f"got {_describe(models)}")
    for model, value in models.items():
        sizes, _ = params(value, f"params_by_model[{model!r}]", per_task=False)
        if (sizes[0], sizes[-1]) != (1, 1):
            raise ValueError(f"params_by_model[{model!r}] must map one input to one output "
                             f"(a sine wave), got layers {sizes}")
    missing = [m for m in models if m not in given["names"]]
    if missing:
        raise ValueError(f"names must name every model of params_by_model: no name for "
                         f"{_short(missing[0])}")


def wave_batch(value, name="batch"):
    """A tasks.Batch of sine waves: batch_of_tasks, one input and output, and (T,) finite
    amplitudes and phases."""
    batch_of_tasks(value, name)
    T = len(value.x_support)
    if value.x_support.shape[-1] != 1 or value.y_support.shape[-1] != 1:
        raise ValueError(f"{name} must hold sine waves, one input and one output per point, "
                         f"got x_support {value.x_support.shape}")
    for f in ("amplitude", "phase"):
        a = getattr(value, f, None)
        if not isinstance(a, numpy.ndarray) or a.shape != (T,) or a.dtype.kind not in "fiu" or (
                not numpy.isfinite(a).all()):
            raise ValueError(f"{name}.{f} must be {T} finite numbers, one per task, got "
                             f"{_describe(a)}")


def figures_arguments(name, given):
    """figures.py: what each figure draws must be there."""
    if "params_by_model" in given:
        models_and_names(given)
    if name == "adaptation":
        batches = given["batches"]
        if not isinstance(batches, dict) or not 1 <= len(batches) <= 10:
            raise ValueError("batches must be a dict {K: held-out tasks.Batch} of 1 to 10 "
                             f"batches, got {_describe(batches)}")
        for k, batch in batches.items():
            wave_batch(batch, f"batches[{k!r}]")
    if name == "curves":
        results, labels, ks = given["results"], given["labels"], given["ks"]
        if not isinstance(ks, (list, tuple)) or not 1 <= len(ks) <= 10:
            raise ValueError(f"ks must be a list of 1 to 10 values of K, got {_describe(ks)}")
        if not isinstance(results, dict) or not labels:
            raise ValueError("results must be a dict {(method, K): maml.Evaluation} and "
                             f"labels a non-empty dict {{method: text}}, got {_describe(results)}")
        for method in labels:
            for k in ks:
                r = results.get((method, k)) if _hashable(method, k) else None
                if not (hasattr(r, "mean") and hasattr(r, "ci95")) or numpy.shape(
                        r.mean) != numpy.shape(r.ci95) or numpy.ndim(r.mean) != 1 or not len(
                        r.mean) or numpy.asarray(r.mean).dtype.kind != "f":
                    raise ValueError(f"results must hold a maml.Evaluation for ({method!r}, "
                                     f"{k!r}), got {_describe(r)}")
    if name == "training":
        histories, titles = given["histories"], given["titles"]
        if not isinstance(histories, dict) or not 1 <= len(histories) <= 10:
            raise ValueError("histories must be a dict {model: losses} of 1 to 10 models, got "
                             f"{_describe(histories)}")
        for model, history in histories.items():
            a = numpy.asarray(history) if isinstance(history, (list, tuple)) else history
            if not isinstance(a, numpy.ndarray) or a.ndim != 1 or not len(a) or (
                    a.dtype.kind not in "fiu"):
                raise ValueError(f"histories[{model!r}] must be a non-empty list of numbers, "
                                 f"got {_describe(history)}")
            if model not in titles:
                raise ValueError(f"titles must have a title for {model!r}")
    if name == "episode":
        support = real_array("x_support", given["x_support"], 2)
        query = real_array("x_query", given["x_query"], 2)
        for key, images in (("x_support", support), ("x_query", query)):
            if images.shape[1] != 784:
                raise ValueError(f"{key} must be 28×28 images flattened, (·, 784), got "
                                 f"{_describe(images)}")
        for key, images in (("labels_support", support), ("labels_query", query)):
            labels = getval(given[key])
            if not isinstance(labels, (numpy.ndarray, list, tuple)) or numpy.shape(labels) != (
                    len(images),) or numpy.asarray(labels).dtype.kind not in "iu":
                raise ValueError(f"{key} must be {len(images)} whole-number labels, one per "
                                 f"image, got {_describe(labels)}")
        guesses = given["guesses"]
        if not isinstance(guesses, dict) or not guesses or len(guesses) > 20:
            raise ValueError("guesses must be a dict {method: labels} of 1 to 20 methods, got "
                             f"{_describe(guesses)}")
        for method, guess in guesses.items():
            if not isinstance(method, str) or not method.isprintable() or len(method) > 40:
                raise ValueError(f"each method of guesses must be a printable name of at most "
                                 f"40 characters, got {_describe(method)}")
            if numpy.shape(guess) != (len(query),) or numpy.asarray(guess).dtype.kind not in "iu":
                raise ValueError(f"guesses[{method!r}] must be {len(query)} whole-number "
                                 f"labels, one per query, got {_describe(guess)}")
    if name == "glyph_scripts":
        glyph_set(given["glyphs"])
        count("characters", given["characters"], high=50)
        count("instances", given["instances"], high=50)


def checkpoint_path(value, name="path"):
    """A checkpoint file path: a non-empty str or os.PathLike of str, no NUL."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str) or not text or "\0" in text:
        raise ValueError(f"{name}: a checkpoint path must be a non-empty str or os.PathLike, "
                         f"got {_describe(value)}")


def checkpoints_arguments(name, given):
    """checkpoints.py: the models to encode, the arrays to decode."""
    if name in ("encode_models", "save_models"):
        models = given["models"]
        if not isinstance(models, dict) or not models or len(models) > 100 or not all(
                m is None or (isinstance(m, str) and m.isidentifier()) for m in models):
            raise ValueError("models must be a non-empty dict {name: params} with names like "
                             f"'maml' (or None for one unnamed model), got {_describe(models)}")
    if name == "read_npz":
        path = given["path"]
        if not (hasattr(path, "read") and hasattr(path, "seek")):
            checkpoint_path(path)
        if given["max_bytes"] is not None:
            count("max_bytes", given["max_bytes"], low=0)
    if name == "decode_models":
        arrays = given["arrays"]
        if not isinstance(arrays, dict) or not all(
                isinstance(k, str) and isinstance(v, numpy.ndarray) for k, v in arrays.items()):
            raise ValueError("arrays must be a dict {name: numpy array} (what read_npz "
                             f"returns), got {_describe(arrays)}")
    if name == "expect":
        import checkpoints
        if given["kind"] not in checkpoints.KINDS:
            raise ValueError(f"kind must be one of {sorted(checkpoints.KINDS)}, got "
                             f"{_describe(given['kind'])}")


def _hashable(*values):
    try:
        hash(values)
    except TypeError:
        return False
    return True


def _text(name, value, high):
    if not isinstance(value, str) or len(value) > high:
        raise ValueError(f"{name} must be a str of at most {high:,} characters, got "
                         f"{_describe(value)}")


def schema(value):
    """None, or a metadata schema {key: kind} (one of checkpoints.SCHEMAS' values)."""
    import checkpoints
    if value is not None and (not isinstance(value, dict) or not all(
            isinstance(k, str) and v in checkpoints.KINDS for k, v in value.items())):
        raise ValueError("schema must be None or {key: kind} with kinds among "
                         f"{sorted(checkpoints.KINDS)} (checkpoints.SCHEMAS), got "
                         f"{_describe(value)}")


def model_names(value):
    """None, or a collection of model names (str, or None for the unnamed model)."""
    if value is not None and (not isinstance(value, (list, tuple, set, frozenset, dict)) or not all(
            n is None or isinstance(n, str) for n in value)):
        raise ValueError("names must be None or a collection of model names (str, or None "
                         f"for the unnamed one), got {_describe(value)}")


def _labels(name, value):
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{name} must be a dict of texts, got {_describe(value)}")


# module -> {argument: its check}: what an argument's name means there
MODULE_RULES = {
    "protonets": {"batch_size": lambda v: count("batch_size", v, high=MAX_ELEMENTS),
                  "params": lambda v: params(v, per_task=False)},
    "glyphs": {"path": glyphs_path,
               "data": png_data,
               "where": lambda v: _text("where", v, 1000),
               "pixels": pixel_budget,
               "instances": lambda v: count("instances", v, high=10_000),
               "cache": lambda v: flag("cache", v),
               "scripts": script_names,
               "n_way": lambda v: count("n_way", v, high=MAX_ELEMENTS),
               "k_shot": lambda v: count("k_shot", v, high=MAX_ELEMENTS),
               "n_query": lambda v: v is None or count("n_query", v, high=MAX_ELEMENTS),
               "n_episodes": lambda v: count("n_episodes", v, high=10_000_000),
               "glyphs": glyph_set,
               "min_drawings": lambda v: count("min_drawings", v, high=10_000)},
    "figures": {"rng": rng,
                "characters": lambda v: count("characters", v, high=50),
                "instances": lambda v: count("instances", v, high=50),
                "names": lambda v: _labels("names", v),
                "labels": lambda v: _labels("labels", v),
                "titles": lambda v: _labels("titles", v),
                "xlabel": lambda v: _text("xlabel", v, 200),
                "ylabel": lambda v: _text("ylabel", v, 200),
                "title": lambda v: v is None or _text("title", v, 200),
                "block": lambda v: count("block", v, high=MAX_COUNT),
                "n_waves": lambda v: count("n_waves", v, high=20),
                "among": lambda v: count("among", v, high=MAX_ELEMENTS),
                "n_tasks": lambda v: count("n_tasks", v, high=100),
                "max_steps": lambda v: count("max_steps", v, high=100),
                "batch": wave_batch,
                "mse": lambda v: None if isinstance(v, (float, numpy.floating)) and (
                    not numpy.isfinite(v)) else number("mse", v, low=-numpy.inf)},
    "fewshot": {"z": lambda v: real_numbers("z", v, (1, 2, 3)),
                "l2": lambda v: number("l2 (the L2 penalty λ)", v)},
    "checkpoints": {"path": checkpoint_path,
                    "text": lambda v: _text("text", v, 4 * 10_000_000),
                    "what": lambda v: _text("what", v, 200),
                    "method": lambda v: _text("method", v, 200),
                    "model": lambda v: v is None or _text("model", v, 200),
                    "names": model_names,
                    "params": lambda v: params(v, per_task=False),
                    "schema": schema},
}
TOGETHER = {"protonets": protonets_arguments, "fewshot": fewshot_arguments,
            "glyphs": glyphs_arguments,
            "figures": figures_arguments, "checkpoints": checkpoints_arguments}

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
        arguments(fun.__name__, bound.arguments, fun.__module__)
        _inside.depth = 1
        try:
            return fun(*args, **kwargs)
        finally:
            _inside.depth = 0
    return wrapper
