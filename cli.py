"""What the demos share on the command line: flags with bounds, path checks before any work,
a progress line, estimates that refuse a run the machine cannot hold, committing the outputs as
one set, numbers for tables, and one exit status per way a run can end. Plumbing.

Exit status: 0 done, 1 the run failed (training diverged, or a file could not be written),
2 a bad argument or input file (one line, before any work), 130 interrupted.
"""
import argparse
import contextlib
import io
import math
import re
import os
import signal
import sys
import threading
import time
import warnings

import numpy

import checkpoints
import checks
import files
import maml
import threads


class UsageError(Exception):
    """A bad argument or input file: reported in one line, exit status 2."""


# --- flags ---------------------------------------------------------------------------------------

class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) and exit status 2."""

    def error(self, message):
        raise UsageError(re.sub(r"^argument ([^:]+): ", r"\1 ", message))


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults (but not the meaningless '(default: False)' of on/off flags), and keep
    comma-separated lists from being broken mid-word."""

    def _get_help_string(self, action):
        if (action.const is True or action.default in (None, argparse.SUPPRESS)
                or "(default" in (action.help or "")):  # a help that says its default itself
            return action.help
        return super()._get_help_string(action)

    def _split_lines(self, text, width):
        import textwrap
        return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def whole(low, high):
    """An argparse type: a whole number from low to high, or one line naming the bounds."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            got = f"{value:,}" if abs(value) < 10 ** 15 else f"{len(str(abs(value)))} digits"
            raise argparse.ArgumentTypeError(f"must be from {low:,} to {high:,}, got {got}")
        return value
    parse.__name__ = f"whole number from {low:,} to {high:,}"
    return parse


def real(low, strict=False, high=math.inf):
    """An argparse type: a finite number >= low (> low if strict) and <= high."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(
                f"must be a finite number {'>' if strict else '>='} {low:g}, got {text}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


# The bounds of the flags both demos share: the library's own (checks.py), with the seed's range.
STEPS = whole(1, checks.MAX_STEPS)
SEED = whole(0, 2 ** 63 - 1)
ITERATIONS = whole(1, 10_000_000)
EVAL_TASKS = whole(2, 100_000)
TASKS = whole(1, 100_000)
ALPHA = real(0.0, high=checkpoints.MAX_ALPHA)
LEARNING_RATE = real(0.0, strict=True)


def add_threads_flag(parser):
    """--threads N: BLAS threads (threads.py sets them from the command line before numpy
    loads; this flag documents and checks it)."""
    parser.add_argument("--threads", type=whole(1, threads.HIGHEST), default=threads.DEFAULT,
                        help="threads for numpy's matrix products (BLAS): one was never "
                             "much slower for these small matrices, and much faster with "
                             "other work running (measured: see threads.py); the flag wins "
                             "over OPENBLAS_NUM_THREADS and OMP_NUM_THREADS")


def parse(parser, argv):
    """parser.parse_args, reading sys.argv when argv is None. A --threads that numpy did not
    start with (main called from Python, numpy loaded before) is one line, not ignored."""
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if "--threads" in typed(argv) and threads.in_effect() != args.threads:
        loaded = threads.in_effect()
        raise UsageError(f"--threads {args.threads}: numpy has already loaded, with "
                         f"{f'{loaded} thread(s)' if loaded else 'the default threads'}; "
                         "--threads works from the command line (or set OPENBLAS_NUM_THREADS "
                         "before Python starts)")
    return args


def typed(argv):
    """The flags typed on the command line (sys.argv when argv is None), without values:
    '--iterations=5' counts as '--iterations'."""
    return {a.split("=", 1)[0] for a in (sys.argv[1:] if argv is None else argv)
            if str(a).startswith("--")}


# --- paths: everything that can be found before training is found before training -----------------

def check_outputs(sets, replaceable=(), flags=None):
    """Refuse now, in one line, what would make the final commit fail: sets is
    {folder: [file names]}; a file that exists may be replaced only in the folders named in
    `replaceable`; flags {folder: '--out ...'} names each folder in the message. Paths only,
    nothing is written (files.check_writable)."""
    flags = flags or {}
    for folder, names in sets.items():
        flag = flags.get(folder, repr(folder))
        if os.path.islink(folder) and not os.path.exists(folder):
            raise UsageError(f"{flag} is a broken symbolic link")
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise UsageError(f"{flag} exists and is not a folder")
        for name in names if folder not in replaceable else ():
            if os.path.lexists(os.path.join(folder, name)):
                raise UsageError(f"{os.path.join(folder, name)!r} exists: add --force to "
                                 "replace it")
        try:
            files.check_writable({folder: names})
        except ValueError as e:
            raise UsageError(f"{flag}: {e}") from None
    try:
        files.check_writable(sets)   # the same file named twice across folders
    except ValueError as e:
        raise UsageError(str(e)) from None


