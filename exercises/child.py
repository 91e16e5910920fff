"""The one place a student's code runs: a separate process started by grading.py, through
sandbox.py, in a scratch folder holding this file, the request, the answer and copies of the
library modules (with the functions under exercise replaced by ones that say so).

    python -I child.py REQUEST RESULT_FD

REQUEST (written by the checker) names the student's file, its function and a list of calls
with their inputs. This process imports the file, makes the calls on copies of the inputs and
writes every output to the pipe RESULT_FD as plain data (`encode`: a JSON outline and raw
numeric arrays; nothing that runs code when read). It never sees a reference answer: the
checker compares in its own process. Some calls differentiate THROUGH the student's function;
the wrappers that do so are the functions below, not the student's.

Behind the operating system's wall (sandbox.py, level "os") nothing more is needed here. Where
there is none (level "guard"), `guard` below refuses, inside Python, what it can (audit
hooks): a guard a determined answer can get around.
"""
import json
import os
import pickle
import sys
import time
import traceback

RESULT_BYTES = 64 * 2**20  # as sandbox.RESULT_BYTES: larger arrays are named, not sent
SENT = [0]  # the bytes of the arrays outlined so far


class Shortcut(Exception):
    """The student's code called a switched-off library function."""


# --- the checker's wrappers: gradients through the student's function ---------------------------

def grad_through_update(f, params, x, y, alpha, x_query, y_query):
    """∇θ of the query MSE after the student's inner update (exercise 2)."""
    import autograd.numpy as anp
    from autograd import grad
    import maml
    return grad(lambda p: anp.mean((maml.mlp(f(p, x, y, alpha), x_query) - y_query) ** 2))(params)


def grad_through_adapt(f, params, x_support, y_support, alpha, steps, x_query, y_query):
    """∇θ of the mean query loss after the student's adapt_batch (exercise 4)."""
    import autograd.numpy as anp
    from autograd import grad
    import maml
    return grad(lambda p: anp.mean(maml.loss(f(p, x_support, y_support, alpha, steps),
                                             x_query, y_query)))(params)


def grad_of_answer(f, argnum, *args):
    """∇ of the student's scalar answer with respect to argument `argnum` (exercise 6)."""
    from autograd import grad
    return grad(f, argnum)(*args)


def with_embedding(f, params, *episodes):
    """The student's loss with embed = f_φ, the MLP with weights params (exercise 7)."""
    import functools
    import maml
    return f(functools.partial(maml.mlp, params), *episodes)


def grad_through_embedding(f, params, *episodes):
    """∇φ of the student's loss, differentiated through embed = f_φ (exercise 7)."""
    from autograd import grad
    return grad(lambda p: with_embedding(f, p, *episodes))(params)


def call_many(f, count, *args):
    """`count` calls with the same inputs (one shared rng): the batches meta-training would see."""
    return [f(*args) for _ in range(count)]


WRAPPERS = {"call": None, "grad_through_update": grad_through_update,
            "grad_through_adapt": grad_through_adapt, "grad_of_answer": grad_of_answer,
            "with_embedding": with_embedding, "grad_through_embedding": grad_through_embedding,
            "call_many": call_many}


# --- guards ---------------------------------------------------------------------------------------

# Modules whose functions can signal or start other processes or load native code: imported
# before the guard, their dangerous functions replaced, and never imported afresh (a fresh
# import, or _imp.create_builtin/create_dynamic, would bring the originals back).
GUARDED_MODULES = frozenset({"os", "posix", "signal", "_signal", "subprocess", "_posixsubprocess",
                             "ctypes", "_ctypes", "_imp", "sys", "gc", "resource"})
REFUSED_FUNCTIONS = (("os", "pidfd_open"), ("posix", "pidfd_open"),
                     ("signal", "pidfd_send_signal"), ("_signal", "pidfd_send_signal"),
                     ("_posixsubprocess", "fork_exec"))
