"""The MAML paper's sinusoid experiment (Finn et al. 2017, section 5.1): MAML against the
pretrained baseline, with the paper's Figures 2 and 3 and the numbers behind them.

    .venv/bin/python demo_sinusoid.py                      # about a minute: figures/
    .venv/bin/python demo_sinusoid.py --load checkpoints/sinusoid.npz --out docs
                                                           # the committed results, no training
    .venv/bin/python demo_sinusoid.py --paper --save checkpoints/sinusoid.npz --force --out docs
                                                           # how those were made: 70,000 iterations

Both models start from the same weights and see the same stream of training tasks; both are
evaluated on the same held-out tasks, fine-tuned by the same gradient steps. Written to --out:
adaptation.png (Fig. 2), adaptation.gif, learning_curve.png (Fig. 3), what_maml_learned.png,
training.png, results.json (every MSE with its 95% interval, and the configuration).
Nothing is written until the whole run has succeeded; then all files are replaced as one set.
"""
import os
import sys

import threads

if __name__ == "__main__":
    threads.choose()  # BLAS threads: one unless --threads says otherwise, before numpy loads


def interrupted_early(signum=None, frame=None):
    """Ctrl-C while the libraries load: the same one line and exit status 130 as later on."""
    print("\n" * sys.stderr.isatty() + "demo_sinusoid.py: interrupted; no file was changed",
          file=sys.stderr)
    os._exit(130)


try:  # the libraries take about a second to load: a Ctrl-C meanwhile is the same one line
    import signal
    if __name__ == "__main__":  # imported (a notebook, a test), it leaves Ctrl-C alone
        signal.signal(signal.SIGINT, interrupted_early)

    import argparse
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

DEFAULTS = dict(iterations=10000, meta_batch=25, k=10, alpha=0.01, inner_steps=1, meta_lr=1e-3,
                seed=0, eval_tasks=600, out="figures")
PAPER = dict(iterations=70000, meta_batch=25, k=10, alpha=0.01, inner_steps=1)
LAYERS = (1, 40, 40, 1)
EVAL_K = (5, 10, 20)      # support points at test time
EVAL_STEPS = 10           # gradient steps at test time
NAMES = {"maml": "MAML", "pretrained": "pretrained"}
OUTPUTS = ("adaptation.png", "learning_curve.png", "what_maml_learned.png", "training.png",
           "adaptation.gif", "results.json")
# The paper's 5-shot MSE after 1 / 5 / 10 gradient steps: arXiv:1703.03400 v3, appendix C.1,
# Table 2 ("pretrain on all tasks" is the baseline row).
PAPER_K5 = {"maml": (0.67, 0.38, 0.35), "pretrained": (2.41, 2.23, 2.19)}


def main(argv=None):
    """The command line; exit status as cli.main's. Whatever the status, the files of --out
    and --save are the complete old set or the complete new one."""
    with cli.ctrl_c_raises():
        return cli.main("demo_sinusoid.py", parse_args, run, argv)


def run(args, state):
    """Train (or load), evaluate, render every output in memory, then commit them all:
    --save's checkpoint and the --out folder, every file staged before any is replaced."""
    if not args.quiet:
        cli.say(f"about {cli.duration(run_seconds(args))} of computing in all, on an idle core "
                "(longer while other programs keep the cores busy)")
    with cli.Phases(args.quiet) as phases:  # a line at least every few seconds, to stderr
        if args.load is not None:
            phases.start(f"reading {args.load}")
            models, config = load(args.load)
        else:
            phases.start("training", announce=False)  # train_both says it, then Progress
            models, config = train_both(args), config_of(args)
        phases.start(f"evaluating on {args.eval_tasks:,} held-out tasks, K = "
                     f"{', '.join(map(str, EVAL_K))}, {EVAL_STEPS} steps")
        results = evaluate_both(models, args)
        phases.start("drawing the figures and the animation")
        import matplotlib
        if not args.show:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        outputs = render(models, results, config, args)
        sets = {os.path.abspath(args.out): outputs}
        if args.save:
            folder, name = os.path.split(os.path.abspath(args.save))
            sets.setdefault(folder, {})[name] = checkpoint_bytes(models, config)
        phases.start("writing the results")
        cli.commit(sets, args.replaceable, state)
    print(table(results, config, args, committed_results(args, config)))
    print(f"\nwrote {len(outputs)} files to {args.out}/" +
          (f"\nwrote the models to {args.save}" if args.save else ""))
    if args.show:
        plt.show()


