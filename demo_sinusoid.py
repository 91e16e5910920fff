"""The MAML paper's sinusoid experiment (Finn et al. 2017, section 5.1): MAML against the
pretrained baseline, with the paper's Figures 2 and 3 and the numbers behind them.

    .venv/bin/python demo_sinusoid.py                      # about a minute: figures/
    .venv/bin/python demo_sinusoid.py --load checkpoints/sinusoid.npz --out docs
                                                           # the committed results, no training
    .venv/bin/python demo_sinusoid.py --paper --save checkpoints/sinusoid.npz --force --out docs
                                                           # how those were made: 70,000 iterations

Both models start from the same weights and see the same stream of training tasks; both are
evaluated on the same held-out tasks (a seed of their own), fine-tuned by the same gradient
steps. Written to --out: adaptation.png (Fig. 2), adaptation.gif, learning_curve.png (Fig. 3),
what_maml_learned.png, training.png, results.json (every MSE with its 95% interval, and the
configuration that produced it).

The run has three phases (main): check every flag and path, then compute everything in memory
(training, evaluation, figures), then commit the files as one set (files.commit), so that a
failed, interrupted or mistyped run changes nothing.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy

import checkpoints
import files
import maml
import tasks

HERE = os.path.dirname(os.path.abspath(__file__))

DEFAULTS = dict(iterations=10000, meta_batch=25, k=10, alpha=0.01, inner_steps=1, meta_lr=1e-3,
                seed=0, eval_tasks=600, out="figures")
PAPER = dict(iterations=70000, meta_batch=25, k=10, alpha=0.01, inner_steps=1)
LIMITS = dict(iterations=(1, 1_000_000), meta_batch=(1, 1000), k=(1, 1000), inner_steps=(1, 20),
              eval_tasks=(2, 10_000), seed=(0, 2**63 - 1))  # sane bounds, stated in --help
TRAINING_FLAGS = ("iterations", "meta_batch", "k", "inner_steps", "first_order", "meta_lr",
                  "paper", "save", "force")
EVAL_K = (5, 10, 20)      # support points at test time
EVAL_STEPS = 10           # gradient steps at test time
QUERY_POINTS = 100        # query points per held-out task
LAYERS = (1, 40, 40, 1)
MODELS = ("maml", "pretrained")
# The paper's 5-shot MSE after 1 / 5 / 10 gradient steps: arXiv:1703.03400 v3, appendix C.1,
# Table 2 ("pretrain on all tasks" is the baseline row).
PAPER_K5 = {"maml": (0.67, 0.38, 0.35), "pretrained": (2.41, 2.23, 2.19)}


class UsageError(Exception):
    """A bad argument or input file: reported in one line, exit status 2."""


# --- command line: every flag and path is checked here, before any work -------------------------

class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) and exit status 2."""

    def error(self, message):
        raise UsageError(message)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, but not the meaningless '(default: False)' of on/off flags."""

    def _get_help_string(self, action):
        if action.const is True or action.default in (None, argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def make_parser(defaults):
    """The command line's parser; with defaults=None, only the flags typed end up in the
    parsed namespace (parse_args uses that to refuse training flags given with --load)."""
    p = OneLineParser(description="Meta-train MAML and the pretrained baseline on sinusoid tasks "
                      "and reproduce the paper's figures. Nothing is written until the whole run "
                      "has succeeded; then the figures, results.json and the checkpoint are "
                      "replaced as one set.",
                      formatter_class=HelpFormatter, allow_abbrev=False,
                      argument_default=argparse.SUPPRESS)
    if defaults:
        p.set_defaults(**defaults)

    def bounded(name, text):
        low, high = LIMITS[name]
        return f"{text}, {low:,} to {high:,}"

    p.add_argument("--iterations", type=int,
                   help=bounded("iterations", "meta-training iterations (the baseline gets as many)"))
    p.add_argument("--meta-batch", type=int,
                   help=bounded("meta_batch", "tasks per iteration"))
    p.add_argument("--k", type=int,
                   help=bounded("k", "support (and query) points per training task"))
    p.add_argument("--alpha", type=float,
                   help="inner step size α, in training and at test time")
    p.add_argument("--inner-steps", type=int,
                   help=bounded("inner_steps", "inner gradient steps during meta-training"))
    p.add_argument("--first-order", action="store_true",
                   help="first-order MAML instead of exact (second-order) MAML")
    p.add_argument("--meta-lr", type=float, help="Adam learning rate β")
    p.add_argument("--seed", type=int,
                   help=bounded("seed", "seed for weights, training tasks and held-out tasks"))
    p.add_argument("--eval-tasks", type=int,
                   help=bounded("eval_tasks", "held-out tasks for each K in 5, 10, 20"))
    p.add_argument("--out",
                   help="folder for the figures and results.json (created if missing)")
    p.add_argument("--save", metavar="PATH.npz",
                   help="also save both models to this one checkpoint file")
    p.add_argument("--force", action="store_true",
                   help="let --save replace an existing checkpoint")
    p.add_argument("--load", metavar="PATH.npz",
                   help="evaluate the two models of a checkpoint instead of training "
                        "(e.g. checkpoints/sinusoid.npz)")
    p.add_argument("--paper", action="store_true",
                   help="the paper's schedule as the defaults: 70,000 iterations, meta-batch 25, "
                        "K = 10, α = 0.01, one inner step (flags you give still win)")
    p.add_argument("--show", action="store_true",
                   help="also show the figures in a window")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def parse_args(argv):
    """Parse and check the command line, paths included; raises UsageError for a bad value."""
    argv = sys.argv[1:] if argv is None else list(argv)
    defaults = dict(DEFAULTS, first_order=False, save=None, force=False, load=None, paper=False,
                    show=False, quiet=False)
    if "--paper" in argv:
        defaults.update(PAPER)
    args = make_parser(defaults).parse_args(argv)
    given = vars(make_parser(None).parse_args(argv))   # only the flags typed
    check_numbers(args, LIMITS)
    if args.load is not None:
        if not args.load:
            raise UsageError("--load must name a checkpoint file, got ''")
        training = [f for f in TRAINING_FLAGS if f in given]
        if training:
            flag = "--" + training[0].replace("_", "-")
            raise UsageError(f"{flag} is a training setting, but --load evaluates saved models "
                             f"without training: drop {flag} or --load")
    check_out_folder(args.out)
    if args.save is not None:
        check_save_path(args.save, args.force)
    if args.force and args.save is None:
        raise UsageError("--force only lets --save replace a checkpoint; no --save given")
    return args


def check_numbers(args, limits):
    """Each count within its (low, high) of `limits`, α finite and >= 0, β finite and > 0;
    a UsageError naming the flag otherwise."""
    for name, (low, high) in limits.items():
        value = getattr(args, name)
        if not low <= value <= high:
            raise UsageError(f"--{name.replace('_', '-')} must be from {low:,} to {high:,}, "
                             f"got {value}")
    if not (math.isfinite(args.alpha) and args.alpha >= 0):
        raise UsageError(f"--alpha must be a finite number >= 0, got {args.alpha}")
    if not (math.isfinite(args.meta_lr) and args.meta_lr > 0):
        raise UsageError(f"--meta-lr must be a finite number > 0, got {args.meta_lr}")


def nearest_existing(path):
    """The path itself or its nearest existing ancestor folder."""
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def check_writable_folder(flag, value, folder):
    """Is `folder` (existing) a folder we can create files in? Tried for real: permission
    bits say nothing for root, nor for read-only or virtual file systems like /proc."""
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {value!r}: {folder!r} is not a folder")
    try:
        probe = tempfile.mkdtemp(dir=folder, prefix=files.STAGING_PREFIX + "probe-")
        os.rmdir(probe)
    except OSError as e:
        raise UsageError(f"{flag} {value!r}: cannot write in {folder!r} ({e.strerror})") from None


def check_out_folder(out):
    """--out: a folder (existing or creatable) that files can be written in."""
    if not out:
        raise UsageError("--out must name a folder, got ''")
    if os.path.islink(out) and not os.path.exists(out):
        raise UsageError(f"--out {out!r} is a broken symbolic link")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out!r} is a file, expected a folder")
    check_writable_folder("--out", out, nearest_existing(out))


def check_save_path(save, force):
    """--save: an .npz file name in an existing, writable folder; not an existing file
    unless force."""
    if not save:
        raise UsageError("--save must name a .npz file, got ''")
    if os.path.isdir(save) or not save.endswith(".npz"):
        raise UsageError(f"--save {save!r}: expected a file name ending in .npz")
    if os.path.islink(save) and not os.path.exists(save):
        raise UsageError(f"--save {save!r} is a broken symbolic link")
    folder = os.path.dirname(os.path.abspath(save))
    if not os.path.isdir(folder):
        raise UsageError(f"--save {save!r}: the folder {folder!r} does not exist")
    check_writable_folder("--save", save, folder)
    if os.path.exists(save) and not force:
        raise UsageError(f"--save {save!r} exists: add --force to replace it")


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


# --- checkpoints and results ------------------------------------------------------------------

def config_of(args):
    """The settings that produced a model, as stored in checkpoints and results.json."""
    return dict(iterations=args.iterations, meta_batch=args.meta_batch, k=args.k, alpha=args.alpha,
                inner_steps=args.inner_steps, first_order=args.first_order,
                meta_lr=args.meta_lr, seed=args.seed, layers=list(LAYERS))


CONFIG_KINDS = dict(iterations="count", meta_batch="count", k="count", alpha="number",
                    inner_steps="count", first_order="flag", meta_lr="number", seed="count")


def checkpoint_bytes(models, config, block):
    """Both models in one .npz file (one file cannot hold a mixed pair), with the training
    configuration and each model's loss history (means of `block` iterations)."""
    return checkpoints.encode_models({m: models[m][0] for m in MODELS},
                               dict(config=config, loss_block=block,
                                    losses={m: models[m][1] for m in MODELS}))


