"""The MAML paper's sinusoid experiment (Finn et al. 2017, section 5.1): MAML against the
pretrained baseline, with the paper's Figures 2 and 3 and the numbers behind them.

    python demo_sinusoid.py                                  # about a minute: figures/
    python demo_sinusoid.py --paper --save checkpoints/sinusoid.npz --out docs
                                                             # the paper's 70,000 iterations
    python demo_sinusoid.py --load checkpoints/sinusoid.npz --out docs
                                                             # the committed results, no training

Both models start from the same weights and see the same stream of training tasks; both are
evaluated on the same held-out tasks (a seed of their own), fine-tuned by the same gradient
steps. Written to --out: adaptation.png (Fig. 2), learning_curve.png (Fig. 3), training.png,
results.json (every MSE with its 95% interval, and the configuration that produced it).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy

import maml
import tasks

DEFAULTS = dict(iterations=10000, meta_batch=25, k=10, alpha=0.01, inner_steps=1, meta_lr=1e-3,
                seed=0, eval_tasks=600, out="figures")
PAPER = dict(iterations=70000, meta_batch=25, k=10, alpha=0.01, inner_steps=1)
EVAL_K = (5, 10, 20)      # support points at test time
EVAL_STEPS = 10           # gradient steps at test time
QUERY_POINTS = 100        # query points per held-out task
LAYERS = (1, 40, 40, 1)
MODELS = ("maml", "pretrained")


class UsageError(Exception):
    """A bad argument or input file: reported in one line, exit status 2."""


# --- command line --------------------------------------------------------------------------------

class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) and exit status 2."""

    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    """Parse and check the command line; raises UsageError for a bad value."""
    p = OneLineParser(description="Meta-train MAML and the pretrained baseline on sinusoid tasks "
                      "and reproduce the paper's figures.",
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--iterations", type=int, default=DEFAULTS["iterations"],
                   help="meta-training iterations (the baseline gets as many)")
    p.add_argument("--meta-batch", type=int, default=DEFAULTS["meta_batch"], help="tasks per iteration")
    p.add_argument("--k", type=int, default=DEFAULTS["k"],
                   help="support (and query) points per training task")
    p.add_argument("--alpha", type=float, default=DEFAULTS["alpha"], help="inner step size α")
    p.add_argument("--inner-steps", type=int, default=DEFAULTS["inner_steps"],
                   help="inner gradient steps during meta-training")
    p.add_argument("--first-order", action="store_true", help="first-order MAML (default: exact)")
    p.add_argument("--meta-lr", type=float, default=DEFAULTS["meta_lr"], help="Adam learning rate β")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                   help="seed for weights, training tasks and held-out tasks")
    p.add_argument("--eval-tasks", type=int, default=DEFAULTS["eval_tasks"],
                   help="held-out tasks for each K in 5, 10, 20")
    p.add_argument("--out", default=DEFAULTS["out"], help="folder for figures and results.json")
    p.add_argument("--save", metavar="PATH",
                   help="save both models: PATH=dir/name.npz writes dir/maml_name.npz and "
                        "dir/pretrained_name.npz")
    p.add_argument("--load", metavar="PATH",
                   help="load both models saved with --save PATH instead of training")
    p.add_argument("--paper", action="store_true",
                   help="the paper's schedule as the defaults: 70,000 iterations, meta-batch 25, "
                        "K = 10, α = 0.01, one inner step (flags you give still win)")
    p.add_argument("--show", action="store_true", help="also show the figures in a window")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    argv = sys.argv[1:] if argv is None else argv
    if "--paper" in argv:
        p.set_defaults(**PAPER)
    args = p.parse_args(argv)
    for name, low in [("iterations", 1), ("meta_batch", 1), ("k", 1), ("inner_steps", 1),
                      ("eval_tasks", 2), ("seed", 0)]:
        if getattr(args, name) < low:
            raise UsageError(f"--{name.replace('_', '-')} must be >= {low}, "
                             f"got {getattr(args, name)}")
    if not (math.isfinite(args.alpha) and args.alpha >= 0):
        raise UsageError(f"--alpha must be a finite number >= 0, got {args.alpha}")
    if not (math.isfinite(args.meta_lr) and args.meta_lr > 0):
        raise UsageError(f"--meta-lr must be a finite number > 0, got {args.meta_lr}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} is a file, expected a folder")
    if args.save and args.load:
        raise UsageError("--save goes with training, --load replaces it: give one of them")
    if args.save and not os.path.isdir(os.path.dirname(os.path.abspath(args.save))):
        raise UsageError(f"--save {args.save!r}: the folder "
                         f"{os.path.dirname(os.path.abspath(args.save))!r} does not exist")
    return args