def check_out_and_save(args, out_names, save_names=None):
    """Check --out, --save and --force before any work: --out a folder for out_names; --save a
    folder for save_names, or (save_names None) one .npz file. Returns the folders whose files
    this run may replace: --out's, and --save's with --force."""
    if not args.out:
        raise UsageError("--out must name a folder, got ''")
    if args.force and not args.save:
        raise UsageError("--force only lets --save replace files; no --save given")
    out = os.path.abspath(args.out)
    outputs, flags, replaceable = {out: list(out_names)}, {out: f"--out {shown(args.out)}"}, {out}
    if args.save is not None:
        if save_names is not None and args.save:
            folder, names = os.path.abspath(args.save), list(save_names)
        elif not args.save.endswith(".npz") or os.path.isdir(args.save):
            raise UsageError(f"--save must name a {'folder' if save_names else '.npz file'}, "
                             f"got {args.save!r}")
        else:
            folder, name = os.path.split(os.path.abspath(args.save))
            if not os.path.isdir(folder) and folder != out:  # --out's is made if missing
                raise UsageError(f"--save {args.save!r}: the folder {folder!r} does not exist")
            if folder == out and name in out_names:
                raise UsageError(f"--save {args.save!r} would overwrite one of the outputs")
            names = [name]
        if folder == out and not args.force:  # --out's files may be replaced, --save's not
            for name in names:
                if os.path.lexists(os.path.join(folder, name)):
                    raise UsageError(f"{os.path.join(folder, name)!r} exists: add --force to "
                                     "replace it")
        outputs.setdefault(folder, []).extend(names)
        flags.setdefault(folder, f"--save {shown(args.save)}")
        replaceable |= {folder} if args.force else set()
    check_outputs(outputs, replaceable, flags)
    return replaceable


def shown(value, width=60):
    """repr(value), cut in the middle to `width` characters: a path in a one-line message,
    its start and its file name kept."""
    return files.shown(value, width)


def commit(sets, replaceable, state):
    """Write {folder: {name: bytes}} as one set per folder, every folder staged before any is
    committed (files.commit_many). Existing files may be replaced only in the folders named in
    `replaceable`, decided at commit time: of two runs at once, only one can create a file.
    Ctrl-C is held back until the commit is done and state["written"] says so, so that the
    line printed for it is true."""
    with files.signals_held():
        files.commit_many(sets, overwrite={folder: folder in replaceable for folder in sets})
        state["written"] = True


def refused_checkpoint(path, error):
    """The UsageError for a checkpoint --load refuses: its path once (the loader's message
    names it too), then why."""
    text = str(error).splitlines()[0].replace(repr(path) + " ", "it ")
    return UsageError(f"--load {shown(path)}: {text}")


def load_methods(folder, methods, layers_ok, schema=None, implied=None):
    """{method: (params, losses)} from FOLDER/<method>.npz (checkpoints.load_method, the
    training settings checked against `schema`), and the training settings they share.
    layers_ok(method, layer sizes) -> None, or what was expected; implied(method) -> {key:
    value} the metadata must agree with (checkpoints.load_method). Raises UsageError, in one
    line naming the file, for a missing, corrupt, foreign or mismatched file."""
    trained, protocol = {}, None
    for method in methods:
        path = os.path.join(folder, f"{method}.npz")
        try:
            params, training, losses = checkpoints.load_method(path, method, schema, implied)
            sizes = checkpoints.layers_of(params)
            expected = layers_ok(method, sizes)
            if expected:
                raise ValueError(f"its network has layers {sizes}, expected {expected}")
        except FileNotFoundError:
            raise UsageError(f"--load {shown(folder)}: no checkpoint {shown(path)}") from None
        except ValueError as e:
            raise refused_checkpoint(path, e) from None
        if protocol is not None and training != protocol[1]:
            differ = next(k for k in sorted(set(training) | set(protocol[1]), key=str)
                          if training.get(k) != protocol[1].get(k))
            raise UsageError(
                f"--load {shown(folder, 40)}: {protocol[0]}.npz and {method}.npz were trained "
                f"differently ({differ}: {checkpoints._short(protocol[1].get(differ))[:20]} vs "
                f"{checkpoints._short(training.get(differ))[:20]}): not one protocol")
        protocol = protocol or (method, training)
        trained[method] = (params, losses)
    return trained, protocol[1]


