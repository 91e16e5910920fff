"""Grading one answer: run it behind its wall (sandbox.py), read back what it sent within
budgets, and run the exercise's checks on it (exercise_checks.py) -> a verdict.

    check(exercise, path, seed) -> dict(status, message, passed, total, seconds, isolation)

Whatever the answer's process sends back (its output, its result: any bytes) gives a verdict
for that answer, never "the checker itself failed": too much is "sent back over ...", a result
that is not one is "sent back something that is not a result", and only numeric arrays within
the shape budgets are rebuilt. Messages are cut to one line of at most MESSAGE_CHARS.
"""
import ast
import functools
import json
import math
import os
import pickle
import re
import stat
import time
import warnings

import numpy
import numpy.ma  # noqa: F401 - numpy.median loads it lazily, parsing signatures with ast:
# loaded here, in the importing thread, not while threads grade (see LIBRARY_COPIES)

import sandbox
import tasks
from compare import Failed, NotYet, Other, problem
from exercise_checks import EXERCISES, FUNCTIONS, SWITCHED_OFF

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TIMEOUT, MEMORY_MB = 20.0, 4096
LIBRARY = ("maml", "tasks", "checks", "protonets", "checkpoints", "files")  # it may import
MAX_ARRAYS, MAX_ELEMENTS, MAX_DIMENSIONS, MAX_DEPTH = 1_000_000, 10_000_000, 32, 40
MESSAGE_CHARS = 1000
PROBLEMS = ("not_yet", "shortcut", "exit", "missing", "error")  # what went wrong, by kind


def megabytes(n):
    return f"{n / 2**20:.3g} MB" if n < 2**30 else f"{n / 2**30:.3g} GB"