PROGRAMS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
            "os.forkpty")
FILE_CHANGES = ("os.remove", "os.rmdir", "os.truncate", "os.chmod", "os.chown", "os.link",
                "os.symlink", "os.mkdir", "os.utime", "os.chflags", "os.lchflags", "os.setxattr",
                "os.removexattr", "shutil.rmtree")


def refuse_process_functions():
    """Replace the functions that signal or start processes without an audit event of their own
    (pidfd_open, pidfd_send_signal, _posixsubprocess.fork_exec) by ones that raise Shortcut."""
    import importlib
    import gc  # noqa: F401 - imported now, so that it is never imported afresh
    import signal  # noqa: F401
    import subprocess  # noqa: F401
    import _imp
    for module, function in REFUSED_FUNCTIONS:
        module = importlib.import_module(module)
        if hasattr(module, function):
            def refused(*args, _name=function, **kwargs):
                raise Shortcut(f"calls {_name}, which the checker refuses while your code runs "
                               "(it reaches other processes)")
            setattr(module, function, refused)
    for name in ("create_builtin", "create_dynamic"):
        original = getattr(_imp, name)

        def create(spec, *args, _original=original):
            if getattr(spec, "name", None) in GUARDED_MODULES:
                raise Shortcut(f"re-imports {spec.name}, which the checker keeps as it is")
            return _original(spec, *args)
        setattr(_imp, name, create)


def guard(student_path, root, modules=("maml",), result_path=None):
    """From now on refuse: reading the reference solutions or the source of the modules with
    switched-off functions (a reload would bring them back); opening folders (a folder's file
    descriptor would open files beside it unseen) or /proc of other processes; writing,
    deleting, renaming or linking files (but the result); starting programs; signalling any
    process but this one; ctypes (native code reads and signals anything); looking through the
    interpreter's objects with gc (the guard's own). Not a sandbox of the operating system's:
    see EXERCISES.md for what remains possible."""
    ROOT = root
    solutions = os.path.join(ROOT, "exercises", "solutions")
    library = tuple(path for m in sorted(modules) for path in (
        os.path.join(ROOT, m + ".py"), os.path.join(ROOT, "__pycache__", m + ".")))
    import importlib.util
    student = frozenset({os.path.realpath(student_path),
                         os.path.realpath(importlib.util.cache_from_source(student_path))})
    result = os.path.realpath(result_path) if result_path else None
    own = os.getpid()
    proc = os.path.realpath("/proc") + os.sep
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    refuse_process_functions()
    realpath, isdir, fsdecode = os.path.realpath, os.path.isdir, os.fsdecode

    def opened(path, flags):
        path = realpath(fsdecode(path))
        if path in student:
            return
        if path == solutions or path.startswith(solutions + os.sep) or path.startswith(library):
            raise Shortcut(f"opens {os.path.relpath(path, ROOT)}, which the checker keeps "
                           "closed while your code runs")
        if path.startswith(proc) and path[len(proc):].split(os.sep)[0] not in (str(own), "self"):
            if path[len(proc):].split(os.sep)[0].isdigit():
                raise Shortcut("opens /proc of another process")
        if isdir(path):
            raise Shortcut(f"opens the folder {path}: read files by their names")
        if isinstance(flags, int) and flags & writes and path not in (result, os.devnull):
            raise Shortcut(f"writes to {path}: the checker refuses writing files while your "
                           "code runs")

    def hook(event, args):
        if event == "open":
            if isinstance(args[0], (str, bytes, os.PathLike)):
                opened(args[0], args[2] if len(args) > 2 else None)
        elif event == "import":
            if args[0] in GUARDED_MODULES:
                raise Shortcut(f"imports {args[0]} afresh, which the checker keeps as it is")
        elif event in ("os.kill", "os.killpg"):
            if args[0] not in (own, 0, -own):
                raise Shortcut(f"sends signal {args[1]} to another process ({args[0]}): the "
                               "checker refuses it")
        elif event.startswith("ctypes."):
            raise Shortcut("uses ctypes, which the checker refuses while your code runs")
        elif event.startswith(PROGRAMS):
            raise Shortcut("starts another program")
        elif event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
            raise Shortcut(f"calls {event}, which the checker refuses while your code runs")
        elif event == "os.rename":
            if result is None or realpath(fsdecode(args[0])) != result:
                raise Shortcut("renames files: the checker refuses it while your code runs")
        elif event in FILE_CHANGES:
            raise Shortcut(f"changes files ({event}): the checker refuses it while your code "
                           "runs")
    sys.addaudithook(hook)
    sys.meta_path.insert(0, NoSolutions())


