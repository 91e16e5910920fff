"""The MAML family side by side on one protocol (variants.py): exact MAML with 1, 3 and 5
inner steps, first-order MAML, Reptile, ANIL, the pretrained baseline and the oracle.

    python demo_variants.py                        # 2,000 iterations each, a few minutes
    python demo_variants.py --load checkpoints/variants --out docs
                                                   # the committed 70,000-iteration results
    python demo_variants.py --paper --save my_variants --out my_figures
                                                   # the paper's 70,000 iterations (about an hour)

Every method starts from the same weights, sees the same stream of training tasks (meta-batch
25, K = 10) for the same number of iterations, and is evaluated exactly as demo_sinusoid.py
evaluates MAML: the same 600 held-out tasks, 100 query points, SGD with α = 0.01 at test time,
0..10 steps, 95% intervals (ANIL fine-tunes its output layer only, as it was trained to; the
oracle is told each task's amplitude and phase and does not adapt). Written to --out:
variants.json, variants.png; printed: the table, and each method's meta-training speed and
peak memory, measured side by side in this run.
"""
import json
import math
import os
import statistics
import sys
import time
import tracemalloc

import numpy

import demo_sinusoid
import checkpoints
import files
import maml
import variants
from demo_sinusoid import UsageError

EVAL_K = (5, 10)
LIMITS = {name: demo_sinusoid.LIMITS[name] for name in ("iterations", "eval_tasks", "seed")}
LIMITS["speed_iterations"] = (0, 1000)
LABELS = {"maml-1": "MAML, 1 inner step", "maml-3": "MAML, 3 inner steps",
          "maml-5": "MAML, 5 inner steps", "fomaml": "first-order MAML",
          "reptile": "Reptile (5 steps)", "anil": "ANIL", "pretrained": "pretrained",
          "oracle": "oracle (told A, φ)"}


def parse_args(argv):
    """Parse and check the command line, paths included; raises UsageError for a bad value."""
    p = demo_sinusoid.OneLineParser(
        description="Train and compare the MAML family on one protocol.",
        formatter_class=demo_sinusoid.HelpFormatter, allow_abbrev=False)
    p.add_argument("--methods", default=",".join(variants.METHODS),
                   help="comma-separated methods, from " + ", ".join(variants.METHODS))
    p.add_argument("--iterations", type=int, default=2000,
                   help="training iterations per method, 1 to 1,000,000")
    p.add_argument("--paper", action="store_true", help="70,000 iterations, as the paper")
    p.add_argument("--alpha", type=float, default=0.01, help="inner step size α, train and test")
    p.add_argument("--meta-lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and task streams")
    p.add_argument("--eval-tasks", type=int, default=600, help="held-out tasks, 2 to 10,000")
    p.add_argument("--speed-iterations", type=int, default=20,
                   help="iterations per speed measurement, 1 to 1,000 (0 skips it)")
    p.add_argument("--out", default="figures", help="folder for variants.json and variants.png")
    p.add_argument("--save", metavar="FOLDER", help="save each method's checkpoint there")
    p.add_argument("--force", action="store_true", help="let --save replace checkpoints")
    p.add_argument("--load", metavar="FOLDER",
                   help="evaluate saved checkpoints (FOLDER/<method>.npz) instead of training")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    if args.paper:
        if "--iterations" in argv:
            raise UsageError("--paper sets --iterations to 70,000: give one of them")
        args.iterations = 70000
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in variants.METHODS]
    if unknown or not args.methods:
        raise UsageError(f"--methods: unknown method {unknown[0] if unknown else '(none)'!r}; "
                         f"expected some of {', '.join(variants.METHODS)}")
    demo_sinusoid.check_numbers(args, LIMITS)
    demo_sinusoid.check_out_folder(args.out)
    if args.load is not None and (args.save is not None or args.paper or "--iterations" in argv):
        raise UsageError("--load evaluates saved checkpoints: drop --save, --paper and "
                         "--iterations")
    if args.save is not None:
        if not args.save or (os.path.exists(args.save) and not os.path.isdir(args.save)):
            raise UsageError(f"--save must name a folder, got {args.save!r}")
        demo_sinusoid.check_writable_folder("--save", args.save,
                                            demo_sinusoid.nearest_existing(args.save))
        existing = [m for m in args.methods if os.path.exists(checkpoint_path(args.save, m))]
        if existing and not args.force:
            raise UsageError(f"--save {args.save!r} already holds {existing[0]}.npz: add "
                             "--force to replace it")
    if args.load is not None:
        missing = [m for m in args.methods if not os.path.isfile(checkpoint_path(args.load, m))]
        if not args.load or missing:
            raise UsageError(f"--load {args.load!r}: no checkpoint "
                             f"{checkpoint_path(args.load, missing[0]) if missing else ''!r}")
    return args