def run_seconds(args):
    """Roughly how long the run takes on one idle core: training (cli.iteration_seconds),
    then evaluation and the figures, CPU time measured on this project's 2-core machine
    (0.8 ms per held-out task, model and K; 6 s for the figures and the animation)."""
    training = 0 if args.load else args.iterations * (
        cli.iteration_seconds(LAYERS, args.meta_batch, args.k, args.inner_steps)
        + cli.iteration_seconds(LAYERS, args.meta_batch, 2 * args.k, 0))
    return training + 2 * len(EVAL_K) * args.eval_tasks * 0.0008 + 6


def train_both(args):
    """Meta-train MAML and pretrain the baseline from the same weights on the same task stream.
    Returns {model: (params, block-mean losses, block)}."""
    init_seed, train_seed = numpy.random.SeedSequence(args.seed).spawn(2)
    init = maml.init_mlp(LAYERS, numpy.random.default_rng(init_seed))
    fits = cli.check_fits("--meta-batch, --k and --inner-steps", LAYERS, args.meta_batch, args.k,
                          args.inner_steps, args.iterations)
    if not args.quiet:
        cli.say(f"training MAML and the pretrained baseline, {args.iterations:,} iterations each "
                f"({fits} for MAML)")
    maml_params, maml_losses = maml.meta_train(
        init, numpy.random.default_rng(train_seed), args.iterations, args.meta_batch, args.k,
        args.alpha, args.inner_steps, args.first_order, args.meta_lr,
        callback=cli.Progress("MAML      ", args.iterations, args.quiet))
    pretrained_params, pretrained_losses = maml.pretrain(
        init, numpy.random.default_rng(train_seed), args.iterations, args.meta_batch, args.k,
        args.meta_lr, callback=cli.Progress("pretrained", args.iterations, args.quiet))
    return {"maml": (maml_params, *cli.block_means(maml_losses)),
            "pretrained": (pretrained_params, *cli.block_means(pretrained_losses))}


def evaluate_both(models, args):
    """{(model, K): maml.Evaluation}: every model fine-tuned on the same held-out tasks for
    0..EVAL_STEPS gradient steps (tasks.held_out: the same waves for every K)."""
    def evaluate(model, k):
        cli.detail(f"{NAMES.get(model, model)}, K = {k}")
        return maml.evaluate(models[model][0], *tasks.held_out(args.seed, args.eval_tasks,
                                                               k)[:4],
                             alpha=args.alpha, max_steps=EVAL_STEPS)

    return {(model, k): evaluate(model, k) for k in EVAL_K for model in models}


def render(models, results, config, args):
    """Every output file, as {name: bytes}."""
    import matplotlib.pyplot as plt
    params = {model: m[0] for model, m in models.items()}
    names = {model: NAMES.get(model, model) for model in models}
    batches = {k: tasks.held_out(args.seed, args.eval_tasks, k) for k in (5, 10)}
    label = models_label(config, args.label)   # every figure says which models it shows
    made = {
        "adaptation.png": figures.adaptation(params, batches, args.alpha, names, label),
        "learning_curve.png": figures.label_models(figures.curves(
            results, names, EVAL_K, "gradient steps at test time",
            f"query MSE, {args.eval_tasks:,} held-out tasks (95% band)"), label),
        "what_maml_learned.png": figures.what_maml_learned(params, batches[5], args.alpha, names,
                                                           label=label),
        "training.png": figures.label_models(figures.training(
            {m: models[m][1] for m in models}, models[next(iter(models))][2],
            {m: ("MAML: query MSE after the inner step" if m == "maml" else
                 "pretrained: MSE on all points (no inner step)" if m == "pretrained" else
                 f"{m}: training loss") for m in models}), label)}
    outputs = {name: cli.png_bytes(fig) for name, fig in made.items()}
    for fig in made.values():
        plt.close(fig)
    outputs["adaptation.gif"] = figures.animation_gif(params, batches[5], args.alpha, names,
                                                      label=label)
    outputs["results.json"] = json.dumps(results_json(results, config, args), indent=1,
                                         allow_nan=False).encode()
    return {name: outputs[name] for name in OUTPUTS}