class NoSolutions:
    """Refuses to import the reference solutions (a meta path finder)."""

    def find_spec(self, name, path, target=None):
        if "solutions" in name.split("."):
            raise Shortcut("imports the reference solutions: write your own answer")
        return None


def limit_resources(megabytes, cpu_seconds=None):
    """The memory limit (address space), and a CPU-time limit that ends this process even if
    the checker that started it is gone."""
    try:
        import resource
        limit = megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds) + 5))
    except (ImportError, ValueError, OSError):
        pass  # not on this OS: the time limit still holds


# --- inputs and outputs as data ---------------------------------------------------------------------

def make_inputs(args, rngs):
    """The call's inputs, each rng marker {'rng': (seed, key)} made into a Generator (one per key)."""
    import numpy
    out = []
    for a in args:
        if isinstance(a, dict) and "rng" in a:
            seed, key = a["rng"]
            out.append(rngs.setdefault(key, numpy.random.default_rng(seed)))
        else:
            out.append(pickle.loads(pickle.dumps(a)))  # a private copy
    return out


def same(a, b):
    import numpy
    if isinstance(a, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(same(u, v) for u, v in zip(a, b)))
    if isinstance(a, numpy.ndarray):
        return (isinstance(b, numpy.ndarray) and a.shape == b.shape
                and numpy.array_equal(a, b, equal_nan=True))
    return True


def outline(value, arrays, depth=0):
    """A JSON outline of the value; numeric arrays go to `arrays` (up to RESULT_BYTES in all).
    Anything else is named, not kept."""
    import numpy
    import tasks
    if depth > 20:
        return {"other": "a structure nested too deep"}
    if isinstance(value, tasks.Batch):
        return {"batch": {k: outline(v, arrays, depth + 1) for k, v in value._asdict().items()}}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [outline(v, arrays, depth + 1) for v in value]}
    if type(value) in (float, int, bool) or isinstance(value, (numpy.ndarray, numpy.generic)):
        try:
            array = numpy.asarray(value)
        except (OverflowError, ValueError):
            array = None
        if array is None or array.dtype.kind not in "biuf":
            return {"other": f"{type(value).__name__} of {getattr(array, 'dtype', '?')}"}
        if SENT[0] + array.nbytes > RESULT_BYTES:
            return {"too_big": int(array.nbytes)}
        SENT[0] += array.nbytes
        arrays.append(array)
        return {"array": len(arrays) - 1}
    try:
        from autograd.tracer import getval
        if getval(value) is not value:
            return outline(getval(value), arrays, depth + 1)
    except ImportError:
        pass
    return {"other": type(value).__name__}


def encode(result, arrays):
    """The result as bytes: b'MAMLRES1', the header's length (8 bytes, little-endian), the
    header (JSON: the outline and each array's dtype and shape), then each array's bytes in C
    order. grading.decode reads it back within its budgets."""
    import numpy
    arrays = [numpy.ascontiguousarray(a) for a in arrays]
    header = json.dumps(dict(result, arrays=[[a.dtype.str, list(a.shape)] for a in arrays]),
                        ensure_ascii=True).encode()
    return b"".join([b"MAMLRES1", len(header).to_bytes(8, "little"), header] +
                    [a.tobytes() for a in arrays])