def load_models(path):
    """The two models of a checkpoint -> ({model: (params, block-mean losses)}, config, block).
    Raises UsageError, in one line, for a missing, corrupt or foreign file."""
    if not path:
        raise UsageError("--load must name a checkpoint file, got ''")
    try:
        saved, metadata = checkpoints.load_models(path)
        missing = [m for m in MODELS if m not in saved]
        if missing:
            raise ValueError(f"it holds no {' or '.join(missing)} model (it holds "
                             f"{', '.join(repr(m) for m in saved)}); expected a file written "
                             "by --save")
        config = metadata.get("config")
        if not isinstance(config, dict):
            raise ValueError("its metadata has no training configuration")
        for key, kind in CONFIG_KINDS.items():
            checkpoints.expect(config.get(key), kind, f"config {key}")
        block = checkpoints.expect(metadata.get("loss_block"), "count", "loss_block")
        losses = metadata.get("losses")
        if not isinstance(losses, dict):
            raise ValueError("its metadata has no loss histories")
        models = {}
        for model in MODELS:
            sizes = [saved[model][0][0].shape[0]] + [W.shape[1] for W, _ in saved[model]]
            if sizes[0] != 1 or sizes[-1] != 1:
                raise ValueError(f"its {model} model has layers {sizes}: not a sinusoid "
                                 "regressor (one input, one output)")
            models[model] = (saved[model], checkpoints.expect(losses.get(model), "numbers",
                                                        f"losses of {model}"))
    except FileNotFoundError as e:
        raise UsageError(f"--load: {e}") from None
    except ValueError as e:
        raise UsageError(f"--load {path!r}: {e}") from None
    return models, config, max(block, 1)