def models_label(config, label=None):
    """The line each figure carries: which models it shows (--label's words first, if given)."""
    trained = (f"models trained {config['iterations']:,} iterations, meta-batch "
               f"{config['meta_batch']}, K = {config['k']}, α = {config['alpha']:g}, "
               f"{config['inner_steps']} inner step{'s' * (config['inner_steps'] != 1)}, "
               f"seed {config['seed']}")
    return f"{label}: {trained}" if label else "M" + trained[1:]


def results_json(results, config, args):
    """Everything needed to read or redo the numbers."""
    return dict(
        paper="Finn, Abbeel & Levine 2017, arXiv:1703.03400, section 5.1",
        training=config,
        evaluation=dict(seed=args.seed, held_out_tasks=args.eval_tasks, k=list(EVAL_K),
                        alpha=args.alpha, query_points=tasks.QUERY_POINTS, steps=EVAL_STEPS,
                        interval="95%: mean ± 1.96·std/√tasks (sample std)",
                        diverged=f"a task whose query MSE is not finite or grew {maml.DIVERGED:g} "
                                 "times past its start is counted, and left out of mse, ci95 "
                                 "and median; plain_mean is over all tasks (null when infinite)"),
        results=[row for model in dict.fromkeys(m for m, _ in results) for k in EVAL_K
                 for row in cli.evaluation_rows(results[model, k], model=model, k=k)])


def table(results, config, args, committed=None):
    """The printed summary, under 100 columns: a settings line, then MSE ± 95% interval after
    0 / 1 / 5 / 10 steps per (model, K); beside it the committed 70,000-iteration result and the
    paper's, where there are ones."""
    shown = (0, 1, 5, 10)
    lines = [f"trained: {describe(config)}",
             f"evaluated: {args.eval_tasks:,} held-out tasks (seed {args.seed}), "
             f"{tasks.QUERY_POINTS} query points, α = {args.alpha:g}; query MSE ± 95% interval",
             f"{'':18}" + "".join(f"{f'{s} step' + 's' * (s != 1):>20}" for s in shown)]

    def row(label, cells):
        return f"{label:<18}" + "".join(f"{c:>20}" for c in cells)

    for (model, k), r in results.items():
        lines.append(row(f"{NAMES.get(model, model)} K={k}",
                         [cli.mean_and_interval(r.mean[s], r.ci95[s]) for s in shown]))
        if r.diverged[list(shown)].any():
            lines.append(row("  tasks diverged", [f"{r.diverged[s]:,}" for s in shown]))
        if committed and (model, k, 1) in committed:
            lines.append(row(f"  committed {committed['training']['iterations'] // 1000:,}k",
                             [committed[model, k, s] for s in shown]))
        if k == 5 and model in PAPER_K5:
            lines.append(row("  paper (Table 2)", ["—", *(f"{v:.2f}" for v in PAPER_K5[model])]))
    if any(r.diverged.any() for r in results.values()):
        lines.append("(a task whose fine-tuning diverged is counted and left out of the mean)")
    if committed:
        done = committed["training"]
        differ = [key for key in config if key != "iterations" and config[key] != done.get(key)]
        lines.append(f"(committed {done['iterations'] // 1000:,}k: the models of "
                     f"checkpoints/sinusoid.npz, trained {done['iterations']:,} iterations,")
        lines.append(" evaluated on these same tasks: docs/results.json.")
        if not differ and config["iterations"] < done["iterations"]:
            lines.append(f" This run: {config['iterations']:,} iterations, all else the same: "
                         "fewer iterations are the whole difference.")
            lines.append(" --paper trains as they were; --load checkpoints/sinusoid.npz shows "
                         "them.)")
        else:
            lines.append(f" This run: {config['iterations']:,} iterations, and it differs in "
                         f"{', '.join(differ) or 'nothing else'}.)")
    return "\n".join(lines)


