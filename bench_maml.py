"""Benchmark: exact MAML meta-training speed on one CPU core. A benchmark, not a test.

    python bench_maml.py                  # the tables (about a minute)
    python bench_maml.py --threads 2      # let BLAS use two threads
    python bench_maml.py --quick          # fewer repeats, for a look

Each row times whole meta-iterations of maml.meta_train (or maml.train for the loop
reference): task sampling, the meta-gradient and the Adam step. A row's figure is the median
of --repeats runs of --iterations iterations after a warm-up; the rows are measured round-robin,
so noise from other work on the machine hits them all alike. The second table undoes one kept
speed trick at a time, measured in the same rounds.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

PAPER = dict(meta_batch=25, k=10, steps=1, first_order=False)  # the paper's sinusoid setup


def parse_args(argv=None):
    """The command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="BLAS / OpenMP threads")
    p.add_argument("--iterations", type=int, default=200,
                   help="meta-iterations per timed run (scaled down for the slow rows)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per row; the median is shown")
    p.add_argument("--quick", action="store_true", help="3 repeats of 60 iterations")
    p.add_argument("--worker", choices=["default-malloc"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.iterations, args.repeats = 60, 3
    if args.threads < 1 or args.iterations < 1 or args.repeats < 1:
        p.exit(2, f"{p.prog}: error: --threads, --iterations and --repeats must be >= 1\n")
    return args


# Imported after the thread count is fixed (see __main__): BLAS reads it when it loads.
def rows(numpy, maml, autograd_numpy, grad):
    """(name, function(params, rng, iterations), slowdown) for every row of both tables."""
    def meta_train(**setup):
        def run(params, rng, iterations):
            config = {**PAPER, **setup}
            maml.meta_train(params, rng, iterations, meta_batch=config["meta_batch"],
                            k=config["k"], steps=config["steps"],
                            first_order=config["first_order"])
        return run

    def loop_reference(params, rng, iterations):
        def objective(p, batch):
            return maml.maml_loss_loop(p, *batch[:4], alpha=0.01, steps=1)
        maml.train(objective, params, rng, iterations, PAPER["meta_batch"], PAPER["k"])

    def with_patch(name, replacement):
        def run(params, rng, iterations):
            original = getattr(maml, name)
            setattr(maml, name, replacement)
            try:
                meta_train()(params, rng, iterations)
            finally:
                setattr(maml, name, original)
        return run

    def nested_inner_update(params, x_support, y_support, alpha, first_order=False):
        # maml.inner_update before the flat-list trick: grad over the list of (W, b) pairs
        def support_loss(p):
            return autograd_numpy.sum(maml.loss(p, x_support, y_support))
        grads = grad(support_loss)(params)
        return [(W - alpha * dW, b - alpha * db) for (W, b), (dW, db) in zip(params, grads)]

    main = [
        ("exact, T=25, 1 step (paper)", meta_train(), 1),
        ("first-order, T=25, 1 step", meta_train(first_order=True), 1),
        ("per-task loop reference, T=25, 1 step", loop_reference, 10),
        ("exact, T=25, 3 steps", meta_train(steps=3), 3),
        ("exact, T=25, 5 steps", meta_train(steps=5), 5),
        ("exact, T=5, 1 step", meta_train(meta_batch=5), 1),
        ("exact, T=100, 1 step", meta_train(meta_batch=100), 4),
    ]
    ablations = [  # each kept trick undone
        ("default malloc (no keep_freed_memory)", None, 1),
        ("nested grad over the (W, b) pairs", with_patch("inner_update", nested_inner_update), 1),
        ("np.maximum ReLU instead of x * (x > 0)",
         with_patch("relu", lambda x: autograd_numpy.maximum(x, 0.0)), 1),
    ]
    return main, ablations


def default_malloc_worker(iterations):
    """In a fresh process: the paper row without keep_freed_memory. Prints ms/iteration."""
    import numpy
    import maml
    maml.keep_freed_memory = lambda: False
    params = maml.init_mlp((1, 40, 40, 1), numpy.random.default_rng(0))
    rng = numpy.random.default_rng(1)
    maml.meta_train(params, rng, 10)
    start = time.perf_counter()
    maml.meta_train(params, rng, iterations)
    print(1e3 * (time.perf_counter() - start) / iterations)


def machine():
    """The CPU model and core count, for the record."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


def main(args):
    """Measure every row round-robin and print both tables."""
    import resource
    import tracemalloc

    import numpy
    import autograd.numpy as autograd_numpy
    from autograd import grad

    import maml

    main_rows, ablations = rows(numpy, maml, autograd_numpy, grad)
    params = maml.init_mlp((1, 40, 40, 1), numpy.random.default_rng(0))
    rng = numpy.random.default_rng(1)
    times = {name: [] for name, _, _ in main_rows + ablations}

    def worker_ms():
        out = subprocess.run([sys.executable, __file__, "--worker", "default-malloc",
                              "--iterations", str(args.iterations), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        return float(out.stdout)

    for name, run, slowdown in main_rows + ablations:  # warm-up
        if run is not None:
            run(params, rng, 5)
    for _ in range(args.repeats):
        for name, run, slowdown in main_rows + ablations:
            n = max(5, args.iterations // slowdown)
            if run is None:
                times[name].append(worker_ms())
                continue
            start = time.perf_counter()
            run(params, rng, n)
            times[name].append(1e3 * (time.perf_counter() - start) / n)

    peaks = {}
    for name, run, _ in main_rows:
        tracemalloc.start()
        run(params, rng, 3)
        peaks[name] = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()

    ms = {name: statistics.median(t) for name, t in times.items()}
    loop_ms = ms["per-task loop reference, T=25, 1 step"]
    paper_ms = ms["exact, T=25, 1 step (paper)"]
    print(f"MAML sinusoid meta-training, MLP 1-40-40-1, K = 10 + 10, {args.threads} thread(s); "
          f"median of {args.repeats} runs; numpy {numpy.__version__}, Python {sys.version.split()[0]}")
    print(f"{time.strftime('%Y-%m-%d')}, {machine()}. Ratios measured side by side carry over "
          "to other machines; absolute figures vary by 20% or more between machines of one kind.")
    print()
    print("| configuration | speed vs paper config | vs loop reference | meta-iterations/s "
          "| peak MB |")
    print("|---|---:|---:|---:|---:|")
    for name, _, _ in main_rows:
        print(f"| {name} | {paper_ms / ms[name]:.2f}x | {loop_ms / ms[name]:.1f}x "
              f"| {1e3 / ms[name]:.0f} | {peaks[name]:.1f} |")
    print()
    print("Each kept trick undone, one at a time (paper configuration):")
    print()
    print("| variant | meta-iterations/s | ms / iteration | time vs kept code |")
    print("|---|---:|---:|---:|")
    print(f"| kept code | {1e3 / paper_ms:.0f} | {paper_ms:.2f} | |")
    for name, _, _ in ablations:
        print(f"| {name} | {1e3 / ms[name]:.0f} | {ms[name]:.2f} | "
              f"{ms[name] / paper_ms:.2f}x |")
    print()
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
          " (peak MB above: numpy and Python allocations during a row, by tracemalloc)")


if __name__ == "__main__":
    arguments = parse_args()
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(arguments.threads)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if arguments.worker == "default-malloc":
        default_malloc_worker(arguments.iterations)
    else:
        main(arguments)
