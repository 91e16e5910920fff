"""The MAML family side by side on one protocol (variants.py): exact MAML with 1, 3 and 5
inner steps, first-order MAML, Reptile, ANIL, the pretrained baseline and the oracle.

    .venv/bin/python demo_variants.py                   # 2,000 iterations each, a few minutes
    .venv/bin/python demo_variants.py --load checkpoints/variants --out docs
                                                        # the committed 70,000-iteration results
    .venv/bin/python demo_variants.py --paper --save my_variants --out my_figures
                                                        # the paper's 70,000 iterations (hours)

Every method starts from the same weights, sees the same stream of training tasks (meta-batch
25, K = 10) for the same number of iterations, and is evaluated on the same held-out tasks as
demo_sinusoid.py's (tasks.held_out), 100 query points, SGD with α at test time, 0..10 steps,
95% intervals (ANIL fine-tunes its output layer only, as it was trained to; the oracle is told
each task's amplitude and phase and does not adapt). Written to --out: variants.json,
variants.png; printed: the table, and each method's meta-training speed and peak memory,
measured side by side in this run.
"""
import os
import sys

import threads

if __name__ == "__main__":
    threads.choose()  # BLAS threads: one unless --threads says otherwise, before numpy loads


def interrupted_early(signum=None, frame=None):
    """Ctrl-C while the libraries load: the same one line and exit status 130 as later on."""
    print("\n" * sys.stderr.isatty() + "demo_variants.py: interrupted; no file was changed",
          file=sys.stderr)
    os._exit(130)


try:  # the libraries take about a second to load: a Ctrl-C meanwhile is the same one line
    import signal
    if __name__ == "__main__":  # imported (a notebook, a test), it leaves Ctrl-C alone
        signal.signal(signal.SIGINT, interrupted_early)

    import json

    import numpy

    import checkpoints
    import cli
    import figures
    import maml
    import tasks
    import variants
except KeyboardInterrupt:
    interrupted_early()

EVAL_K = (5, 10)
EVAL_STEPS = 10
LAYERS = (1, 40, 40, 1)
# Published sinusoid MSE, K = 5, one step, on each paper's own protocol (docs/variants.md says
# how they differ from ours): (cell, source).
PUBLISHED = {
    "maml-1": ("0.67", "Finn et al. 2017, arXiv:1703.03400 v3, Table 2 (appendix C.1), MAML"),
    "pretrained": ("2.41", "Finn et al. 2017, Table 2, 'pretrain on all tasks'"),
    "meta-sgd": ("0.90 ± 0.16", "Li et al. 2017, arXiv:1707.09835, Table 1, Meta-SGD, 5-shot, "
                 "2 hidden layers of 40 (their MAML: 1.13 ± 0.18)"),
}
LEARNED_STEP = ("meta-sgd", "per-layer-alpha")  # the kinds of method that learn their α
VALIDATION_STREAM = 2018  # validation tasks: numpy.random.default_rng([seed, 2018]); the
                          # held-out ones are [seed, 2017] (tasks.held_out), training's its own
LABELS = {"maml-1": "MAML, 1 inner step", "maml-3": "MAML, 3 inner steps",
          "maml-5": "MAML, 5 inner steps", "fomaml": "first-order MAML",
          "reptile": "Reptile (5 steps)", "anil": "ANIL", "meta-sgd": "Meta-SGD (α per weight)",
          "per-layer-alpha": "α per layer, learned", "pretrained": "pretrained",
          "oracle": "oracle (told A, φ)"}


def main(argv=None):
    """The command line; exit status as cli.main's."""
    with cli.ctrl_c_raises():
        return cli.main("demo_variants.py", parse_args, run, argv)