def cell(mse, ci95):
    """'0.59 ± 0.06', or '5e+10 ± 1e+11' for a run whose fine-tuning blew up (finite, but
    huge), so that the table keeps its width."""
    return f"{mse:.2f} ± {ci95:.2f}" if mse < 100 else f"{mse:.0e} ± {ci95:.0e}"


def results_table(results, config, args, committed=None):
    """The printed summary, under 100 columns: a settings line, then MSE ± 95% interval after
    0 / 1 / 5 / 10 steps per (model, K); beside it the committed 70,000-iteration result and the
    paper's, where there are ones."""
    shown = (0, 1, 5, 10)
    trained = (f"{config['iterations']:,} iterations, meta-batch {config['meta_batch']}, "
               f"K = {config['k']}, α = {config['alpha']:g}, {config['inner_steps']} "
               f"{'first-order' if config['first_order'] else 'exact'} inner "
               f"step{'s' * (config['inner_steps'] != 1)}, β = {config['meta_lr']:g}, "
               f"seed {config['seed']}")
    lines = [f"trained: {trained}",
             f"evaluated: {args.eval_tasks} held-out tasks (seed {args.seed}), {QUERY_POINTS} "
             f"query points, α = {args.alpha:g}; query MSE ± 95% interval",
             f"{'':23}" + "".join(f"{f'{s} step' + 's' * (s != 1):>14}" for s in shown)]

    def row(label, cells):
        return f"{label:<23}" + "".join(f"{c:>14}" for c in cells)

    for k in EVAL_K:
        for model in MODELS:
            r = results[model, k]
            lines.append(row(f"{model} K={k}", [cell(r.mse[s], r.ci95[s]) for s in shown]))
            if committed and (model, k, 1) in committed:
                lines.append(row("  committed 70k", [f"{committed[model, k, s]:.2f}"
                                                     for s in shown]))
            if k == 5:
                lines.append(row("  paper (Table 2)", ["—", *(f"{v:.2f}" for v in PAPER_K5[model])]))
    return "\n".join(lines)


