"""Benchmark: exact MAML meta-training speed on one CPU core. A benchmark, not a test.

    .venv/bin/python bench_maml.py                  # the tables (a few minutes)
    .venv/bin/python bench_maml.py --quick          # fewer repeats, for a look
    .venv/bin/python bench_maml.py --threads 2      # let BLAS use two threads
    .venv/bin/python bench_maml.py --json docs/speed.json   # the figures README.md quotes

Each row times whole meta-iterations of maml.train (what maml.meta_train runs): task sampling,
the meta-gradient and the Adam step. Every row runs in a worker process of its own (the frozen
reference of bench/reference/, the current code, the current code with one kept speed trick
undone, the per-task loop, or bench/fold.py's folded biases), and the rows are measured
round-robin, one worker at a time, so noise from other work on the machine hits them all alike.
A row's figure is the median of --repeats runs after a warm-up; for each trick undone, the
table also counts the rounds in which it was slower than the kept code in the same round.
"""
import os
import sys

try:  # Ctrl-C while Python loads the rest: the same one line as later (interrupted_early)
    import signal
except KeyboardInterrupt:
    print("\n" * sys.stderr.isatty() + "bench_maml.py: interrupted; nothing was written",
          file=sys.stderr)
    os._exit(130)


def interrupted_early(signum=None, frame=None):
    """Ctrl-C before the run is under way: one line, exit status 130 (the same as later)."""
    print("\n" * sys.stderr.isatty() + "bench_maml.py: interrupted; nothing was written",
          file=sys.stderr)
    os._exit(130)


if __name__ == "__main__" and "--worker" not in sys.argv:
    signal.signal(signal.SIGINT, interrupted_early)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "bench", "reference")  # maml.py as it was before the speed work

# name: (code, meta_batch T, inner steps, first_order, slowdown). Code "reference" is the frozen
# copy; "kept" the current code; "loop" maml_loss_loop; "fold" bench/fold.py; a name of TRICKS
# the current code with that trick undone (see undo()).
ROWS = {
    "exact, T=25, 1 step (paper)": ("kept", 25, 1, False, 1),
    "reference code, T=25, 1 step (paper)": ("reference", 25, 1, False, 1),
    "first-order, T=25, 1 step": ("kept", 25, 1, True, 1),
    "per-task loop, T=25, 1 step": ("loop", 25, 1, False, 10),
    "biases folded into W (bench/fold.py), T=25, 1 step": ("fold", 25, 1, False, 1),
    "exact, T=5, 1 step": ("kept", 5, 1, False, 1),
    "reference code, T=5, 1 step": ("reference", 5, 1, False, 1),
    "exact, T=100, 1 step": ("kept", 100, 1, False, 4),
    "reference code, T=100, 1 step": ("reference", 100, 1, False, 4),
    "exact, T=25, 3 steps": ("kept", 25, 3, False, 3),
    "reference code, T=25, 3 steps": ("reference", 25, 3, False, 3),
    "exact, T=25, 5 steps": ("kept", 25, 5, False, 5),
    "reference code, T=25, 5 steps": ("reference", 25, 5, False, 5),
}
TRICKS = {  # each kept trick undone, paper configuration
    "dense": "x @ W + b traced as two operations (no dense primitive)",
    "products": "dense's gradients as swapaxes + matmul (no times_transpose, transpose_times)",
    "descend": "w - alpha * g traced as two operations (no descend primitive)",
    "mse": "the loss traced as subtract, square, mean (no mean_squared_error primitive)",
    "nested": "gradients over the nested (W, b) pairs (not a flat list)",
    "relu": "np.maximum ReLU instead of x * (x > 0)",
    "malloc": "default malloc (no keep_freed_memory)",
    "checks": "arguments checked at every call, not once",
}


