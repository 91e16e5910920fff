"""Comparing a student's answer with the reference: one-line verdicts.

Failed and NotYet are the two ways a check ends other than passing; `answer` turns one call's
entry (what the answer's process sent back) into its value or the verdict saying what went wrong
instead; `compare` and `compare_number` pass an answer within its dtype's tolerance, else name a
candidate mistake it equals, else give an honest generic line.

A hint names a mistake only when the answer's output equals that mistake's output here, and no
other check of the same answer ruled the mistake out (a `Ledger` per run of an exercise): an
answer that is 2 times too big where T = 2 but right where T = 4 did not sum over the tasks, and
is told the entry that differs most instead.
"""
import math
import re
from typing import NamedTuple

import numpy


class Mistake(NamedTuple):
    """A typical mistake: `key` names it alike in every check (where the hint's numbers differ),
    `output` is what an answer making it returns for this check's inputs, `hint` what to say.
    Key None: a mistake of this call alone (an earlier call's answer), which other checks
    neither confirm nor rule out."""
    key: str
    output: object
    hint: str


class Ledger:
    """The typical mistakes some check of one answer ruled out: the answer's output differed
    from the mistake's output where the two could be told apart from the right answer."""

    def __init__(self):
        self.ruled_out = set()

    def note(self, key, equal):
        if key is not None and not equal:
            self.ruled_out.add(key)


class Failed(Exception):
    """A check that did not pass; the message names the mistake (unless `generic`).

    `matches` are the (key, hint) of the candidate mistakes the answer equals in this check;
    the first that no check of the run ruled out (`ledger`) is the message, else the generic
    line. Both are read once every check has run (grading.check reads them then)."""

    def __init__(self, message, generic=False, matches=(), ledger=None):
        super().__init__(message)
        self.plain_generic, self.matches, self.ledger = generic, list(matches), ledger

    def named(self):
        ruled_out = self.ledger.ruled_out if self.ledger is not None else set()
        return next((hint for key, hint in self.matches if key not in ruled_out), None)

    @property
    def generic(self):
        return self.plain_generic and self.named() is None

    def __str__(self):
        return self.named() or super().__str__()


class NotYet(Exception):
    """The starter's gap is still there."""



def said(text, limit=300):
    """Text the answer's process made (an exception's message, an exit status) as one line of
    at most `limit` characters inside «...» (its own « and » shown as ‹ and ›), so no verdict
    can read as a pass or as the checker's own words."""
    text = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    text = text.replace("«", "‹").replace("»", "›")
    return "«" + (text if len(text) <= limit else text[:limit - 3] + "...") + "»"


RAISED = re.compile(r"raised ([A-Za-z_][A-Za-z0-9_.]{0,80})"
                    r"( at [^\s:]{1,200} line [0-9]{1,9})?: (.*)", re.S)


def raised(error):
    """'raised TYPE at FILE line N: «message»' from an answer's error entry, the answer's own
    text quoted (said); anything else it sent is quoted whole."""
    m = RAISED.fullmatch(str(error))
    if m is None:
        return f"raised an error: {said(error)}"
    return f"raised {m.group(1)}{m.group(2) or ''}: {said(m.group(3).rstrip('.'))}"