def committed_results(args, config):
    """{(model, K, steps): MSE} of the committed docs/results.json, if it was evaluated on the
    same held-out tasks as this run but trained otherwise, else None: so that a short run is
    read beside the 70,000-iteration one."""
    try:
        with open(os.path.join(HERE, "docs", "results.json"), encoding="utf-8") as f:
            report = json.load(f)
        evaluation = report["evaluation"]
        comparable = (evaluation["seed"], evaluation["held_out_tasks"], evaluation["alpha"]) == (
            args.seed, args.eval_tasks, args.alpha) and report["training"] != config
        return {(r["model"], r["k"], r["steps"]): r["mse"] for r in report["results"]} \
            if comparable else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


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

STEP_STYLES = [(0, "before any step", dict(color="0.45", ls=":", lw=1.8)),
               (1, "after 1 gradient step", dict(color="C0", ls="--", lw=1.8)),
               (10, "after 10 gradient steps", dict(color="C2", ls="-", lw=2.2))]
MODEL_NAMES = {"maml": "MAML", "pretrained": "pretrained"}


def shown_tasks(batch, n_tasks=3, among=60):
    """Indices of a low-, a middle- and a high-amplitude wave among the first held-out tasks,
    so the figure shows the whole range of the family, not three look-alikes."""
    order = numpy.argsort(batch.amplitude[:among])
    return [int(order[round(q * (among - 1))]) for q in numpy.linspace(0, 1, n_tasks)]


def query_mse(params, batch, i, alpha, steps):
    """Task i of a batch: (its query MSE after `steps` steps, the adapted params)."""
    adapted = maml.adapt(params, batch.x_support[i], batch.y_support[i], alpha=alpha, steps=steps)
    return float(maml.loss(adapted, batch.x_query[i], batch.y_query[i])), adapted


