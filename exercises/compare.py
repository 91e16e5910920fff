"""Comparing a student's answer with the reference: one-line verdicts.

Failed and NotYet are the two ways a check ends other than passing; `answer` turns one call's
entry (what the answer's process sent back) into its value or the verdict saying what went wrong
instead; `compare` and `compare_number` pass an answer within its dtype's tolerance, else name
the first candidate mistake it equals, else give an honest generic line.
"""
import math

import numpy


class Failed(Exception):
    """A check that did not pass; the message names the mistake (unless `generic`)."""

    def __init__(self, message, generic=False):
        super().__init__(message)
        self.generic = generic


class NotYet(Exception):
    """The starter's gap is still there."""



def problem(entry):
    """Raise what went wrong in one call (or at import) as the student's verdict."""
    if "not_yet" in entry:
        raise NotYet(f"{entry['not_yet']}: replace the `raise NotImplementedError` line with "
                     "your code")
    if "shortcut" in entry:
        allowed = ("embed and autograd.numpy are all it takes" if "protonets." in
                   entry["shortcut"] else "maml.mlp, maml.loss, maml.per_task and autograd.grad "
                   "are allowed")
        if any(w in entry["shortcut"] for w in ("switched off", "solutions", "opens")):
            raise Failed(f"shortcut: your code {entry['shortcut']}. Write it yourself ({allowed})")
        raise Failed(f"shortcut: your code {entry['shortcut']}; no credit")
    if "exit" in entry:
        status = 0 if entry["exit"] in ("None", "") else entry["exit"]
        raise Failed(f"your code exited (status {status}) before returning an answer")
    if "missing" in entry:
        raise Failed(f"your file has no function {entry['missing']}()")
    raise Failed(f"your code {entry['error']}")


class Other:
    """Something in the answer that is not numbers: only its type name came back."""

    def __init__(self, name):
        self.name = name


def answer(entry):
    """The value a call returned, or Failed saying what went wrong instead."""
    if "value" not in entry:
        problem(entry)
    if entry["changed"]:
        raise Failed(f"your code changed {' and '.join(entry['changed'])} in place: work on new "
                     "arrays and leave the inputs as they were (the caller reuses them)")
    return entry["value"]


def describe(value, pairs=False):
    """One line about what an answer is, however odd its shape (`pairs`: weights were asked
    for, so a flat sequence of arrays gets the hint to pair them up)."""
    if isinstance(value, Other):
        return f"a {value.name}"
    if isinstance(value, numpy.ndarray):
        return f"one array of shape {value.shape}" if value.ndim else f"the number {value}"
    if isinstance(value, (list, tuple)):
        if pairs and value and all(isinstance(a, numpy.ndarray) and a.ndim >= 1 for a in value):
            return (f"a flat {type(value).__name__} of {len(value)} arrays: pair them up as "
                    "[(W0, b0), (W1, b1), ...]")
        return f"a {type(value).__name__} of {len(value)} items"
    return type(value).__name__


def flat(tree):
    """A list of (W, b) pairs as one float64 vector."""
    return numpy.concatenate([numpy.ravel(numpy.asarray(a, dtype=float)) for pair in tree
                              for a in pair])


def tolerance(got):
    """Relative tolerance for an answer: float64 agrees to ~1e-7, float32 to ~1e-3."""
    dtypes = [numpy.asarray(a).dtype for pair in got for a in pair] if isinstance(
        got, (list, tuple)) else [numpy.asarray(got).dtype]
    return 1e-7 if all(d.itemsize >= 8 or d.kind in "iub" for d in dtypes) else 1e-3


def close(got, want, rtol):
    """Within rtol of want, measured against want's largest entry (so tiny entries don't
    demand more digits than the answer's dtype has)."""
    got, want = numpy.ravel(got), numpy.ravel(want)
    if got.shape != want.shape or not numpy.all(numpy.isfinite(got)):
        return False
    return numpy.max(numpy.abs(got - want), initial=0) <= rtol * numpy.max(
        numpy.abs(want), initial=0) + 1e-12