def checkpoint_path(folder, method):
    """FOLDER/<method>.npz"""
    return os.path.join(folder, f"{method}.npz")


def settings(args):
    """The one protocol every method is trained with."""
    return dict(iterations=args.iterations, meta_batch=25, k=10, alpha=args.alpha,
                meta_lr=args.meta_lr, seed=args.seed)


def train_all(args):
    """{method: (params, losses)}: the same initial weights and task stream for each."""
    init_seed, train_seed = numpy.random.SeedSequence(args.seed).spawn(2)
    init = maml.init_mlp(demo_sinusoid.LAYERS, numpy.random.default_rng(init_seed))
    trained = {}
    for method in args.methods:
        progress = demo_sinusoid.Progress(f"{method:10}", args.iterations, args.quiet)
        trained[method] = variants.train_method(
            method, init, numpy.random.default_rng(train_seed), args.iterations,
            alpha=args.alpha, meta_lr=args.meta_lr, callback=progress)
    return trained


def load_all(args):
    """{method: (params, losses)} from FOLDER/<method>.npz, and the protocol they share."""
    trained, protocol = {}, None
    for method in args.methods:
        path = checkpoint_path(args.load, method)
        try:
            params, metadata = checkpoints.load_params(path)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(f"--load: {e}") from None
        if metadata.get("method") != method or not isinstance(metadata.get("training"), dict):
            raise UsageError(f"--load {path!r}: not a checkpoint of {method!r}")
        if protocol not in (None, metadata["training"]):
            raise UsageError(f"--load {path!r} was trained with {metadata['training']}, the "
                             f"others with {protocol}: not one protocol")
        protocol = metadata["training"]
        losses = metadata.get("losses", [])
        trained[method] = (params, checkpoints.expect(losses, "numbers", f"{path} losses"))
    return trained, protocol


def evaluate_all(trained, args):
    """{(method, K): maml.Evaluation} on demo_sinusoid's held-out tasks."""
    results = {}
    for k in EVAL_K:
        batch = demo_sinusoid.held_out_tasks(args.seed, args.eval_tasks, k)
        for method, (params, _) in trained.items():
            kind = variants.METHODS[method][0]
            if kind == "oracle":
                results[method, k] = variants.evaluate_oracle(params, batch)
            elif kind == "anil":
                results[method, k] = variants.evaluate_head(params, *batch[:4], alpha=args.alpha)
            else:
                results[method, k] = maml.evaluate(params, *batch[:4], alpha=args.alpha)
    return results


def measure_speed(methods, args, repeats=5):
    """{method: (iterations/s median, peak bytes per iteration)}, measured round-robin in this
    one process so the figures are comparable with each other (not with another machine's)."""
    init = maml.init_mlp(demo_sinusoid.LAYERS, numpy.random.default_rng(0))
    times = {m: [] for m in methods}
    for _ in range(repeats):
        for method in methods:
            start = time.perf_counter()
            variants.train_method(method, init, numpy.random.default_rng(1),
                                  args.speed_iterations, alpha=args.alpha)
            times[method].append((time.perf_counter() - start) / args.speed_iterations)
    peaks = {}
    for method in methods:
        tracemalloc.start()
        variants.train_method(method, init, numpy.random.default_rng(1), 1, alpha=args.alpha)
        peaks[method] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {m: (1 / statistics.median(times[m]), peaks[m]) for m in methods}


def report(results, speed, protocol, args):
    """variants.json: the protocol, each method's MSE at every step, and the speeds."""
    return dict(
        protocol=dict(training=protocol, evaluation=dict(
            seed=args.seed, held_out_tasks=args.eval_tasks, k=list(EVAL_K), alpha=args.alpha,
            query_points=demo_sinusoid.QUERY_POINTS, steps=demo_sinusoid.EVAL_STEPS,
            interval="95%: mean ± 1.96·std/√tasks (sample std)")),
        methods={m: dict(label=LABELS[m], kind=variants.METHODS[m][0],
                         inner_steps=variants.METHODS[m][1]) for m in args.methods},
        results=[dict(method=m, k=k, steps=s, mse=float(results[m, k].mse[s]),
                      ci95=float(results[m, k].ci95[s]))
                 for m in args.methods for k in EVAL_K
                 for s in range(demo_sinusoid.EVAL_STEPS + 1)],
        speed=None if speed is None else dict(
            iterations_per_measurement=args.speed_iterations,
            note="medians of 5 round-robin runs in one process, sampling and Adam included; "
                 "ratios are what carries over to another machine",
            methods={m: dict(iterations_per_second=s, peak_bytes_per_iteration=b)
                     for m, (s, b) in speed.items()}))