# --- resources ------------------------------------------------------------------------------------

def check_fits(flags, layers, meta_batch, k, steps, iterations, eval_tasks=0, eval_k=(0, 0)):
    """Refuse, in one line naming `flags`, a run whose memory estimate (checks.training_bytes,
    checks.evaluation_bytes: the library's own bounds) exceeds what this machine can hold.
    Returns a short text of the estimate for the start-up line."""
    need = checks.training_bytes(layers, meta_batch, k, steps)
    try:
        checks.fits(flags, need)
        checks.fits("--eval-tasks", checks.evaluation_bytes(layers, eval_tasks, *eval_k))
    except ValueError as e:
        raise UsageError(str(e)) from None
    seconds = iteration_seconds(layers, meta_batch, k, steps) * iterations
    return f"about {need / 2 ** 20:,.0f} MB and {duration(seconds)}"


def iteration_seconds(layers, meta_batch, k, steps):
    """Roughly the seconds one meta-training iteration takes on one idle core (BLAS on one
    thread): a cost per inner step, per weight and per activation of every point it goes
    through. Fitted to the CPU time of maml.meta_train on this project's 2-core machine:
    1-40-40-1 with T = 25 and 100, 1 and 3 steps, K = 10 (3.4, 8.9 and 7.5 ms), and the
    few-shot network 784-128-64-64-5 with T = 16 and 30 points per task (46 ms). steps=0 is
    the pretrained baseline (no inner step)."""
    points = meta_batch * k * (steps + 1)
    return (0.0021 * steps + 3.5e-10 * points * checks.weight_count(layers)
            + 2.6e-8 * points * sum(layers[1:]))


def duration(seconds):
    """'45 s', '12 min', '3.2 h', '2.1 days'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172800 else f"{seconds / 86400:.1f} days"


def available_memory():
    """The memory this machine has available now, in bytes: /proc/meminfo's MemAvailable where
    there is one, else its physical memory (checks.machine_memory); None if neither is known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return checks.machine_memory()


def check_memory(flag, value, need, per_unit):
    """Refuse, in one line naming `flag` and its value, a run whose estimate `need` (bytes)
    is more than checks.MEMORY_SHARE of the memory available now; say how far the flag can go
    (per_unit: the bytes one more unit of it adds)."""
    have = available_memory()
    if have is None or need <= checks.MEMORY_SHARE * have:
        return
    most = max(0, int(value - (need - checks.MEMORY_SHARE * have) / per_unit))
    raise UsageError(f"{flag} {value:,} would need about {need / 2 ** 30:,.1f} GiB, more than "
                     f"the {have / 2 ** 30:,.1f} GiB this machine has available: use "
                     f"{flag} {most:,} or fewer")


# --- during the run -------------------------------------------------------------------------------

WIDTH = 100        # every line a demo prints fits this many columns
SILENCE = 4.5      # seconds: a run says where it is at least this often (Phases)
_said = {"at": time.perf_counter()}
_lock = threading.Lock()


def say(line, end="\n"):
    """Print a progress line to stderr (cut to WIDTH columns) and restart Phases' clock."""
    with _lock:
        head = "\r" if line.startswith("\r") else ""
        print(head + line[len(head):][:WIDTH], end=end, file=sys.stderr, flush=True)
        _said["at"] = time.perf_counter()


class Phases:
    """Where a run is, on stderr: a line when each phase starts (start), and while it lasts
    a line whenever nothing was said for SILENCE seconds (a thread keeps the time), with the
    phase's `detail` if set: a long step is never silent. quiet=True says nothing.

        with cli.Phases(args.quiet) as phases:
            phases.start("evaluating")
            phases.detail = "MAML, 300 of 1,000 episodes"
    """

    def __init__(self, quiet=False, every=None):
        self.quiet, self.every = quiet, SILENCE if every is None else every
        self.text, self.detail, self.since = None, "", time.perf_counter()
        self.began = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        _current.append(self)
        if not self.quiet:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        _current.remove(self)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return False

    def start(self, text, announce=True):
        """A new phase: say it now (unless not `announce`: the phase says it itself)."""
        self.text, self.detail, self.since = text, "", time.perf_counter()
        if announce and not self.quiet:
            say(f"{text} ...")

    def _watch(self):
        while not self._stop.wait(0.2):
            now = time.perf_counter()
            if self.text and now - _said["at"] >= self.every:
                detail = f"{self.detail}, " if self.detail else ""
                line = f"{self.text}: {detail}{clock(now - self.since)} so far"
                # too wide: the detail says where (the phase's first line said what)
                say(line if len(line) <= WIDTH else f"  {detail}{clock(now - self.since)} so far")