def parse_args(argv=None):
    """The command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="BLAS / OpenMP threads")
    p.add_argument("--iterations", type=int, default=200,
                   help="meta-iterations per timed run (scaled down for the slow rows)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per row; the median is shown")
    p.add_argument("--quick", action="store_true", help="3 repeats of 60 iterations")
    p.add_argument("--json", metavar="PATH", help="also save the figures to this JSON file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.error = lambda message: p.exit(2, f"{p.prog}: error: {message} (--help for usage)\n")
    args = p.parse_args(argv)
    if args.quick:
        args.iterations, args.repeats = 60, 3
    for flag, value, high in (("--threads", args.threads, 256),
                              ("--iterations", args.iterations, 100_000),
                              ("--repeats", args.repeats, 1_000)):
        if not 1 <= value <= high:
            p.exit(2, f"{p.prog}: error: {flag} must be from 1 to {high:,}, got {value}\n")
    return args


# --- a worker: one code variant, timing runs on request ------------------------------------------

def undo(trick, maml, checks):
    """Patch the current maml.py back to how it was without one kept trick."""
    import autograd.numpy as np
    from autograd import grad, value_and_grad
    if trick == "dense":
        maml.dense = lambda x, W, b: x @ W + b
    elif trick == "products":
        maml.times_transpose = lambda a, b: a @ np.swapaxes(b, -1, -2)
        maml.transpose_times = lambda a, b: np.swapaxes(a, -1, -2) @ b
    elif trick == "descend":
        maml.descend = lambda w, g, alpha: w - alpha * g
    elif trick == "mse":
        maml.mean_squared_error = lambda p, y: np.mean(np.square(p - y), axis=(-2, -1))
    elif trick == "relu":
        maml.relu = lambda x: np.maximum(x, 0.0)
    elif trick == "nested":
        def inner_update(params, x_support, y_support, alpha, first_order=False,
                         loss_fn=maml.loss):
            def support_loss(p):
                return np.sum(loss_fn(p, x_support, y_support))
            grads = grad(support_loss)(params)
            return [(maml.descend(W, dW, alpha), maml.descend(b, db, alpha))
                    for (W, b), (dW, db) in zip(params, grads)]
        maml.inner_update = inner_update
        train = maml.train.__wrapped__

        def nested_train(objective, *args, **kwargs):
            return train(objective, *args, objective_and_grad=value_and_grad(objective),
                         **kwargs)
        maml.train = nested_train
    elif trick == "malloc":
        maml.keep_freed_memory = lambda: False
    elif trick == "checks":
        class NeverInside:
            depth = property(lambda self: 0, lambda self, value: None)
        checks._inside = NeverInside()
    elif trick not in ("kept", "loop", "fold"):
        raise ValueError(trick)


def worker(code, iterations):
    """Serve requests on stdin (JSON lines: meta_batch, steps, first_order, n, and "memory" or
    "nodes"): answer milliseconds per meta-iteration, or the peak traced MB of a short run, or
    the number of nodes autograd records in one meta-iteration; one JSON line each."""
    import tracemalloc
    sys.path.insert(0, REFERENCE if code == "reference" else HERE)
    sys.path.append(os.path.join(HERE, "bench"))  # bench/fold.py
    import numpy
    import checks
    import maml
    undo(code if code != "reference" else "kept", maml, checks)
    params = maml.init_mlp((1, 40, 40, 1), numpy.random.default_rng(0))
    rng = numpy.random.default_rng(1)

    def run(request, n):
        if code == "fold":  # the same training loop on folded parameters (bench/fold.py)
            import fold
            from autograd import value_and_grad
            flat_value_and_grad = value_and_grad(lambda weights, batch: fold.maml_loss(
                weights, *batch[:4], steps=request["steps"]))

            def objective_and_grad(params, batch):
                value, grads = flat_value_and_grad([Wb for Wb, in params], batch)
                return value, [(g,) for g in grads]
            checks._inside.depth = 1  # as inside meta_train: checked once, not every call
            maml.train.__wrapped__(None, [(Wb,) for Wb in fold.fold(params)], rng, n,
                                   request["meta_batch"], 10,
                                   objective_and_grad=objective_and_grad)
            checks._inside.depth = 0
        elif code == "loop":
            def objective(p, batch):
                return maml.maml_loss_loop(p, *batch[:4], alpha=0.01, steps=request["steps"])
            maml.train(objective, params, rng, n, request["meta_batch"], 10)
        else:
            maml.meta_train(params, rng, n, meta_batch=request["meta_batch"], k=10,
                            steps=request["steps"], first_order=request["first_order"])

    for line in sys.stdin:
        request = json.loads(line)
        if request.get("nodes"):  # operations autograd records in one meta-iteration
            import autograd.core
            counted, init = [], autograd.core.VJPNode.__init__

            def counting_init(self, *args):
                counted.append(1)
                init(self, *args)
            autograd.core.VJPNode.__init__ = counting_init
            run(request, 1)
            autograd.core.VJPNode.__init__ = init
            answer = len(counted)
        elif request.get("memory"):
            tracemalloc.start()
            run(request, 2)
            answer = tracemalloc.get_traced_memory()[1] / 2 ** 20
            tracemalloc.stop()
        else:
            run(request, 3)  # warm
            start = time.perf_counter()
            run(request, request["n"])
            answer = 1e3 * (time.perf_counter() - start) / request["n"]
        print(json.dumps(answer), flush=True)


# --- the parent: round-robin over the workers, then the tables -------------------------------------

def machine():
    """The CPU model and core count, for the record."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