def run(args, state):
    """Train (or load) every method, evaluate, measure speed, then commit the checkpoints and
    the --out files, every file staged before any is replaced."""
    with cli.Phases(args.quiet) as phases:  # a line at least every few seconds, to stderr
        if args.load is not None:
            phases.start(f"reading the checkpoints in {args.load}")
            trained, protocol = load_all(args)
        else:
            phases.start("training", announce=False)  # each method's Progress says it
            trained, protocol = train_all(args), settings(args)
        phases.start(f"evaluating on {args.eval_tasks:,} held-out tasks")
        results = evaluate_all(trained, args)
        if args.speed_iterations:
            phases.start(f"measuring the training speed ({args.speed_iterations} "
                         "iterations per round)")
        speed = measure_speed(args.methods, args) if args.speed_iterations else None
        data = report(results, speed, protocol, args, trained)
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        phases.start("drawing the figure")
        learned = [m for m in args.methods if variants.METHODS[m][0] in LEARNED_STEP]
        fig = figures.curves(results, {m: LABELS[m] for m in args.methods}, EVAL_K,
                             f"gradient steps at test time (α = {args.alpha:g}"
                             + ("; learned-step methods: their own α)" if learned else ")"),
                             f"query MSE, {args.eval_tasks:,} {tasks_name(args)} (95% band)",
                             "The MAML family on one protocol: same tasks, same budget, same "
                             "evaluation", dashed=("pretrained", "oracle"),
                             off_axis=("oracle",), diverged_row=True)
        sets = {os.path.abspath(args.out): {"variants.json": json.dumps(
            data, indent=1, allow_nan=False).encode(), "variants.png": cli.png_bytes(fig)}}
        plt.close(fig)
        if args.save is not None:
            sets.setdefault(os.path.abspath(args.save), {}).update(
                {f"{m}.npz": checkpoint_bytes(m, params, losses, protocol, args)
                 for m, (params, losses) in trained.items()})
        phases.start("writing the results")
        cli.commit(sets, args.replaceable, state)
    print(printed_table(data, protocol))
    if data.get("step_sizes"):
        print("\nthe learned step sizes:\n" + step_size_table(data))
    print(f"\nwrote variants.json, variants.png to {args.out}/"
          + (f" and the checkpoints to {args.save}/" if args.save else ""))


def settings(args):
    """The one protocol every method is trained with."""
    protocol = dict(iterations=args.iterations, meta_batch=args.meta_batch, k=args.k,
                    alpha=args.alpha, meta_lr=args.meta_lr, seed=args.seed)
    if args.meta_lr_decay != "none":  # absent: a constant learning rate, as before
        protocol["meta_lr_decay"] = args.meta_lr_decay
    return protocol


def describe(protocol):
    """One line of the shared training settings."""
    return ", ".join(f"{key.replace('_', ' ')} {value:,}" if isinstance(value, int) else
                     f"{key.replace('_', ' ')} {value}" if isinstance(value, str) else
                     f"{key.replace('_', ' ')} {value:g}" for key, value in protocol.items())


def train_all(args):
    """{method: (params, losses)}: the same initial weights and task stream for each."""
    init_seed, train_seed = numpy.random.SeedSequence(args.seed).spawn(2)
    init = maml.init_mlp(LAYERS, numpy.random.default_rng(init_seed))
    trained = {}
    for method in args.methods:
        progress = cli.Progress(f"{method:10}", args.iterations, args.quiet)
        trained[method] = variants.train_method(
            method, init, numpy.random.default_rng(train_seed), args.iterations,
            alpha=args.alpha, meta_lr=args.meta_lr, callback=progress, meta_batch=args.meta_batch,
            k=args.k, decay=None if args.meta_lr_decay == "none" else args.meta_lr_decay)
    return trained


def tasks_name(args):
    """What the evaluation's tasks are: 'held-out tasks' or 'validation tasks'."""
    return "validation tasks" if args.validation else "held-out tasks"


def evaluation_tasks(args, k):
    """The tasks evaluated on: tasks.held_out's, or with --validation tasks of a stream of their
    own (for choosing settings without looking at the held-out tasks)."""
    if args.validation:
        return tasks.sample_batch(args.eval_tasks, k, tasks.QUERY_POINTS,
                                  numpy.random.default_rng([args.seed, VALIDATION_STREAM]))
    return tasks.held_out(args.seed, args.eval_tasks, k)