_current = []  # the Phases under way, innermost last


def detail(text):
    """Say where the current phase is (cli.Phases), in its next line: '300 of 1,000 episodes'.
    Does nothing outside a phase."""
    if _current:
        _current[-1].detail = text


def clock(seconds):
    """'7 s', '4 min 05 s', '2 h 03 min': elapsed time that changes between lines."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s" if s < 3600 else f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Iteration, loss, iterations/s and time left, to stderr: the first line after about a
    second, then every 4 s; on a terminal one line updated in place, 4 times a second."""

    def __init__(self, label, total, quiet=False):
        self.label, self.total, self.quiet = label, total, quiet
        self.tty = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.next = self.start + 1.0

    def __call__(self, i, loss, params):
        done, now = i + 1, time.perf_counter()
        if self.quiet or (now < self.next and done != self.total):
            return
        self.next = now + (0.25 if self.tty else 4.0)
        rate = done / max(now - self.start, 1e-9)
        line = (f"{self.label}: iteration {done:,}/{self.total:,}  loss {loss:8.3g}  "
                f"{rate:5.0f} it/s  ETA {duration((self.total - done) / rate)}")
        end = "\n" if done == self.total or not self.tty else ""
        say(("\r" if self.tty else "") + line.ljust(78), end=end)


def measure(runs, iterations, repeats):
    """Time training runs side by side: runs {name: train(n_iterations)}. Each is timed
    `repeats` times round-robin in this one process, so that the figures compare with each
    other (not with another machine's). Returns {name: (median seconds per iteration, peak
    bytes of one iteration by tracemalloc)}."""
    import statistics
    import tracemalloc
    times = {name: [] for name in runs}
    for round_ in range(repeats):
        for name, train in runs.items():
            detail(f"{name}, round {round_ + 1} of {repeats}")
            start = time.perf_counter()
            train(iterations)
            times[name].append((time.perf_counter() - start) / iterations)
    measured = {}
    for name, train in runs.items():
        detail(f"{name}, its memory")
        tracemalloc.start()
        train(1)
        measured[name] = (statistics.median(times[name]), tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return measured


def block_means(losses, n_blocks=1000):
    """Shrink a long loss history to at most n_blocks block means. Returns (means, block)."""
    losses = numpy.asarray(losses, dtype=float)
    block = max(1, math.ceil(len(losses) / n_blocks))
    usable = len(losses) // block * block
    means = losses[:usable].reshape(-1, block).mean(axis=1) if usable else losses[:0]
    return means.tolist(), block


def blame(error, alpha="--alpha", lr="--meta-lr"):
    """The flag most likely to blame for a maml.Diverged: the data if it is not finite; the
    outer learning rate if it blew the weights up (or the loss was already infinite before
    any inner step); otherwise the inner step size α."""
    batch, params = error.batch, error.params
    if not all(numpy.isfinite(a).all() for a in batch[:4]):
        return "the task data"
    largest = max(numpy.abs(w).max() for layer in params for w in layer)
    if largest > 1e3 or not hasattr(batch, "x_query"):
        return f"{lr} (the weights have grown to {largest:.3g})"
    with numpy.errstate(over="ignore", invalid="ignore"):
        before = numpy.mean(maml.loss(params, batch.x_query, batch.y_query))
    return alpha if numpy.isfinite(before) else lr


# --- results --------------------------------------------------------------------------------------

def mean_and_interval(mse, ci95):
    """'0.59 ± 0.06'; below 0.1 two significant digits ('0.054 ± 0.010'); huge values in short
    scientific notation ('4e+10 ± 7e+10'); 'all diverged' for NaN; no interval where there is
    none (a single task)."""
    if not numpy.isfinite(mse):
        return "all diverged"
    if mse >= 10_000:
        text = f"{mse:.0e}".replace("e+0", "e+")
        return text + (f" ± {ci95:.0e}".replace("e+0", "e+") if numpy.isfinite(ci95) else "")
    if mse >= 100:
        return f"{mse:.0f}" + (f" ± {ci95:.0f}" if numpy.isfinite(ci95) else "")
    decimals = 2 if mse >= 0.095 else max(2, 1 - math.floor(math.log10(max(mse, 1e-12))))
    return f"{mse:.{decimals}f}" + (f" ± {ci95:.{decimals}f}" if numpy.isfinite(ci95) else "")


def finite_or_none(value):
    """A float for JSON, None for NaN or inf (strict JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def evaluation_rows(evaluation, measure="mse", **labels):
    """A maml.Evaluation as one JSON row per step: its mean, named `measure` (what was measured:
    "mse" for the sine waves, "accuracy" for classification), and ci95 over the tasks that
    stayed finite, their median, how many diverged, and the plain mean (None when inf)."""
    return [dict(labels, steps=s, **{measure: finite_or_none(evaluation.mean[s])},
                 ci95=finite_or_none(evaluation.ci95[s]),
                 median=finite_or_none(evaluation.median[s]),
                 diverged=int(evaluation.diverged[s]),
                 plain_mean=finite_or_none(evaluation.plain_mean[s]))
            for s in range(len(evaluation.mean))]


def png_bytes(fig):
    """A figure as PNG bytes (nothing is written to disk before the commit)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# --- the command line -----------------------------------------------------------------------------

PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for a command whose reader left


def pipe_closed():
    """The reader of stdout left (`demo_sinusoid.py --help | head -1`): nothing more to write
    and no traceback; -> PIPE_CLOSED, the exit status."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return PIPE_CLOSED


@contextlib.contextmanager
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt in this block, as Python's default does, whatever handler
    was set before (the demos' own while they load); the old handler is put back afterwards, so
    a notebook or a test that calls a demo's main keeps its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def finish(status):
    """sys.exit(status), Ctrl-C ignored from here on: the run is over and its line printed, so
    a Ctrl-C while Python shuts down (matplotlib's clean-up, say) changes nothing. A reader of
    stdout that left is exit status PIPE_CLOSED, quietly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        status = pipe_closed()
    sys.exit(status)


def matplotlib_cache():
    """Matplotlib keeps its font cache in $XDG_CACHE_HOME/matplotlib (or $MPLCONFIGDIR). Where
    that folder cannot be made or written (XDG_CACHE_HOME a file, say), it warns in two lines
    and uses a temporary folder: make that choice for it, quietly (the glyph cache's one
    warning already says the cache folder is unusable). Call before matplotlib loads fonts."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    # matplotlib's own rule (matplotlib._get_xdg_cache_dir), not glyphs.cache_home's: this
    # must name the folder matplotlib will use, and it takes a relative value as it is
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(root, "matplotlib")
    try:
        os.makedirs(folder, exist_ok=True)
        if os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
            return
    except (OSError, ValueError):
        pass
    import atexit
    import shutil
    import tempfile
    temporary = tempfile.mkdtemp(prefix="matplotlib-")
    atexit.register(shutil.rmtree, temporary, ignore_errors=True)
    os.environ["MPLCONFIGDIR"] = temporary


def one_line_warning(prog):
    """A warnings.showwarning that prints one line, 'prog: warning: ...', to stderr (not the
    default two, the second a line of library source)."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message).strip().splitlines()
        print(f"{prog}: warning: {text[0] if text else category.__name__}", file=sys.stderr)
    return show


def main(prog, parse_args, run, argv):
    """run(parse_args(argv), state), with one line on stderr and an exit status for each way
    it can fail. run sets state["written"] once its files are committed."""
    state = {"written": False}
    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warning(prog)
            matplotlib_cache()
            run(parse_args(argv), state)
        return 0
    except SystemExit:  # --help, or argparse's own usage error
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return pipe_closed()
        raise
    except BrokenPipeError:
        return pipe_closed()
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # a value the library refused that the flags' checks let through
        print(f"{prog}: error: {str(e).splitlines()[0] if str(e) else repr(e)}", file=sys.stderr)
        return 2
    except maml.Diverged as e:  # nothing was written
        print(f"{prog}: error: {e} [cause: {blame(e)}]", file=sys.stderr)
        return 1
    except FileExistsError as e:  # another run created it after our checks
        print(f"{prog}: error: {e.filename or e} was written by another run meanwhile; no file "
              "was changed (add --force to replace it)", file=sys.stderr)
        return 1
    except OSError as e:
        committed, unfinished = getattr(e, "committed", []), getattr(e, "unfinished", [])
        print(f"{prog}: error: could not write the results ({e}); " + (
            f"the new files are complete in {', '.join(committed)} only; " if committed else "") + (
            f"{', '.join(unfinished)} will get its old files back at the next run" if unfinished
            else "no other file was changed" if committed else "no file was changed"),
            file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n" * sys.stderr.isatty() + f"{prog}: interrupted; " + (
            "the new results had already been written in full" if state["written"]
            else "no file was changed"), file=sys.stderr)
        return 130