def plot_adaptation(models, args, n_tasks=3):
    """The paper's Fig. 2: held-out waves (low, middle and high amplitude) at K = 5 and 10;
    truth, support points, prediction before and after 1 and 10 gradient steps, and each
    prediction's query MSE; MAML and pretrained side by side."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(n_tasks, 4, figsize=(16, 3.4 * n_tasks), sharex=True, squeeze=False)
    x = numpy.linspace(-5, 5, 200)[:, None]
    for col, (k, model) in enumerate([(k, m) for k in (5, 10) for m in MODELS]):
        batch = held_out_tasks(args.seed, args.eval_tasks, k)
        for row, i in enumerate(shown_tasks(batch, n_tasks, min(60, args.eval_tasks))):
            ax, amplitude = axes[row, col], batch.amplitude[i]
            ax.plot(x, tasks.sinusoid(x, amplitude, batch.phase[i]), color="C3", lw=2.5,
                    alpha=0.8, label="true function")
            ax.plot(batch.x_support[i], batch.y_support[i], "k^", ms=8,
                    label="the K support points")
            scores = []
            for steps, label, style in STEP_STYLES:
                mse, adapted = query_mse(models[model][0], batch, i, args.alpha, steps)
                ax.plot(x, maml.mlp(adapted, x), label=label, **style)
                scores.append(f"{steps}: {mse:.2f}")
            ax.text(0.02, 0.03, "MSE after " + ",  ".join(scores) + " steps",
                    transform=ax.transAxes, fontsize=8.5, color="0.1",
                    bbox=dict(facecolor="white", alpha=0.85, edgecolor="none", pad=1.5))
            half = max(1.2 * amplitude + 0.6, 1.5)
            ax.set_ylim(-half - 0.25 * amplitude - 0.4, half)
            if row == 0:
                ax.set_title(f"{MODEL_NAMES[model]}, K = {k}", fontsize=12)
            if row == n_tasks - 1:
                ax.set_xlabel("x")
            if col == 0:
                ax.set_ylabel(f"y   (amplitude {amplitude:.1f})")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=5,
               fontsize=11)
    fig.suptitle(f"Adapting to held-out sine waves by gradient steps (α = {args.alpha:g}); "
                 "MSE on 100 query points of each wave", fontsize=13)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def animation_gif(models, args, max_steps=10):
    """docs/adaptation.gif: one held-out wave, its K = 5 support points, MAML and pretrained
    side by side, gradient step by gradient step, the query MSE of each frame in the title.
    Returns the GIF's bytes (Pillow, through matplotlib's PillowWriter)."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter
    batch = held_out_tasks(args.seed, args.eval_tasks, 5)
    i = shown_tasks(batch, 3, min(60, args.eval_tasks))[2]  # the high-amplitude wave
    x = numpy.linspace(-5, 5, 200)[:, None]
    truth = tasks.sinusoid(x, batch.amplitude[i], batch.phase[i])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    lines, frames = {}, {}
    for ax, model in zip(axes, MODELS):
        adapted, frames[model] = models[model][0], []
        for steps in range(max_steps + 1):
            mse = float(maml.loss(adapted, batch.x_query[i], batch.y_query[i]))
            frames[model].append((maml.mlp(adapted, x), mse))
            adapted = maml.adapt(adapted, batch.x_support[i], batch.y_support[i],
                                 alpha=args.alpha, steps=1)
        ax.plot(x, truth, color="C3", lw=2.5, alpha=0.8, label="true function")
        ax.plot(batch.x_support[i], batch.y_support[i], "k^", ms=8, label="K = 5 support points")
        lines[model], = ax.plot(x, frames[model][0][0], color="C0", lw=2.2, label="prediction")
        ax.set_ylim(-1.45 * batch.amplitude[i] - 0.6, 1.2 * batch.amplitude[i] + 0.6)
        ax.set_xlabel("x")
    axes[0].legend(loc="lower left", fontsize=8)
    order = list(range(max_steps + 1)) + [max_steps] * 3  # hold the last frame a little

    def draw(steps):
        for ax, model in zip(axes, MODELS):
            prediction, mse = frames[model][steps]
            lines[model].set_ydata(prediction)
            ax.set_title(f"{MODEL_NAMES[model]}: {steps} step{'s' * (steps != 1)}, "
                         f"MSE {mse:.2f}")
        return list(lines.values())

    fig.suptitle(f"One held-out wave, fine-tuned by gradient steps (α = {args.alpha:g})")
    fig.tight_layout()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "adaptation.gif")
        FuncAnimation(fig, draw, frames=order).save(path, writer=PillowWriter(fps=2), dpi=72)
        with open(path, "rb") as f:
            data = f.read()
    plt.close(fig)
    return data