def measure(args):
    """Measure every row round-robin: {"ms": {name: median ms per meta-iteration}, "runs":
    {name: every run's ms, in round order}, "peak_mb": {name: MB}, "nodes": {name: count}} and
    what the run was on."""
    rows = dict(ROWS)
    rows.update({f"undo: {text}": (trick, 25, 1, False, 1) for trick, text in TRICKS.items()})
    workers = {}
    for code in {code for code, *_ in rows.values()}:
        # a session of their own: a Ctrl-C at the terminal reaches this process only, which
        # stops them (else each would print its own traceback)
        workers[code] = subprocess.Popen(
            [sys.executable, __file__, "--worker", code, "--threads", str(args.threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        return measure_with(workers, rows, args)
    finally:
        for process in workers.values():  # gone already unless interrupted or failed
            if process.poll() is None:
                process.kill()
                process.wait()


def measure_with(workers, rows, args):
    """measure's rounds, on the running workers {code: process}."""

    def ask(name, **extra):
        code, T, steps, first_order, slowdown = rows[name]
        request = dict(meta_batch=T, steps=steps, first_order=first_order,
                       n=max(5, args.iterations // slowdown), **extra)
        workers[code].stdin.write(json.dumps(request) + "\n")
        workers[code].stdin.flush()
        return json.loads(workers[code].stdout.readline())

    times = {name: [] for name in rows}
    for _ in range(args.repeats):
        for name in rows:
            times[name].append(ask(name))
    peaks = {name: ask(name, memory=True) for name in ROWS}
    nodes = {name: ask(name, nodes=True) for name in (
        "exact, T=25, 1 step (paper)", "reference code, T=25, 1 step (paper)",
        "biases folded into W (bench/fold.py), T=25, 1 step")}
    for process in workers.values():
        process.stdin.close()
        process.wait()

    import numpy
    return {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "threads": args.threads,
            "repeats": args.repeats, "iterations": args.iterations, "numpy": numpy.__version__,
            "python": sys.version.split()[0],
            "ms": {name: statistics.median(t) for name, t in times.items()}, "runs": times,
            "peak_mb": peaks,
            "nodes": nodes}


def tables(data):
    """The two markdown tables of a measure() result (README.md quotes them)."""
    ms, peaks = data["ms"], data["peak_mb"]
    paper = ms["exact, T=25, 1 step (paper)"]
    lines = ["| configuration | meta-iterations/s | speed vs the reference code | vs paper config "
             "| peak MB |", "|---|---:|---:|---:|---:|"]
    for name, (code, T, steps, first_order, _) in ROWS.items():
        if code == "reference":
            continue
        twin = f"reference code, T={T}, {steps} step{'s' * (steps > 1)}" + (
            " (paper)" if (T, steps) == (25, 1) else "")
        versus = f"{ms[twin] / ms[name]:.2f}x" if twin in ms and code == "kept" and (
            not first_order) else "—"
        lines.append(f"| {name} | {1e3 / ms[name]:.0f} | {versus} | {paper / ms[name]:.2f}x "
                     f"| {peaks[name]:.1f} |")
    nodes = data["nodes"]
    lines += ["", "Nodes autograd records per meta-iteration of the paper configuration: "
              f"{nodes['exact, T=25, 1 step (paper)']} (the reference code: "
              f"{nodes['reference code, T=25, 1 step (paper)']}; biases folded: "
              f"{nodes['biases folded into W (bench/fold.py), T=25, 1 step']}).",
              "", "Each kept trick undone, one at a time (paper configuration):", "",
              "| variant | meta-iterations/s | time vs kept code | rounds slower than kept |",
              "|---|---:|---:|---:|", f"| kept code | {1e3 / paper:.0f} | 1.00x | |"]
    kept_runs = data["runs"]["exact, T=25, 1 step (paper)"]
    for trick, text in TRICKS.items():
        name = f"undo: {text}"
        slower = sum(u > k for u, k in zip(data["runs"][name], kept_runs))
        lines.append(f"| {text} | {1e3 / ms[name]:.0f} | {ms[name] / paper:.2f}x "
                     f"| {slower} of {len(kept_runs)} |")
    return "\n".join(lines)


def main(args, state):
    """Measure, print both tables, and save the figures if --json was given (then
    state["written"] is True)."""
    if args.json is not None:
        import files
        if not args.json.strip():
            print(f"bench_maml.py: error: --json needs a file path, got {args.json!r}", file=sys.stderr)
            sys.exit(2)
        folder, name = os.path.split(os.path.abspath(args.json))
        try:
            files.check_writable({folder: [name]})
        except ValueError as e:
            print(f"bench_maml.py: error: --json {args.json!r}: {e}", file=sys.stderr)
            sys.exit(2)
    data = measure(args)
    print(f"MAML sinusoid meta-training, MLP 1-40-40-1, K = 10 + 10, {data['threads']} "
          f"thread(s); median of {data['repeats']} runs; numpy {data['numpy']}, "
          f"Python {data['python']}")
    print(f"{data['date']}, {data['machine']}. Ratios measured side by side carry over "
          "to other machines; absolute figures vary by 20% or more between machines of one kind.")
    print()
    print(tables(data))
    if args.json is not None:
        try:
            with files.signals_held():  # a Ctrl-C now waits until the file is complete
                files.commit(folder, {name: (json.dumps(data, indent=1) + "\n").encode()})
                state["written"] = True
        except OSError as e:
            print(f"bench_maml.py: could not write --json {args.json!r}: {e}", file=sys.stderr)
            sys.exit(1)
        print(f"\nwrote {args.json}")


def command_line():
    """The parent: main, with Ctrl-C one line and exit status 130 whenever it comes."""
    state = {"written": False}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        main(arguments, state)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # done: Python's shutdown would die of it
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the workers are being stopped
        print("\n" * sys.stderr.isatty() + "bench_maml.py: interrupted; " + (
            f"{arguments.json} had already been written in full" if state["written"] else
            "nothing was written"), file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    arguments = parse_args()
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(arguments.threads)
    if arguments.worker:
        worker(arguments.worker, arguments.iterations)
    else:
        command_line()