def show(got, want):
    """'got A, expected B' with as many digits as it takes to see the difference."""
    got, want = float(got), float(want)
    rel = abs(got - want) / max(abs(want), 1e-300)
    digits = min(17, max(6, 2 - int(math.floor(math.log10(rel))) if rel > 0 else 17))
    return f"got {got:.{digits}g}, expected {want:.{digits}g}"


def show_largest(got, want):
    """The entry of two flat vectors that differs most, shown with enough digits."""
    i = int(numpy.argmax(numpy.abs(got - want)))
    return f"the entry that differs most: {show(got[i], want[i])}"


def same_shapes(got, want, what):
    """Fail, in one line, unless `got` is a list of pairs shaped like `want`."""
    try:
        shapes = [tuple(numpy.shape(a) for a in pair) for pair in got]
        ok = isinstance(got, (list, tuple)) and all(
            len(pair) == 2 and all(isinstance(a, numpy.ndarray) for a in pair) for pair in got)
    except TypeError:
        shapes, ok = None, False
    wanted = [tuple(numpy.shape(a) for a in pair) for pair in want]
    if not ok:
        raise Failed(f"{what} should be a list of {len(wanted)} (W, b) pairs, got "
                     f"{describe(got, pairs=True)}")
    if shapes != wanted:
        bad = next(i for i, (s, w) in enumerate(zip(shapes + [None] * len(wanted), wanted))
                   if s != w)
        found = shapes[bad] if bad < len(shapes) else "nothing"
        hint = (" It keeps the task axis: sum it away." if found != "nothing" and
                len(found[0]) == len(wanted[bad][0]) + 1 else "")
        raise Failed(f"{what} has {len(shapes)} pairs; pair {bad} has shapes {found}, expected "
                     f"{wanted[bad]}.{hint}")


def compare(got, want, candidates, where, what, rtol=None):
    """Pass if the list of pairs `got` equals `want` (within rtol, by default got's dtype's
    tolerance); else fail with the hint of the first candidate mistake (answer, hint) it
    equals, or an honest generic line."""
    same_shapes(got, want, what)
    rtol, vector = rtol or tolerance(got), flat(got)
    if close(vector, flat(want), rtol):
        return
    for mistake, hint in candidates:
        try:
            if close(vector, flat(mistake), rtol) and not close(flat(mistake), flat(want), rtol):
                raise Failed(f"{where}: {hint}")
        except (ValueError, TypeError):
            continue
    raise Failed(f"{where}: {what} does not match the expected answer ("
                 f"{show_largest(vector, flat(want))}).", generic=True)


def traceable(entry, plain, what):
    """Fail naming the typical mistake when differentiating through the student's answer
    raised although the plain calls (`plain`) returned: plain numpy copies autograd can't
    trace."""
    if "error" in entry and all("value" in e for e in plain):
        raise Failed(f"autograd cannot differentiate through your {what}: typically, it is "
                     "computed on plain numpy copies (numpy.array(...), float(), .astype, "
                     "getval, writing into numpy.zeros) that autograd can't trace. Compute with "
                     "autograd.numpy on the arrays you are given. (Differentiating through it, "
                     f"your code {entry['error'].rstrip('.')}.)")


def compare_number(got, want, candidates, where, what):
    if not (isinstance(got, numpy.ndarray) and got.size == 1 and got.dtype.kind in "fiu"):
        raise Failed(f"{what} should be one number, got {describe(got)}")
    rtol = tolerance(got)
    got = float(got.ravel()[0])
    if close(got, want, rtol):
        return
    for mistake, hint in candidates:
        if close(got, mistake, rtol) and not close(mistake, want, rtol):
            raise Failed(f"{where}: {hint}")
    raise Failed(f"{where}: {what} is wrong: {show(got, want)}.", generic=True)


def step(params, grads, scale):
    return [(W - scale * dW, b - scale * db) for (W, b), (dW, db) in zip(params, grads)]


def scaled(grads, s):
    return [(dW * s, db * s) for dW, db in grads]