def evaluate_all(trained, args):
    """{(method, K): maml.Evaluation} on the held-out (or validation) tasks."""
    results = {}
    for k in EVAL_K:
        batch = evaluation_tasks(args, k)
        for method, (params, _) in trained.items():
            results[method, k] = variants.evaluate_method(method, params, batch, args.alpha,
                                                          EVAL_STEPS)
    return results


def measure_speed(methods, args, repeats=5):
    """{method: (iterations/s median, peak bytes per iteration)}, measured side by side."""
    init = maml.init_mlp(LAYERS, numpy.random.default_rng(0))
    runs = {m: (lambda n, m=m: variants.train_method(m, init, numpy.random.default_rng(1), n,
                                                      alpha=args.alpha)) for m in methods}
    return {m: (1 / seconds, peak) for m, (seconds, peak) in
            cli.measure(runs, args.speed_iterations, repeats).items()}


def report(results, speed, protocol, args, trained=None):
    """variants.json: the protocol, each method's MSE at every step, the speeds, and the learned
    step sizes of the methods that learn them."""
    learned = {m: step_sizes(params) for m, (params, _) in (trained or {}).items()
               if variants.METHODS[m][0] in LEARNED_STEP}
    return dict(
        protocol=dict(training=protocol, evaluation=dict(
            seed=args.seed, **{"validation_tasks" if args.validation else "held_out_tasks":
                               args.eval_tasks}, k=list(EVAL_K), alpha=args.alpha,
            query_points=tasks.QUERY_POINTS, steps=EVAL_STEPS,
            interval="95%: mean ± 1.96·std/√tasks (sample std)")),
        methods={m: dict(label=LABELS[m], kind=variants.METHODS[m][0],
                         inner_steps=variants.METHODS[m][1]) for m in args.methods},
        results=[row for m in args.methods for k in EVAL_K
                 for row in cli.evaluation_rows(results[m, k], method=m, k=k)],
        speed=None if speed is None else dict(
            iterations_per_measurement=args.speed_iterations,
            note="medians of 5 round-robin runs in one process, sampling and Adam included; "
                 "ratios are what carries over to another machine",
            methods={m: dict(iterations_per_second=s, peak_bytes_per_iteration=b)
                     for m, (s, b) in speed.items()}),
        **({"step_sizes": learned} if learned else {}))


def step_sizes(params):
    """A learned-step model's step sizes, array by array: how many, how many negative, and
    their min, 5th percentile, median, 95th percentile and max."""
    theta, sizes = variants.split_steps(params)
    summary = []
    for i, ((W, b), (alpha_W, alpha_b)) in enumerate(zip(theta, sizes)):
        for name, weights, alpha in ((f"W{i}", W, alpha_W), (f"b{i}", b, alpha_b)):
            a = numpy.ravel(alpha)
            low, q05, median, q95, high = numpy.percentile(a, [0, 5, 50, 95, 100])
            summary.append(dict(array=name, shape=list(numpy.shape(weights)), n=int(a.size),
                                negative=int((a < 0).sum()), min=float(low), q05=float(q05),
                                median=float(median), q95=float(q95), max=float(high)))
    return summary