def one_line(text, limit=MESSAGE_CHARS):
    """`text` as one line of printable characters, at most `limit` long."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@functools.lru_cache(maxsize=None)
def parsed(module):
    """(source, ast tree) of a library module, read and parsed once."""
    with open(os.path.join(ROOT, module + ".py"), encoding="utf-8") as f:
        text = f.read()
    return text, ast.parse(text)


def library_copy(module, removed, exercise):
    """The source of a library module with the functions named in `removed` replaced by ones
    that raise SwitchedOff: the original code is not in the copy, so nothing the answer does
    can bring it back."""
    text, tree = parsed(module)
    lines = text.splitlines(keepends=True)
    found = set()
    for node in reversed(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in removed:
            found.add(node.name)
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            message = (f"calls {module}.{node.name}, which is switched off while exercise "
                       f"{exercise} is checked: it does what the exercise asks you to write")
            lines[start:node.end_lineno] = [f"def {node.name}(*args, **kwargs):\n",
                                            f"    raise SwitchedOff({message!r})\n"]
    if set(removed) - found:
        raise RuntimeError(f"{module}.py has no function {sorted(set(removed) - found)}")
    return "".join(lines) + ("\n\nclass SwitchedOff(Exception):\n    \"\"\"A function under "
                             "exercise was called.\"\"\"\n    switched_off = True\n")


def library_copies(exercise):
    """{module file name: source bytes} of every library module, as exercise `exercise` sees it."""
    off = {}
    for name in SWITCHED_OFF.get(exercise, ()):
        module, _, function = name.rpartition(".")
        off.setdefault(module or "maml", []).append(function)
    return {f"{m}.py": library_copy(m, tuple(off.get(m, ())), exercise).encode("utf-8")
            for m in LIBRARY}


# Made once, here, in the thread that imports this module: ast.parse run by two threads at once
# fails in Python 3.11 ("AST constructor recursion depth mismatch"), and class mode grades in
# threads. No thread parses anything afterwards.
LIBRARY_COPIES = {exercise: library_copies(exercise) for exercise in EXERCISES}


def sandbox_files(exercise, path, request):
    """{name: bytes} for the answer's scratch folder: the runner, the request, the library
    copies and the answer (in answer/, under its own name)."""
    files = dict(LIBRARY_COPIES[exercise])
    with open(os.path.join(HERE, "child.py"), "rb") as f:
        files["child.py"] = f.read()
    files["answer/" + os.path.basename(path)] = read_answer(path)
    files["exercises/__init__.py"] = b""  # so `import exercises.solutions...` is named
    files["request.pickle"] = pickle.dumps(request)
    return files


def read_answer(path):
    """The bytes of the answer file: a regular file, not a link (a link would let the checker
    read, on the answer's behalf, what the answer itself may not)."""
    name = os.path.basename(path)
    try:
        kind = stat.S_IFMT(os.lstat(path).st_mode)
    except OSError as e:
        raise Failed(f"could not read {name}: {e.strerror}") from None
    if kind == stat.S_IFLNK:
        raise Failed(f"{name} is a symbolic link, not a regular file: hand in the file itself")
    if kind != stat.S_IFREG:  # a folder, a FIFO, a socket, a device named like the starter
        what = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
                stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}.get(kind, "not a file")
        raise Failed(f"{name} is not a regular file ({what}): hand in the file itself")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) |
                     getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise Failed(f"could not read {name}: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
            raise Failed(f"{name} is not a regular file: hand in the file itself")
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb") as f:
        data = f.read(sandbox.FILE_MB * 2**20 + 1)
    if len(data) > sandbox.FILE_MB * 2**20:
        raise Failed(f"your file is over {sandbox.FILE_MB} MB")
    return data


def run_student(exercise, path, calls, timeout=TIMEOUT, memory_mb=MEMORY_MB, level=None):
    """Make `calls` [{kind, args, names}] to the student's function in a fresh process behind
    the wall. -> one entry per call: {'value': ...} or what went wrong, with 'changed' (inputs
    changed in place) and 'global_rng' (numpy's global generator used). Raises Failed or
    NotYet when the file can't be run at all or what came back is over a budget."""
    level = level or sandbox.isolation()
    request = dict(exercise=exercise, path=os.path.join("answer", os.path.basename(path)),
                   function=FUNCTIONS[exercise], calls=calls, memory_mb=memory_mb,
                   cpu_seconds=math.ceil(timeout) + 5,
                   guard_root=None if level.startswith("os") else ROOT,
                   library=sorted({n.rpartition(".")[0] or "maml"
                                   for n in SWITCHED_OFF.get(exercise, ())} | {"maml"}))
    files = sandbox_files(exercise, path, request)
    finished = sandbox.run(files, ["python", "child.py", "request.pickle"], timeout, memory_mb,
                           level=level)
    outline, arrays = received(finished, timeout)
    try:
        if "load" in outline:
            problem(entry_of(outline["load"]))
        entries = outline.get("calls")
        if not isinstance(entries, list) or len(entries) != len(calls):
            raise ValueError(f"{len(entries) if isinstance(entries, list) else 'no'} answers "
                             f"for {len(calls)} calls")
        return [entry_of(e, arrays) for e in entries]
    except NOT_A_RESULT as e:
        raise Failed("your code sent back something that is not a result "
                     f"({one_line(e, 200)})") from None


NOT_A_RESULT = (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError)


def received(finished, timeout):
    """(outline, arrays) of what the answer's process sent back, or Failed saying why there
    is none or what exceeded a budget."""
    if finished.failure:  # only the launcher can say so: a failure of the checker's
        raise RuntimeError(one_line(finished.failure))
    if finished.over in ("stdout", "stderr"):
        raise Failed(f"your code printed over {megabytes(sandbox.PRINT_BYTES)} (to its "
                     f"{finished.over}; the limit): print less")
    if finished.over == "result":
        raise Failed(f"your code sent back over {megabytes(sandbox.RESULT_BYTES)} (the budget "
                     "for the arrays an answer returns): return arrays of the sizes asked for")
    if finished.timed_out:
        raise Failed(f"your code ran past {timeout:g} s (the time limit; --timeout changes "
                     "it): is there a loop that never ends?")
    if not finished.result:
        status = finished.status
        if status < 0:
            raise Failed(f"your code was stopped by signal {-status} before returning an "
                         "answer (out of memory?)")
        last = finished.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        if "Error" in last[0] and status == 1:
            raise Failed(f"your code crashed before returning an answer: {one_line(last[0], 200)}")
        raise Failed(f"your code exited (status {status}) before returning an answer")
    try:
        return decode(finished.result)
    except NOT_A_RESULT as e:
        raise Failed(f"your code sent back something that is not a result ({one_line(e, 200)})"
                     ) from None


def decode(data):
    """(outline, arrays) from the bytes child.encode writes; ValueError unless they are
    exactly that: numeric dtypes only, shapes within MAX_DIMENSIONS and MAX_ELEMENTS, no byte
    left over."""
    if data[:8] != b"MAMLRES1" or len(data) < 16:
        raise ValueError("no result header")
    size = int.from_bytes(data[8:16], "little")
    if size > len(data) - 16:
        raise ValueError("a header longer than the result")
    header = json.loads(data[16:16 + size].decode("utf-8"))
    specs = header.pop("arrays") if isinstance(header, dict) else None
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise ValueError("no list of arrays")
    offset, arrays = 16 + size, []
    for spec in specs:
        if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str)
                and re.fullmatch(r"[<>|][biuf](1|2|4|8)", spec[0]) and isinstance(spec[1], list)
                and len(spec[1]) <= MAX_DIMENSIONS
                and all(type(d) is int and 0 <= d <= MAX_ELEMENTS for d in spec[1])):
            raise ValueError(f"an array that is not numbers of a known shape: {spec!r:.80}")
        dtype, count = numpy.dtype(spec[0]), math.prod(spec[1])
        if count > MAX_ELEMENTS or offset + count * dtype.itemsize > len(data):
            raise ValueError(f"an array of shape {tuple(spec[1])} over the budget or the data")
        arrays.append(numpy.frombuffer(data, dtype, count, offset).reshape(spec[1]).copy())
        offset += count * dtype.itemsize
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} bytes after the last array")
    return header, arrays