def checkpoint_paths(path):
    """PATH=dir/name.npz -> {'maml': dir/maml_name.npz, 'pretrained': dir/pretrained_name.npz}."""
    folder, name = os.path.split(path)
    return {model: os.path.join(folder, f"{model}_{name}") for model in MODELS}


# --- training and evaluation ----------------------------------------------------------------------

class Progress:
    """Iteration, loss, iterations/s and time left, to stderr: one line updated in place on a
    terminal (4 times a second), a new line every 10% elsewhere (a log file, CI)."""

    def __init__(self, label, total, quiet):
        self.label, self.total, self.quiet = label, total, quiet
        self.tty = sys.stderr.isatty()
        self.start = self.last = time.perf_counter()

    def __call__(self, i, loss, params):
        done, now = i + 1, time.perf_counter()
        due = (now - self.last >= 0.25 if self.tty
               else done * 10 // self.total > i * 10 // self.total)
        if self.quiet or not (due or done == self.total):
            return
        self.last = now
        rate = done / (now - self.start)
        line = (f"{self.label}: iteration {done}/{self.total}  loss {loss:7.3f}  "
                f"{rate:5.0f} it/s  ETA {(self.total - done) / rate:4.0f} s")
        end = "\n" if done == self.total or not self.tty else ""
        print(("\r" if self.tty else "") + line, end=end, file=sys.stderr, flush=True)


def train_both(args):
    """Meta-train MAML and pretrain the baseline from the same weights on the same task stream.
    Returns {model: (params, losses)}."""
    init_seed, train_seed = numpy.random.SeedSequence(args.seed).spawn(2)
    init = maml.init_mlp(LAYERS, numpy.random.default_rng(init_seed))
    return {
        "maml": maml.meta_train(
            init, numpy.random.default_rng(train_seed), args.iterations, args.meta_batch, args.k,
            args.alpha, args.inner_steps, args.first_order, args.meta_lr,
            callback=Progress("MAML      ", args.iterations, args.quiet)),
        "pretrained": maml.pretrain(
            init, numpy.random.default_rng(train_seed), args.iterations, args.meta_batch, args.k,
            args.meta_lr, callback=Progress("pretrained", args.iterations, args.quiet)),
    }


def held_out_tasks(seed, n_tasks, k):
    """The held-out tasks for one K: the same waves for every K (tasks draws waves first),
    from a seed kept apart from training's."""
    return tasks.sample_batch(n_tasks, k, QUERY_POINTS,
                              numpy.random.default_rng([seed, 2017]))


def evaluate_both(models, args):
    """{(model, K): maml.Evaluation} on the held-out tasks, 0..EVAL_STEPS gradient steps."""
    results = {}
    for k in EVAL_K:
        batch = held_out_tasks(args.seed, args.eval_tasks, k)
        for model in MODELS:
            results[model, k] = maml.evaluate(models[model][0], *batch[:4], alpha=args.alpha,
                                              max_steps=EVAL_STEPS)
    return results


def block_means(losses, n_blocks=1000):
    """Shrink a long loss history to at most n_blocks block means (for plots and checkpoints)."""
    losses = numpy.asarray(losses, dtype=float)
    block = max(1, math.ceil(len(losses) / n_blocks))
    usable = len(losses) // block * block
    means = losses[:usable].reshape(-1, block).mean(axis=1) if usable else losses[:0]
    return means.tolist(), block


# --- saving: every file written atomically (maml.write_atomically) ------------------------------

def config_of(args):
    """The settings that produced a model, as stored in checkpoints and results.json."""
    return dict(iterations=args.iterations, meta_batch=args.meta_batch, k=args.k, alpha=args.alpha,
                inner_steps=args.inner_steps, first_order=args.first_order,
                meta_lr=args.meta_lr, seed=args.seed, layers=list(LAYERS))


def save_models(path, models, block, args):
    """Both models, each with its configuration and its loss history (means of `block`
    iterations), as {model: (params, history)}."""
    for model, file in checkpoint_paths(path).items():
        params, history = models[model]
        maml.save_params(file, params, model=model, config=config_of(args),
                         losses=history, loss_block=block)


def load_models(path):
    """Both models saved by save_models -> ({model: (params, block-mean losses)}, config, block)."""
    models, config, block = {}, None, 1
    for model, file in checkpoint_paths(path).items():
        try:
            params, metadata = maml.load_params(file)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(f"--load {path!r}: {e}") from None
        shapes = tuple([params[0][0].shape[0]] + [W.shape[1] for W, _ in params])
        if metadata.get("model") != model or shapes[0] != 1 or shapes[-1] != 1:
            raise UsageError(f"--load {path!r}: {file!r} is not a {model} sinusoid model "
                             f"(layers {shapes}, model {metadata.get('model')!r})")
        models[model] = (params, metadata.get("losses", []))
        config, block = metadata.get("config", {}), metadata.get("loss_block", 1)
    return models, config, block


def results_table(results):
    """Markdown: one row per (model, K), one column per number of gradient steps."""
    head = "| model | K | " + " | ".join(f"{s} step{'s' * (s != 1)}" for s in range(EVAL_STEPS + 1))
    lines = [head + " |", "|---|---|" + "---:|" * (EVAL_STEPS + 1)]
    for model in MODELS:
        for k in EVAL_K:
            r = results[model, k]
            cells = " | ".join(f"{m:.3f} ± {c:.3f}" for m, c in zip(r.mse, r.ci95))
            lines.append(f"| {model} | {k} | {cells} |")
    return "\n".join(lines)


def results_json(results, config, args):
    """Everything needed to read or redo the numbers."""
    return dict(
        paper="Finn, Abbeel & Levine 2017, arXiv:1703.03400, section 5.1",
        training=config,
        evaluation=dict(seed=args.seed, held_out_tasks=args.eval_tasks, k=list(EVAL_K),
                        alpha=args.alpha, query_points=QUERY_POINTS, steps=EVAL_STEPS,
                        interval="95%: mean ± 1.96·std/√tasks (sample std)"),
        results=[dict(model=model, k=k, steps=s, mse=float(results[model, k].mse[s]),
                      ci95=float(results[model, k].ci95[s]))
                 for model in MODELS for k in EVAL_K for s in range(EVAL_STEPS + 1)])


# --- figures --------------------------------------------------------------------------------------

def plot_adaptation(models, args, n_tasks=3):
    """The paper's Fig. 2: held-out tasks at K = 5 and 10; truth, support points, prediction
    before and after 1 and 10 gradient steps; MAML and pretrained side by side."""
    import matplotlib.pyplot as plt
    n_tasks = min(n_tasks, args.eval_tasks)
    fig, axes = plt.subplots(n_tasks, 4, figsize=(16, 3.2 * n_tasks), sharex=True, squeeze=False)
    x = numpy.linspace(-5, 5, 200)[:, None]
    for col, (k, model) in enumerate([(k, m) for k in (5, 10) for m in MODELS]):
        batch = held_out_tasks(args.seed, args.eval_tasks, k)
        for row in range(n_tasks):
            ax = axes[row, col]
            xs, ys = batch.x_support[row], batch.y_support[row]
            ax.plot(x, tasks.sinusoid(x, batch.amplitude[row], batch.phase[row]), "r-", lw=2,
                    label="true function")
            ax.plot(xs, ys, "k^", ms=8, label="the K support points")
            params = models[model][0]
            for steps, style in [(0, ":"), (1, "--"), (10, "-")]:
                adapted = maml.adapt(params, xs, ys, alpha=args.alpha, steps=steps)
                label = ("before adaptation" if steps == 0 else
                         f"after {steps} gradient step{'s' * (steps > 1)}")
                ax.plot(x, maml.mlp(adapted, x), "g" + style, label=label)
            ax.set_ylim(-6, 6)
            if row == 0:
                ax.set_title(f"{'MAML' if model == 'maml' else 'pretrained'}, K = {k}")
            if row == n_tasks - 1:
                ax.set_xlabel("x")
            if col == 0:
                ax.set_ylabel("y")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=5)
    fig.suptitle(f"Adapting to held-out sine waves (α = {args.alpha})")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_learning_curve(results):
    """The paper's Fig. 3: query MSE against test-time gradient steps, with 95% bands."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(EVAL_K), figsize=(5 * len(EVAL_K), 4), sharey=True)
    steps = numpy.arange(EVAL_STEPS + 1)
    for ax, k in zip(axes, EVAL_K):
        for model, color in zip(MODELS, ("C0", "C1")):
            r = results[model, k]
            ax.plot(steps, r.mse, "o-", color=color,
                    label="MAML" if model == "maml" else "pretrained")
            ax.fill_between(steps, r.mse - r.ci95, r.mse + r.ci95, color=color, alpha=0.25)
        ax.set_title(f"K = {k}")
        ax.set_xlabel("gradient steps at test time")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("mean squared error (95% interval)")
    axes[0].legend()
    fig.tight_layout()
    return fig


def plot_training(models, block):
    """Meta-training (query loss after adaptation) and pretraining loss over iterations."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for model, label in zip(MODELS, ("MAML: query loss after adaptation", "pretrained: loss")):
        history, more = block_means(models[model][1], n_blocks=200)
        ax.plot((numpy.arange(len(history)) + 1) * block * more, history, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training MSE (block means)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


# --- main -----------------------------------------------------------------------------------------

def main(argv=None):
    """Train (or load), evaluate, write the figures and results. Returns the exit status."""
    try:
        args = parse_args(argv)
        import matplotlib
        if not args.show:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        if args.load:
            models, config, block = load_models(args.load)
        else:
            trained = train_both(args)
            models, config = {}, config_of(args)
            for model, (params, losses) in trained.items():
                history, block = block_means(losses)
                models[model] = (params, history)
            if args.save:
                save_models(args.save, models, block, args)
        results = evaluate_both(models, args)
    except UsageError as e:
        print(f"demo_sinusoid.py: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # training or fine-tuning diverged: no figures, no results
        print(f"demo_sinusoid.py: error: {e}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    figures = {"adaptation.png": plot_adaptation(models, args),
               "learning_curve.png": plot_learning_curve(results),
               "training.png": plot_training(models, block)}
    for name, fig in figures.items():
        maml.write_atomically(os.path.join(args.out, name),
                              lambda f: fig.savefig(f, format="png", dpi=100))
        if not args.show:
            plt.close(fig)
    report = json.dumps(results_json(results, config, args), indent=1)
    maml.write_atomically(os.path.join(args.out, "results.json"), lambda f: f.write(report.encode()))
    print(results_table(results))
    print(f"\nwrote {', '.join(list(figures) + ['results.json'])} to {args.out}/")
    if args.show:
        plt.show()
    return 0


if __name__ == "__main__":
    sys.exit(main())