def mean_and_interval(mse, ci95):
    """'0.59 ± 0.06'; below 0.1, two significant digits and the interval to the same place
    ('0.054 ± 0.010', the oracle's '0.00084 ± 0.00002')."""
    decimals = 2 if mse >= 0.095 else max(2, 1 - math.floor(math.log10(mse)))
    return f"{mse:.{decimals}f} ± {ci95:.{decimals}f}"


def markdown_table(data):
    """The README's table, made from variants.json (test_readme.py checks they agree)."""
    rows = {(r["method"], r["k"], r["steps"]): r for r in data["results"]}
    speed = (data.get("speed") or {}).get("methods", {})
    base = speed.get("maml-1", {}).get("iterations_per_second")
    lines = ["| method | K=5, 1 step | K=5, 10 steps | K=10, 1 step | K=10, 10 steps "
             "| speed vs MAML-1 | peak MB / it |", "|---|---|---|---|---|---:|---:|"]
    for method, info in data["methods"].items():
        cells = [mean_and_interval(rows[method, k, s]["mse"], rows[method, k, s]["ci95"])
                 for k in EVAL_K for s in (1, 10)]
        s = speed.get(method)
        ratio = f"{s['iterations_per_second'] / base:.2f}x" if s and base else "—"
        memory = f"{s['peak_bytes_per_iteration'] / 1e6:.1f}" if s else "—"
        lines.append(f"| {info['label']} | " + " | ".join(cells) + f" | {ratio} | {memory} |")
    return "\n".join(lines)


def plot(results, methods):
    """MSE against test-time steps, K = 5 and K = 10, one line and 95% band per method."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(EVAL_K), figsize=(14, 4.5), sharey=True)
    steps = numpy.arange(demo_sinusoid.EVAL_STEPS + 1)
    for ax, k in zip(axes, EVAL_K):
        for i, method in enumerate(methods):
            r = results[method, k]
            style = "--" if variants.METHODS[method][0] in ("pretrained", "oracle") else "-"
            ax.plot(steps, r.mse, style, marker="o", ms=3, color=f"C{i}", label=LABELS[method])
            ax.fill_between(steps, r.mse - r.ci95, r.mse + r.ci95, color=f"C{i}", alpha=0.15)
        ax.set_yscale("log")
        ax.set_title(f"K = {k} support points")
        ax.set_xlabel("gradient steps at test time (α = 0.01)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("query MSE, 600 held-out tasks (95% band)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="center right", fontsize=9)
    fig.suptitle("The MAML family on one protocol: same tasks, same budget, same evaluation")
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    return fig


def run(args, state):
    """Train (or load) every method, evaluate, measure speed, then commit the checkpoints and
    the --out files, each folder as one set."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if args.load is not None:
        trained, protocol = load_all(args)
    else:
        trained, protocol = train_all(args), settings(args)
    results = evaluate_all(trained, args)
    speed = measure_speed(args.methods, args) if args.speed_iterations else None
    data = report(results, speed, protocol, args)
    fig = plot(results, args.methods)
    outputs = {"variants.json": json.dumps(data, indent=1, allow_nan=False).encode(),
               "variants.png": demo_sinusoid.png_bytes(fig)}
    plt.close(fig)
    with files.signals_held():
        if args.save is not None:
            blocks = {m: demo_sinusoid.block_means(losses) for m, (_, losses) in trained.items()}
            files.commit(args.save, {f"{m}.npz": checkpoints.encode_models({None: params}, dict(
                method=m, label=LABELS[m], training=protocol, inner_steps=variants.METHODS[m][1],
                test_alpha=args.alpha, losses=blocks[m][0], loss_block=blocks[m][1]))
                for m, (params, _) in trained.items()})
        files.commit(args.out, outputs)
        state["written"] = True
    print(f"trained: {protocol}")
    print(markdown_table(data))
    print(f"\nwrote variants.json, variants.png to {args.out}/"
          + (f" and the checkpoints to {args.save}/" if args.save else ""))


def main(argv=None):
    """The command line; exit status as demo_sinusoid.py's."""
    return demo_sinusoid.command_line("demo_variants.py", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