def plot_what_maml_learned(models, args, n_waves=5):
    """The learned starting points f_θ over held-out waves of every amplitude, and where one
    gradient step takes each: MAML's start is a function from which one step reaches every
    wave; the pretrained start is the average wave, from which one step barely moves."""
    import matplotlib.pyplot as plt
    batch = held_out_tasks(args.seed, args.eval_tasks, 5)
    waves = shown_tasks(batch, n_waves, min(200, args.eval_tasks))
    x = numpy.linspace(-5, 5, 200)[:, None]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), sharey=True)
    for ax, model in zip(axes, MODELS):
        params = models[model][0]
        for j, i in enumerate(waves):
            color = f"C{j}"
            ax.plot(x, tasks.sinusoid(x, batch.amplitude[i], batch.phase[i]), color=color,
                    lw=2.5, alpha=0.3)
            _, adapted = query_mse(params, batch, i, args.alpha, 1)
            ax.plot(x, maml.mlp(adapted, x), color=color, lw=1.6, ls="--")
        ax.plot(x, maml.mlp(params, x), "k-", lw=3, label="f_θ: the learned start, before any step")
        ax.plot([], [], color="0.5", lw=2.5, alpha=0.4, label="held-out waves (true)")
        ax.plot([], [], color="0.5", lw=1.6, ls="--", label="after one step on K = 5 points")
        ax.set_title(f"{MODEL_NAMES[model]}", fontsize=12)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("y")
    axes[0].legend(loc="lower left", fontsize=9)
    fig.suptitle("What MAML learned: a start from which one gradient step reaches any wave "
                 f"(α = {args.alpha:g}; dashed: one step toward the wave of the same color)",
                 fontsize=12)
    fig.tight_layout()
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
    """Loss over training, one panel per model: they are different quantities (MAML's is the
    query loss after the inner step; the baseline's is its plain regression loss)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    titles = {"maml": "MAML: query MSE after the inner step",
              "pretrained": "pretrained: MSE on all points (no inner step)"}
    for ax, (model, color) in zip(axes, zip(MODELS, ("C0", "C1"))):
        history, more = block_means(models[model][1], n_blocks=200)
        ax.plot((numpy.arange(len(history)) + 1) * block * more, history, color=color)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(ScalarFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_title(titles[model])
        ax.set_xlabel("training iteration")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"training MSE (means of {block * more:,} iterations)"
                       if len(models["maml"][1]) else "training MSE")
    fig.suptitle("Training curves (the same task stream for both)")
    fig.tight_layout()
    return fig


# --- main: check everything, then compute, then commit the results in one step ------------------

FLAG_OF_KNOB = {"alpha": "--alpha", "meta_lr": "--meta-lr", "lr": "--meta-lr",
                "params": "the weights (trained with too large a --meta-lr, or a bad checkpoint)",
                "data": "the task data"}


def png_bytes(fig):
    """A figure as PNG bytes (nothing is written to disk before the commit)."""
    import io
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def run(args, state):
    """Train (or load) and evaluate, render every output in memory, then commit them: the
    checkpoint first (the most precious file), then the --out folder as one set.
    state["written"] becomes True once both are committed."""
    for folder in [args.out] + ([os.path.dirname(os.path.abspath(args.save))] if args.save else []):
        files.recover(folder)  # finish (or discard) a commit that an earlier run left half-done
    import matplotlib
    if not args.show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if args.load is not None:
        models, config, block = load_models(args.load)
    else:
        trained = train_both(args)
        models, config = {}, config_of(args)
        for model, (params, losses) in trained.items():
            history, block = block_means(losses)
            models[model] = (params, history)
    results = evaluate_both(models, args)
    figures = {"adaptation.png": plot_adaptation(models, args),
               "learning_curve.png": plot_learning_curve(results),
               "what_maml_learned.png": plot_what_maml_learned(models, args),
               "training.png": plot_training(models, block)}
    outputs = {name: png_bytes(fig) for name, fig in figures.items()}
    outputs["adaptation.gif"] = animation_gif(models, args)
    outputs["results.json"] = json.dumps(results_json(results, config, args), indent=1,
                                         allow_nan=False).encode()
    with files.signals_held():  # a Ctrl-C now would land between the two commits
        if args.save:
            folder, name = os.path.split(os.path.abspath(args.save))
            files.commit(folder, {name: checkpoint_bytes(models, config, block)})
        files.commit(args.out, outputs)
        state["written"] = True
    print(results_table(results, config, args, committed_results(args, config)))
    print(f"\nwrote to {args.out}/: {', '.join(outputs)}" +
          (f"\nwrote both models to {args.save}" if args.save else ""))
    if args.show:
        plt.show()
    for fig in figures.values():
        plt.close(fig)


def main(argv=None):
    """The command line. Returns the exit status: 0 done, 1 the run failed (diverged, or a file
    could not be written), 2 a bad argument or input file, 130 interrupted. Whatever the
    status, the files of --out and --save are the complete old set or the complete new one."""
    return command_line("demo_sinusoid.py", parse_args, run, argv)


def command_line(prog, parse, run, argv):
    """run(parse(argv), state), with one line on stderr and an exit status for each way it can
    fail. run sets state["written"] once its files are committed."""
    state = {"written": False}
    try:
        run(parse(argv), state)
        return 0
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except maml.Diverged as e:  # nothing was written
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{prog}: error: could not write the results ({e}); the earlier ones are kept",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; " + (
            "the new results had already been written in full" if state["written"]
            else "no file was changed"), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