def describe(config):
    """One line of training settings."""
    steps = config["inner_steps"]
    return (f"{config['iterations']:,} iterations, meta-batch {config['meta_batch']}, "
            f"K = {config['k']}, α = {config['alpha']:g}, {steps} "
            f"{'first-order' if config['first_order'] else 'exact'} inner step"
            f"{'s' * (steps != 1)}, β = {config['meta_lr']:g}, seed {config['seed']},\n"
            f"         network {'-'.join(map(str, config['layers']))}")


def committed_results(args, config):
    """{(model, K, steps): 'MSE', 'training': its training settings} of the committed
    docs/results.json, if it was evaluated on the same held-out tasks as this run but trained
    otherwise: so that a short run is read beside the 70,000-iteration one. Else None."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "docs",
                               "results.json"), encoding="utf-8") as f:
            report = json.load(f)
        evaluation = report["evaluation"]
        if (evaluation["seed"], evaluation["held_out_tasks"], evaluation["alpha"]) != (
                args.seed, args.eval_tasks, args.alpha) or report["training"] == config:
            return None
        cells = {(r["model"], r["k"], r["steps"]): f"{r['mse']:.2f}" for r in report["results"]}
        return dict(cells, training=dict(report["training"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- checkpoints --------------------------------------------------------------------------------

def config_of(args):
    """The settings that produced the models, as stored in checkpoints and results.json."""
    return dict(iterations=args.iterations, meta_batch=args.meta_batch, k=args.k, alpha=args.alpha,
                inner_steps=args.inner_steps, first_order=args.first_order,
                meta_lr=args.meta_lr, seed=args.seed, layers=list(LAYERS))


def checkpoint_bytes(models, config):
    """Every model in one .npz file (one file cannot hold a mixed pair), with the training
    configuration and each model's loss history (block means)."""
    block = models[next(iter(models))][2]
    return checkpoints.encode_models({m: models[m][0] for m in models}, dict(
        config=config, loss_block=block, losses={m: models[m][1] for m in models}))


def load(path):
    """The models of a checkpoint a demo wrote (checkpoints.load_trained) -> ({model: (params,
    losses, block)}, config), each checked to be a sinusoid regressor (one input, one output).
    Raises UsageError, in one line, for a missing, corrupt or foreign file."""
    try:
        models, config = checkpoints.load_trained(path, variants.implied_metadata)
        learned = sorted({"meta-sgd", "per-layer-alpha"} & set(models))
        if learned:  # θ's (W, b) pairs then α's: they chain like layers, but are not
            raise ValueError(f"it holds {learned[0]}'s weights and learned step sizes: "
                             "evaluate it with demo_variants.py")
        if config["layers"][0] != 1 or config["layers"][-1] != 1:
            raise ValueError(f"its models have layers {config['layers']}: not sinusoid "
                             "regressors (one input, one output)")
        return models, config
    except FileNotFoundError as e:
        raise cli.UsageError(f"--load: {e}") from None
    except ValueError as e:
        raise cli.refused_checkpoint(path, e) from None


# --- the command line ---------------------------------------------------------------------------

TRAINING_FLAGS = ("iterations", "meta_batch", "k", "inner_steps", "first_order", "meta_lr",
                  "paper", "save", "force")


