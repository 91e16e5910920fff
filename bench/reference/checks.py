"""Argument checks for maml.py and tasks.py, kept here so the algorithm stays short to read.

Each check raises a ValueError that names the argument (and, for parameters, the layer) and
says what was expected — instead of a traceback from deep inside numpy or autograd, or a
silent NaN. Checks read through autograd's boxes with getval, so they add nothing to a trace.
"""
import numbers

import numpy
from autograd.tracer import getval

# Sane upper bounds: far above any sinusoid experiment, far below what exhausts a 24 GB machine.
MAX_ELEMENTS = 50_000_000    # per array, in a checkpoint or in memory (400 MB of float64)


def count(name, value, low=1, high=None):
    """Raise unless value is a whole number (not a bool) with low <= value <= high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
            high is not None and value > high):
        bound = f">= {low}" if high is None else f"from {low} to {high:,}"
        raise ValueError(f"{name} must be a whole number {bound}, got {value!r}")
    return int(value)


def number(name, value, low=0.0, strict=False):
    """Raise unless value is a finite real number (int or float, not a bool or a string) that is
    >= low (> low with strict=True). Returns it as a float."""
    value = getval(value)
    if isinstance(value, numpy.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, bool) or isinstance(value, numpy.bool_) or not isinstance(
            value, (numbers.Integral, float, numpy.floating)):
        raise ValueError(f"{name} must be a real number, got {value!r} "
                         f"({type(value).__name__})")
    if not numpy.isfinite(value) or value < low or (strict and value == low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, "
                         f"got {value!r}")
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
        if not isinstance(a, numpy.ndarray) or a.ndim not in (2, 3) or a.shape[-2] < 1 or (
                a.dtype.kind not in "fiu"):
            raise ValueError(f"{name} must be a real array of shape (K, n) or (T, K, n) with "
                             f"K >= 1, got {_describe(a)}")
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


def _describe(value):
    """A short description of a bad value: its type, and its shape and dtype if it has them."""
    if isinstance(value, numpy.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"