def where(error, student_path):
    """'at FILE line N' for the deepest frame of the student's file, if any."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if os.path.realpath(f.filename) == os.path.realpath(student_path)]
    if not frames:
        return ""
    return f" at {os.path.basename(student_path)} line {frames[-1].lineno}"


def describe_error(error, student_path):
    if isinstance(error, Shortcut) or getattr(type(error), "switched_off", False):
        return {"shortcut": str(error)}
    if isinstance(error, SystemExit):
        return {"exit": str(error.code)}
    frames = traceback.extract_tb(error.__traceback__)
    if isinstance(error, NotImplementedError) and frames and os.path.realpath(
            frames[-1].filename) == os.path.realpath(student_path):
        return {"not_yet": str(error)}  # the starter's gap, not autograd's "VJP ... not defined"
    text = " ".join(str(error).split())
    text = text if len(text) <= 200 else text[:200] + "..."
    return {"error": f"raised {type(error).__name__}{where(error, student_path)}: {text}"}


def run(request):
    import importlib.machinery
    import importlib.util
    import numpy

    path = os.path.abspath(request["path"])
    sys.path[:0] = [os.getcwd()]  # the copies of the library modules
    sys.dont_write_bytecode = True
    import maml, tasks  # noqa: F401, E401 - imported before the guards, as the student would
    if request.get("guard_root"):  # no wall of the operating system's: the guard, in Python
        limit_resources(request["memory_mb"], request.get("cpu_seconds"))
        guard(path, request["guard_root"], request["library"])
    else:  # the solutions are out of reach anyway: this only says so by name
        sys.meta_path.insert(0, NoSolutions())
    result = {"calls": []}
    arrays = []
    try:
        loader = importlib.machinery.SourceFileLoader("student_answer", path)  # any file name
        spec = importlib.util.spec_from_loader("student_answer", loader)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        function = getattr(module, request["function"], None)
    except BaseException as e:  # noqa: BLE001 - the student's file may fail in any way
        result["load"] = describe_error(e, path)
        return result, arrays
    if not callable(function):
        result["load"] = {"missing": request["function"]}
        return result, arrays
    rngs = {}
    for call in request["calls"]:
        inputs = make_inputs(call["args"], rngs)
        copies = pickle.loads(pickle.dumps([a for a in inputs
                                            if not isinstance(a, numpy.random.Generator)]))
        # a fresh global seed each call: an answer drawing from numpy's global generator gives
        # other numbers for the same rng, whatever it reports about itself
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
        state = numpy.random.get_state()[1].copy()
        start = time.perf_counter()
        wrapper = WRAPPERS[call["kind"]]
        try:
            value = function(*inputs) if wrapper is None else wrapper(function, *inputs)
            entry = {"value": outline(value, arrays)}
        except BaseException as e:  # noqa: BLE001
            entry = describe_error(e, path)
        entry["seconds"] = time.perf_counter() - start
        plain = [a for a in inputs if not isinstance(a, numpy.random.Generator)]
        names = [n for n, a in zip(call["names"], inputs)
                 if not isinstance(a, numpy.random.Generator)]
        entry["changed"] = [n for n, a, c in zip(names, plain, copies) if not same(c, a)]
        entry["global_rng"] = not numpy.array_equal(numpy.random.get_state()[1], state)
        result["calls"].append(entry)
    return result, arrays


def main():
    request_path, result_fd = sys.argv[1], int(sys.argv[2])
    with open(request_path, "rb") as f:
        request = pickle.load(f)  # written by the checker itself
    os.remove(request_path)
    sys.argv = [request["path"]]
    result, arrays = run(request)
    sys.stdout.flush()
    data = encode(result, arrays)
    with open(result_fd, "wb", closefd=False) as f:
        f.write(data)
    os._exit(0)  # no exit handlers of the student's


if __name__ == "__main__":
    main()