def step_size_table(data):
    """The learned step sizes of docs/variants.md, from variants.json's step_sizes."""
    lines = ["| method | array | step sizes | negative | min | 5% | median | 95% | max |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for method, arrays in data.get("step_sizes", {}).items():
        for a in arrays:
            shape = "×".join(map(str, a["shape"]))
            lines.append(f"| {data['methods'][method]['label']} | {a['array']} ({shape}) | "
                         f"{a['n']:,} | {a['negative']:,} | " + " | ".join(
                             f"{a[q]:.3g}" for q in ("min", "q05", "median", "q95", "max")) + " |")
    return "\n".join(lines)


def printed_table(data, protocol):
    """What the run prints: the training settings, then markdown_table's numbers in lines of
    at most 100 columns (one block per K, then the speeds)."""
    import textwrap
    rows = {(r["method"], r["k"], r["steps"]): r for r in data["results"]}
    speed = (data.get("speed") or {}).get("methods", {})
    base = speed.get("maml-1", {}).get("iterations_per_second")
    lines = textwrap.wrap(f"trained: {describe(protocol)}", 100, subsequent_indent="  ")
    for k in EVAL_K:
        lines.append(f"{f'query MSE, K = {k}':<30}" + "".join(
            f"{f'after {s} step' + 's' * (s > 1):<32}" for s in (1, EVAL_STEPS)).rstrip())
        for method, info in data["methods"].items():
            cells = []
            for s in (1, EVAL_STEPS):
                r = rows[method, k, s]
                cells.append("all diverged" if r["mse"] is None else
                             cli.mean_and_interval(r["mse"], r["ci95"] or 0.0) +
                             (f" ({r['diverged']} diverged)" if r.get("diverged") else ""))
            lines.append(f"{info['label'][:28]:<30}" + "".join(f"{c:<32}" for c in cells).rstrip())
    if speed:
        lines.append(f"{'speed':<30}{'vs MAML-1':<12}peak MB per iteration")
        for method, info in data["methods"].items():
            if method in speed:
                s = speed[method]
                ratio = f"{s['iterations_per_second'] / base:.2f}x" if base else "—"
                lines.append(f"{info['label'][:28]:<30}{ratio:<12}"
                             f"{s['peak_bytes_per_iteration'] / 1e6:.1f}")
    return "\n".join(lines)


def markdown_table(data):
    """The table of docs/variants.md, made from variants.json (test_readme.py checks they
    agree)."""
    rows = {(r["method"], r["k"], r["steps"]): r for r in data["results"]}
    speed = (data.get("speed") or {}).get("methods", {})
    base = speed.get("maml-1", {}).get("iterations_per_second")
    lines = ["| method | K=5, 1 step | K=5, 10 steps | K=10, 1 step | K=10, 10 steps "
             "| published, K=5, 1 step | speed vs MAML-1 | peak MB / it |",
             "|---|---|---|---|---|---|---:|---:|"]
    for method, info in data["methods"].items():
        cells = []
        for k in EVAL_K:
            for s in (1, EVAL_STEPS):
                r = rows[method, k, s]
                cells.append("all diverged" if r["mse"] is None else
                             cli.mean_and_interval(r["mse"], r["ci95"] or 0.0) +
                             (f" ({r['diverged']} div.)" if r.get("diverged") else ""))
        s = speed.get(method)
        ratio = f"{s['iterations_per_second'] / base:.2f}x" if s and base else "—"
        memory = f"{s['peak_bytes_per_iteration'] / 1e6:.1f}" if s else "—"
        lines.append(f"| {info['label']} | " + " | ".join(cells) +
                     f" | {PUBLISHED.get(method, ('—',))[0]} | {ratio} | {memory} |")
    return "\n".join(lines)


# --- checkpoints --------------------------------------------------------------------------------

def checkpoint_bytes(method, params, losses, protocol, args):
    """One method's checkpoint: its params and how they were trained."""
    history, block = cli.block_means(losses)
    return checkpoints.encode_models({None: params}, dict(
        method=method, label=LABELS[method], training=protocol,
        inner_steps=variants.METHODS[method][1], test_alpha=args.alpha, losses=history,
        loss_block=block))


def load_all(args):
    """{method: (params, losses)} from FOLDER/<method>.npz, and the protocol they share."""
    def layers_ok(method, sizes):
        expected = [3 if method == "oracle" else 1, *LAYERS[1:]]
        if variants.METHODS[method][0] == "meta-sgd":  # θ's pairs, then α's of θ's shapes
            expected += LAYERS[1:]
        elif variants.METHODS[method][0] == "per-layer-alpha":  # then α's, (1, 1) and (1,)
            expected += [1] * (len(LAYERS) - 1)
        return None if sizes == expected else f"{expected} for {method!r}"

    return cli.load_methods(args.load, args.methods, layers_ok, checkpoints.VARIANTS_TRAINING,
                            variants.implied_metadata)


# --- the command line ---------------------------------------------------------------------------

def parse_args(argv):
    """Parse and check the command line, paths included; raises cli.UsageError."""
    p = cli.OneLineParser(description="Train and compare the MAML family on one protocol.",
                          formatter_class=cli.HelpFormatter, allow_abbrev=False)
    p.add_argument("--methods", default=",".join(variants.METHODS),
                   help="comma-separated methods, some of: " + ", ".join(variants.METHODS))
    p.add_argument("--iterations", type=cli.ITERATIONS, default=None,
                   help="training iterations per method, 1 to 10,000,000 (default: 2,000, or "
                        "70,000 with --paper)")
    p.add_argument("--paper", action="store_true",
                   help="the paper's schedule: 70,000 iterations (flags you give still win)")
    p.add_argument("--alpha", type=cli.ALPHA, default=0.01,
                   help="inner step size α, train and test (the learned-step methods start at it)")
    p.add_argument("--k", type=cli.TASKS, default=10,
                   help="support (and query) points per training task, 1 to 100,000")
    p.add_argument("--meta-batch", type=cli.TASKS, default=25,
                   help="tasks per iteration, 1 to 100,000")
    p.add_argument("--meta-lr", type=cli.LEARNING_RATE, default=1e-3, help="Adam learning rate")
    p.add_argument("--meta-lr-decay", choices=("none", *maml.DECAYS), default="none",
                   help="none: the learning rate stays --meta-lr; cosine: it falls from --meta-lr "
                        "to 0 along half a cosine over the iterations")
    p.add_argument("--seed", type=cli.SEED, default=0, help="seed of weights and task streams")
    p.add_argument("--eval-tasks", type=cli.EVAL_TASKS, default=600,
                   help="held-out tasks, 2 to 100,000")
    p.add_argument("--validation", action="store_true",
                   help="evaluate on validation tasks (a stream of their own) instead of the "
                        "held-out ones: for choosing settings")
    p.add_argument("--speed-iterations", type=cli.whole(0, 1000), default=20,
                   help="iterations per speed measurement, up to 1,000; 0 skips the measurement")
    p.add_argument("--out", default="figures", help="folder for variants.json and variants.png")
    p.add_argument("--save", metavar="FOLDER", help="save each method's checkpoint there")
    p.add_argument("--force", action="store_true", help="let --save replace checkpoints")
    p.add_argument("--load", metavar="FOLDER",
                   help="evaluate saved checkpoints (FOLDER/<method>.npz) instead of training")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    cli.add_threads_flag(p)
    args = cli.parse(p, argv)
    if args.iterations is None:
        args.iterations = 70000 if args.paper else 2000
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in variants.METHODS]
    if unknown or not args.methods:
        raise cli.UsageError(f"--methods: unknown method "
                             f"{cli.shown(unknown[0] if unknown else '(none)', 30)} "
                             "(--help lists them)")
    if len(set(args.methods)) != len(args.methods):
        twice = next(m for m in args.methods if args.methods.count(m) > 1)
        raise cli.UsageError(f"--methods names {twice!r} twice")
    training_only = [f for f in ("--save", "--paper", "--iterations", "--k", "--meta-batch",
                                 "--meta-lr", "--meta-lr-decay") if f in cli.typed(argv)]
    if args.load is not None and training_only:  # the checkpoints say how they were trained
        raise cli.UsageError(f"--load evaluates saved checkpoints: drop {training_only[0]} (it "
                             "sets how to train)")
    args.replaceable = cli.check_out_and_save(args, ["variants.json", "variants.png"],
                                              [f"{m}.npz" for m in args.methods])
    if args.load is not None and not os.path.isdir(args.load):
        raise cli.UsageError(f"--load {args.load!r}: no such folder of checkpoints")
    steps = max(variants.METHODS[m][1] for m in args.methods)  # the evaluation's estimate too
    cli.check_fits("--methods", LAYERS, args.meta_batch, args.k, max(steps, 1),
                   args.iterations, args.eval_tasks, (max(EVAL_K), tasks.QUERY_POINTS))
    return args


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # loaded: no more interrupted_early
    cli.finish(main())