def make_parser(defaults):
    """The command line's parser; with defaults None, only the flags typed are parsed (so
    that --load can refuse training flags, and --paper's defaults yield to flags given)."""
    p = cli.OneLineParser(description="Meta-train MAML and the pretrained baseline on sinusoid "
                          "tasks and reproduce the paper's figures. Nothing is written until the "
                          "whole run has succeeded; then the figures, results.json and the "
                          "checkpoint are replaced as one set.",
                          formatter_class=cli.HelpFormatter, allow_abbrev=False,
                          argument_default=argparse.SUPPRESS)
    p.set_defaults(**(defaults or {}))
    p.add_argument("--iterations", type=cli.ITERATIONS,
                   help="meta-training iterations (the baseline gets as many), 1 to 10,000,000")
    p.add_argument("--meta-batch", type=cli.TASKS, help="tasks per iteration, 1 to 100,000")
    p.add_argument("--k", type=cli.TASKS,
                   help="support (and query) points per training task, 1 to 100,000")
    p.add_argument("--alpha", type=cli.ALPHA, help="inner step size α, in training and at test time")
    p.add_argument("--inner-steps", type=cli.STEPS,
                   help="inner gradient steps in meta-training, 1 to 1,000")
    p.add_argument("--first-order", action="store_true",
                   help="first-order MAML instead of exact (second-order) MAML")
    p.add_argument("--meta-lr", type=cli.LEARNING_RATE, help="Adam learning rate β")
    p.add_argument("--seed", type=cli.SEED, help="seed of the weights, the training tasks and "
                   "the held-out tasks")
    p.add_argument("--eval-tasks", type=cli.EVAL_TASKS,
                   help="held-out tasks for each K (5, 10 and 20 points), 2 to 100,000")
    p.add_argument("--out", help="folder for the figures and results.json (created if missing)")
    p.add_argument("--save", metavar="PATH.npz", help="also save both models to this file")
    p.add_argument("--force", action="store_true", help="let --save replace an existing file")
    p.add_argument("--load", metavar="PATH.npz",
                   help="evaluate the models of a checkpoint instead of training "
                        "(e.g. checkpoints/sinusoid.npz)")
    p.add_argument("--paper", action="store_true",
                   help="the paper's schedule: 70,000 iterations, meta-batch 25, K = 10, "
                        "α = 0.01, one inner step (flags you give still win)")
    p.add_argument("--label", help="words saying which models these are, shown with their "
                   "training settings in a corner of every figure (e.g. 'the best configuration')")
    p.add_argument("--show", action="store_true", help="also show the figures in a window")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    cli.add_threads_flag(p)
    return p


def parse_args(argv):
    """Parse and check the command line, paths included; raises cli.UsageError. Memory
    needs are estimated here too, so a run that cannot fit is refused before it starts."""
    defaults = dict(DEFAULTS, first_order=False, save=None, force=False, load=None, paper=False,
                    show=False, quiet=False, label=None)
    args = cli.parse(make_parser(defaults), argv)          # --help shows these defaults
    given = vars(cli.parse(make_parser(None), argv))       # only the flags typed
    if args.paper:
        args = cli.parse(make_parser(dict(defaults, **PAPER)), argv)
    if args.load is not None:
        training = [f for f in TRAINING_FLAGS if f in given]
        if training:
            flag = "--" + training[0].replace("_", "-")
            raise cli.UsageError(f"{flag} is a training setting, but --load evaluates saved "
                                 f"models without training: drop {flag} or --load")
        if not args.load:
            raise cli.UsageError("--load must name a checkpoint file, got ''")
    args.replaceable = cli.check_out_and_save(args, OUTPUTS)
    cli.check_fits("--meta-batch, --k and --inner-steps", LAYERS, args.meta_batch, args.k,
                   args.inner_steps, args.iterations, args.eval_tasks, (max(EVAL_K),
                                                                         tasks.QUERY_POINTS))
    return args


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # loaded: no more interrupted_early
    cli.finish(main())