def entry_of(entry, arrays=()):
    """One call's entry, checked and cleaned: {'value': rebuilt} or one kind of problem (a
    one-line string), 'changed' (names), 'global_rng' (bool)."""
    if not isinstance(entry, dict):
        raise ValueError("an answer that is not an entry")
    changed = entry.get("changed", [])
    clean = dict(changed=[one_line(c, 40) for c in changed[:20]] if isinstance(changed, list)
                 else [], global_rng=entry.get("global_rng") is True)
    if "value" in entry:
        clean["value"] = rebuild(entry["value"], arrays)
        return clean
    kind = next((k for k in PROBLEMS if k in entry), "error")
    clean[kind] = one_line(entry.get(kind, "sent back an answer without a value"), 300)
    return clean


def rebuild(tree, arrays, depth=0):
    """The value an outline describes, its arrays taken from `arrays`."""
    if depth > MAX_DEPTH or not isinstance(tree, dict) or len(tree) != 1:
        raise ValueError("an outline that is not one")
    (kind, part), = tree.items()
    if kind == "array" and type(part) is int and 0 <= part < len(arrays):
        return arrays[part]
    if kind in ("list", "tuple") and isinstance(part, list):
        items = [rebuild(t, arrays, depth + 1) for t in part]
        return items if kind == "list" else tuple(items)
    if kind == "batch" and isinstance(part, dict) and sorted(part) == sorted(tasks.Batch._fields):
        return tasks.Batch(**{k: rebuild(t, arrays, depth + 1) for k, t in part.items()})
    if kind == "too_big" and type(part) is int:
        raise Failed(f"your code returned an array of {megabytes(part)}: over the "
                     f"{megabytes(sandbox.RESULT_BYTES)} an answer may send back")
    if kind == "other" and isinstance(part, str):
        return Other(one_line(part, 80))
    raise ValueError(f"an outline entry that is not one: {kind!r:.40}")


ODD_ANSWER = (ValueError, TypeError, IndexError, KeyError, AttributeError, ArithmeticError,
              MemoryError, RecursionError)


def check(exercise, path, seed, timeout=TIMEOUT, memory_mb=MEMORY_MB):
    """-> dict(status, message, passed, total, seconds, isolation); status 'passed', 'not yet',
    'failed' or 'error' (the checker itself failed)."""
    start = time.perf_counter()
    verdict = dict(status="failed", passed=0, total=0)
    try:
        level = sandbox.isolation()
        calls, checks, success = EXERCISES[exercise](numpy.random.default_rng(seed))
        verdict["total"] = len(checks([{}] * len(calls)))  # built only, not run
        if not os.path.lexists(path):  # a link, a folder, a FIFO: read_answer says what it is
            raise NotYet(f"no file {os.path.basename(path)} in {os.path.dirname(path) or '.'}")
        results = run_student(exercise, path, calls, timeout, memory_mb, level)
        found = checks(results)
        failures = []
        for _, run in found:
            try:
                with warnings.catch_warnings(), numpy.errstate(all="ignore"):
                    warnings.simplefilter("ignore")  # odd answers: the verdict says it
                    run()
                verdict["passed"] += 1
            except Failed as e:
                failures.append(e)
            except (OverflowError, FloatingPointError):  # inf, ±1e308 where a check can't
                failures.append(Failed("your answer holds numbers too large to compare with "
                                       "the expected one (inf, or near ±1e308): it is wrong",
                                       generic=True))
            except ODD_ANSWER as e:  # numbers of the answer's the comparisons can't take
                failures.append(Failed(f"your answer could not be compared with the expected "
                                       f"one ({type(e).__name__}: {e})", generic=True))
        specific = [e for e in failures if not e.generic] or failures  # a named mistake first
        verdict["message"] = str(specific[0]) if failures else success
        verdict["status"] = "failed" if failures else "passed"
    except NotYet as e:
        verdict.update(status="not yet", message=str(e))
    except Failed as e:
        verdict.update(message=str(e))
    except Exception as e:  # noqa: BLE001 - a bug of the checker's, not the student's
        verdict.update(status="error", message=f"the checker itself failed: "
                       f"{type(e).__name__}: {e}")
    verdict["message"] = one_line(verdict["message"])
    verdict["seconds"] = round(time.perf_counter() - start, 2)
    verdict["isolation"] = sandbox.isolation().split(":")[0]
    return verdict