def problem(entry):
    """Raise what went wrong in one call (or at import) as the student's verdict."""
    if "not_yet" in entry:
        raise NotYet(f"{said(entry['not_yet'])}: replace the `raise NotImplementedError` line with "
                     "your code")
    if "shortcut" in entry:
        allowed = ("embed and autograd.numpy are all it takes" if "protonets." in
                   entry["shortcut"] else "maml.mlp, maml.loss, maml.per_task and autograd.grad "
                   "are allowed")
        if any(w in entry["shortcut"] for w in ("switched off", "solutions", "opens")):
            raise Failed(f"shortcut: your code {entry['shortcut']}. Write it yourself ({allowed})")
        raise Failed(f"shortcut: your code {entry['shortcut']}; no credit")
    if "exit" in entry:
        status = 0 if entry["exit"] in ("None", "") else said(entry["exit"], 100)
        raise Failed(f"your code exited (status {status}) before returning an answer")
    if "missing" in entry:
        raise Failed(f"your file has no function {entry['missing']}()")
    raise Failed(f"your code {raised(entry['error'])}")


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
    demand more digits than the answer's dtype has), or within a floor near zero: 1e-12, or
    1e-6 at float32's tolerance (a float32 loss of 1e-7 is float32's rounding, ~6e-8)."""
    got, want = numpy.ravel(got), numpy.ravel(want)
    if got.shape != want.shape or not numpy.all(numpy.isfinite(got)):
        return False
    floor = 1e-6 if rtol >= 1e-3 else 1e-12
    return numpy.max(numpy.abs(got - want), initial=0) <= rtol * numpy.max(
        numpy.abs(want), initial=0) + floor


def show(got, want):
    """'got A, expected B' with as many digits as it takes to see the difference."""
    got, want = float(got), float(want)
    with numpy.errstate(all="ignore"):  # inf, nan, ±1e308: their difference may overflow
        rel = float(numpy.abs(numpy.float64(got) - want) / max(abs(want), 1e-300))
    digits = 2 - math.floor(math.log10(rel)) if 0 < rel < math.inf else 17 if rel == 0 else 6
    digits = min(17, max(6, digits))
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


def as_mistakes(candidates):
    """Mistake tuples; a plain (output, hint) pair is a mistake keyed by its hint."""
    return [c if isinstance(c, Mistake) else Mistake(c[1], c[0], c[1]) for c in candidates]


def compare(got, want, candidates, where, what, rtol=None, ledger=None):
    """Pass if the list of pairs `got` equals `want` (within rtol, by default got's dtype's
    tolerance); else fail with the hint of a candidate Mistake it equals (see Failed), or an
    honest generic line. Every candidate told apart from `want` is noted in `ledger`, passing
    or not."""
    same_shapes(got, want, what)
    rtol, vector, target = rtol or tolerance(got), flat(got), flat(want)
    matches = []
    for m in as_mistakes(candidates):
        try:
            output = flat(m.output)
            if close(output, target, rtol):
                continue  # this mistake gives the right answer here: no evidence either way
            equal = close(vector, output, rtol)
        except (ValueError, TypeError):
            continue
        if ledger is not None:
            ledger.note(m.key, equal)
        if equal:
            matches.append((m.key, f"{where}: {m.hint}"))
    if close(vector, target, rtol):
        return
    raise Failed(f"{where}: {what} does not match the expected answer ("
                 f"{show_largest(vector, target)}).", generic=True, matches=matches,
                 ledger=ledger)


def traceable(entry, plain, what):
    """Fail naming the typical mistake when differentiating through the student's answer
    raised although the plain calls (`plain`) returned: plain numpy copies autograd can't
    trace."""
    if "error" in entry and all("value" in e for e in plain):
        raise Failed(f"autograd cannot differentiate through your {what}: typically, it is "
                     "computed on plain numpy copies (numpy.array(...), float(), .astype, "
                     "getval, writing into numpy.zeros) that autograd can't trace. Compute with "
                     "autograd.numpy on the arrays you are given. (Differentiating through it, "
                     f"your code {raised(entry['error'])}.)")


def compare_number(got, want, candidates, where, what, ledger=None):
    """compare for one number (a numpy scalar or an array of one entry)."""
    if not (isinstance(got, numpy.ndarray) and got.size == 1 and got.dtype.kind in "fiu"):
        raise Failed(f"{what} should be one number, got {describe(got)}")
    rtol = tolerance(got)
    got = float(got.ravel()[0])
    matches = []
    for m in as_mistakes(candidates):
        if close(m.output, want, rtol):
            continue
        equal = close(got, m.output, rtol)
        if ledger is not None:
            ledger.note(m.key, equal)
        if equal:
            matches.append((m.key, f"{where}: {m.hint}"))
    if close(got, want, rtol):
        return
    raise Failed(f"{where}: {what} is wrong: {show(got, want)}.", generic=True, matches=matches,
                 ledger=ledger)


def leaves(value):
    """The arrays in an answer (a list of pairs, a Batch, a number), in order."""
    if isinstance(value, numpy.ndarray):
        return [value]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in leaves(v)]
    return [value]


def identical(a, b):
    """Two answers alike to the last bit or nearly (a pure function gives the same answer for
    the same inputs)."""
    a, b = leaves(a), leaves(b)
    if len(a) != len(b):
        return False
    for u, v in zip(a, b):
        if not (isinstance(u, numpy.ndarray) and isinstance(v, numpy.ndarray)):
            if type(u) is not type(v):
                return False
            continue
        if u.shape != v.shape or u.dtype != v.dtype:
            return False
        if u.dtype.kind in "fc" and not numpy.allclose(u, v, rtol=1e-12, atol=0, equal_nan=True):
            return False
        if u.dtype.kind not in "fc" and not numpy.array_equal(u, v):
            return False
    return True


def same_inputs_same_answer(first, again, what):
    """Fail when two calls with the same inputs returned different answers: the function
    keeps something between calls (a measured fact, whatever the cause)."""
    a, b = answer(first), answer(again)
    if not identical(a, b):
        raise Failed(f"called twice with the same inputs, your {what} returned different "
                     "answers: it keeps something from one call to the next (a global, a "
                     "generator or cache made once, a default argument changed). Compute from "
                     "the inputs alone.")


def earlier_calls(outputs, what):
    """The 'answer of an earlier call' mistakes: `outputs` [(description, reference output)]
    of the calls made before this one (state kept between calls, e.g. a cache keyed by only
    some of the inputs)."""
    return [Mistake(None, output, f"that is the right answer for an earlier call ({text}), "
                    f"not for this one: your {what} keeps results between calls (a cache keyed "
                    "by only some of the inputs?). Compute from all the inputs every time.")
            for text, output in outputs]


def step(params, grads, scale):
    return [(W - scale * dW, b - scale * db) for (W, b), (dW, db) in zip(params, grads)]


def scaled(grads, s):
    return [(dW * s, db * s) for dW, db in grads]

