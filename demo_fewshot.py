"""Few-shot classification: MAML and Prototypical Networks side by side, on images of letters
made on the spot from matplotlib's fonts (glyphs.py), or on Omniglot if you have it.

    .venv/bin/python demo_fewshot.py                       # 1,000 iterations: a few minutes
    .venv/bin/python demo_fewshot.py --load checkpoints/fewshot --out docs/fewshot
                                                           # the committed results, no training
    .venv/bin/python demo_fewshot.py --iterations 5000 --save checkpoints/fewshot --force --out docs/fewshot
                                                           # how those were made

One protocol for every method: the same network body (784-128-64-64), the same stream of
5-way 1-shot training episodes from the background scripts (5 queries per class, 16 episodes
per iteration, Adam 1e-3), the same held-out episodes of the evaluation scripts.

    maml        exact MAML: the body and a 5-way output layer, one inner step (α = 0.4) of
                cross-entropy on the support set; maml.py's functions with loss_fn=cross_entropy
    fomaml      first-order MAML, the same otherwise
    protonets   Prototypical Networks (protonets.py): the body is the embedding, no inner step
    pretrained  the body and an output layer over every background class, trained as a plain
                classifier; at test time a new 5-way output layer (zeros), fine-tuned like MAML
    nearest     pixel 1-nearest-neighbour: no training at all

Written to --out: fewshot.json (every accuracy with its 95% interval, the speeds, the
configuration), fewshot_curves.png, fewshot_episode.png, glyph_scripts.png.
"""
import os
import sys

import threads

if __name__ == "__main__":
    threads.choose()  # BLAS threads: one unless --threads says otherwise, before numpy loads


def interrupted_early(signum=None, frame=None):
    """Ctrl-C while the libraries load: the same one line and exit status 130 as later on."""
    print("\n" * sys.stderr.isatty() + "demo_fewshot.py: interrupted; no file was changed",
          file=sys.stderr)
    os._exit(130)


try:  # the libraries take about a second to load: a Ctrl-C meanwhile is the same one line
    import signal
    signal.signal(signal.SIGINT, interrupted_early)

    import json

    import numpy

    import checkpoints
    import cli
    import figures
    import glyphs
    import maml
    import protonets
except KeyboardInterrupt:
    interrupted_early()

BODY = (784, 128, 64, 64)
N_WAY, TRAIN_SHOTS, QUERIES, META_BATCH = 5, 1, 5, 16
ALPHA = 0.4               # the MAML paper's inner step size for 5-way Omniglot
EVAL_SHOTS = (1, 5)
EVAL_QUERIES = 5          # per class, in held-out episodes
EVAL_STEPS = 10
METHODS = ("maml", "fomaml", "protonets", "pretrained", "nearest")
LABELS = {"maml": "MAML (exact)", "fomaml": "first-order MAML", "protonets": "ProtoNets",
          "pretrained": "pretrained + fine-tuning", "nearest": "pixel 1-NN"}
OUTPUTS = ("fewshot.json", "fewshot_curves.png", "fewshot_episode.png", "glyph_scripts.png")
# Seconds of one idle core (BLAS on one thread), CPU time measured on this project's 2-core
# machine: a training iteration of each method; fine-tuning one held-out episode for EVAL_STEPS
# steps (one method, 1- or 5-shot); the speed measurement's iterations, figures and the rest.
ITERATION_SECONDS = dict(maml=0.046, fomaml=0.034, protonets=0.016, pretrained=0.034)
EPISODE_SECONDS = 0.035
OTHER_SECONDS = 5


def main(argv=None):
    """The command line; exit status as cli.main's."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return cli.main("demo_fewshot.py", parse_args, run, argv)


def run(args, state):
    """Train (or load) every method, evaluate them on the same held-out episodes, measure
    speed, then commit the checkpoints and the --out files as one set each."""
    if not args.quiet:
        cli.say(f"about {cli.duration(run_seconds(args))} of computing in all, on an idle core "
                "(longer while other programs keep the cores busy)")
    with cli.Phases(args.quiet) as phases:  # a line at least every few seconds, to stderr
        phases.start(f"reading Omniglot from {args.omniglot}" if args.omniglot else
                     "loading the glyphs (made from the fonts on a first run, then cached)")
        data = load_data(args)
        check_evaluation_fits(data, args)
        if args.load is not None:
            phases.start(f"reading the checkpoints in {args.load}")
            trained, config = load_all(args.load)
        else:
            phases.start("training", announce=False)  # train_all says it, then Progress
            trained, config = train_all(data, args), config_of(args)
        results = {}
        for shots in EVAL_SHOTS:
            phases.start(f"evaluating on {args.eval_episodes:,} held-out {shots}-shot "
                         "episodes")
            results[shots] = evaluate_all(trained, data, shots, args)
        phases.start("scoring MAML on the same episodes, their labels permuted")
        permuted = label_permutation(trained["maml"][0], data, args)
        if args.speed_iterations:
            phases.start(f"measuring the training speed ({args.speed_iterations} "
                         "iterations, 3 rounds, 3 methods)")
        speed = measure_speed(data, args) if args.speed_iterations else None
        report = report_json(results, permuted, speed, config, data, args)
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        phases.start("drawing the figures")
        made = {"fewshot_curves.png": curves_figure(results, args),
                "fewshot_episode.png": episode_figure(trained, data, args),
                "glyph_scripts.png": figures.glyph_scripts(data,
                                                           numpy.random.default_rng(args.seed))}
        outputs = {"fewshot.json": json.dumps(report, indent=1, allow_nan=False).encode(),
                   **{name: cli.png_bytes(fig) for name, fig in made.items()}}
        plt.close("all")
        sets = {os.path.abspath(args.out): outputs}
        if args.save:
            sets.setdefault(os.path.abspath(args.save), {}).update(
                {f"{m}.npz": checkpoint_bytes(m, params, losses, config)
                 for m, (params, losses) in trained.items()})
        phases.start("writing the results")
        cli.commit(sets, args.replaceable, state)
    print(table(report))
    print(f"\nwrote {len(outputs)} files to {args.out}/" +
          (f"\nwrote the models to {args.save}/" if args.save else ""))


def run_seconds(args):
    """Roughly how long the run takes on one idle core (the glyphs cached)."""
    training = 0 if args.load else args.iterations * sum(ITERATION_SECONDS.values())
    fine_tuned = 3 * len(EVAL_SHOTS) * args.eval_episodes + 2 * min(200, args.eval_episodes)
    speed = 3 * args.speed_iterations * 1.5 * sum(ITERATION_SECONDS[m] for m in METHODS[:3])
    return training + fine_tuned * EPISODE_SECONDS + speed + OTHER_SECONDS


def load_data(args):
    """The glyphs, or Omniglot with --omniglot, checked for everything this run will ask of
    them (check_data) before any training. A folder that is not Omniglot's layout, holds
    files that are not images, or is beyond the readers' budgets (files.py) is one line and
    exit status 2."""
    if not args.omniglot:
        data = glyphs.load_glyphs(args.seed)
        check_data(data, "the glyph set", ("background", "evaluation"))
        return data
    where = f"--omniglot {cli.shown(args.omniglot)}"
    try:
        data = glyphs.load_omniglot(args.omniglot, min_drawings=drawings_needed())
    except (OSError, ValueError) as e:
        text = str(e).splitlines()[0] if str(e) else repr(e)
        for root in (args.omniglot, os.path.abspath(args.omniglot)):  # paths inside, relative
            text = text.replace("'" + os.path.join(root, ""), "'")
        raise cli.UsageError(f"{where}: {text}") from None
    check_data(data, where, ("images_background", "images_evaluation"))
    return data


def drawings_needed():
    """Drawings each character must have: support + query images of the largest K this run
    trains or evaluates with."""
    return max(TRAIN_SHOTS + QUERIES, max(EVAL_SHOTS) + EVAL_QUERIES)


def check_data(data, where, parts):
    """Raise cli.UsageError, naming `where` and the split's folder (`parts`), unless every
    split has the N_WAY classes an episode draws and every class the images the largest K
    needs: what the run would otherwise find out only after training."""
    for split, part in zip(("background", "evaluation"), parts):
        n = len(getattr(data, split))
        if n < N_WAY:
            raise cli.UsageError(f"{where}: {part} holds {n} character{'s' * (n != 1)}, fewer "
                                 f"than the {N_WAY} each {N_WAY}-way episode draws")
    if data.images.shape[1] < drawings_needed():
        raise cli.UsageError(f"{where}: each character has {data.images.shape[1]} images, "
                             f"fewer than the {drawings_needed()} a {max(EVAL_SHOTS)}-shot "
                             f"episode with {EVAL_QUERIES} queries needs")


# --- training ------------------------------------------------------------------------------------

def train_all(data, args):
    """{method: (params, losses)}: MAML, first-order MAML, ProtoNets and the pretrained
    classifier, from the same initial body, on the same stream of training episodes."""
    init_seed, train_seed = numpy.random.SeedSequence(args.seed).spawn(2)
    body = maml.init_mlp(BODY, numpy.random.default_rng(init_seed), std=0.05)
    head = maml.init_mlp((BODY[-1], N_WAY), numpy.random.default_rng(init_seed), std=0.05)
    sample = glyphs.episode_sampler(data.images, data.background, N_WAY, QUERIES)
    common = dict(iterations=args.iterations, meta_batch=META_BATCH, k=TRAIN_SHOTS)
    fits = cli.check_fits("the few-shot network", BODY + (N_WAY,), META_BATCH,
                          N_WAY * (TRAIN_SHOTS + QUERIES), 1, args.iterations)
    if not args.quiet:
        cli.say(f"training 4 methods, {args.iterations:,} iterations each ({fits} for MAML)")

    def stream():  # the same episodes for every method
        return numpy.random.default_rng(train_seed)

    def progress(name):
        return cli.Progress(f"{name:10}", args.iterations, args.quiet)

    trained = {}
    for method, first_order in (("maml", False), ("fomaml", True)):
        trained[method] = maml.meta_train(
            body + head, stream(), alpha=ALPHA, first_order=first_order, sample_tasks=sample,
            loss_fn=maml.cross_entropy, callback=progress(method), **common)
    trained["protonets"] = protonets.train(body, stream(), sample_tasks=sample,
                                           callback=progress("protonets"), **common)
    n_classes = len(data.background)
    wide = maml.init_mlp((BODY[-1], n_classes), numpy.random.default_rng(init_seed), std=0.05)
    trained["pretrained"] = maml.pretrain(
        body + wide, stream(), sample_tasks=all_classes(sample, data.background),
        loss_fn=maml.cross_entropy, callback=progress("pretrained"), **common)
    return trained


def all_classes(sample, background):
    """An episode sampler whose labels are the global background classes (one-hot over all of
    them), for training the plain classifier on the same images as the others."""
    position = {c: i for i, c in enumerate(background)}

    def sample_global(meta_batch, k_support, k_query, rng):
        episodes = sample(meta_batch, k_support, k_query, rng)
        index = numpy.vectorize(position.get)(episodes.classes)            # (T, N)
        eye = numpy.eye(len(background), dtype=numpy.float32)

        def relabel(y):  # (T, M, N) local one-hot -> (T, M, C) global one-hot
            return eye[numpy.take_along_axis(index, y.argmax(axis=2), axis=1)]
        return episodes._replace(y_support=relabel(episodes.y_support),
                                 y_query=relabel(episodes.y_query))
    return sample_global


def fresh_head(params):
    """The pretrained classifier's body with a new N-way output layer of zeros."""
    return params[:-1] + [(numpy.zeros((BODY[-1], N_WAY)), numpy.zeros(N_WAY))]


# --- evaluation ----------------------------------------------------------------------------------

def held_out(data, shots, args, n_episodes=None):
    """The held-out episodes for K shots: evaluation scripts only, a seed of their own."""
    return glyphs.sample_episodes(data.images, data.evaluation, N_WAY, shots, EVAL_QUERIES,
                                  n_episodes or args.eval_episodes,
                                  numpy.random.default_rng([args.seed, 2017, shots]))


def evaluation_bytes(data, n_episodes, shots):
    """Roughly the memory the evaluation of n_episodes K-shot episodes holds at its peak: the
    episodes (float32 images), the float64 copies the nearest-neighbour baseline makes, the
    random numbers that draw them, and the per-task weights of one chunk (adapt_and_score).
    Measured with tracemalloc (glyphs, K = 5): 637 KB per episode, 340 MB for a chunk; the
    estimate is 790 KB and 400 MiB."""
    images = N_WAY * (shots + EVAL_QUERIES) * data.images[0, 0].size * 4      # one episode
    drawing = 16 * (len(data.evaluation) + N_WAY * data.images.shape[1])
    return n_episodes * (5 * images + drawing) + 400 * 2 ** 20


def check_evaluation_fits(data, args):
    """Refuse, before any training, an --eval-episodes the machine cannot hold (cli's one
    line, with the estimate and the memory available)."""
    shots = max(EVAL_SHOTS)
    need = evaluation_bytes(data, args.eval_episodes, shots)
    per_episode = evaluation_bytes(data, 1, shots) - evaluation_bytes(data, 0, shots)
    cli.check_memory("--eval-episodes", args.eval_episodes, need, per_episode)


def adapt_and_score(params, episodes, chunk=100, name=""):
    """maml.evaluate with accuracy as the score, `chunk` episodes at a time (the per-task
    weights of 1,000 episodes would not fit at once). name: for the progress lines."""
    def part(i):
        cli.detail(f"{name}{i:,} of {len(episodes[0]):,} episodes fine-tuned")
        return maml.evaluate(params, *(a[i:i + chunk] for a in episodes[:4]), alpha=ALPHA,
                             max_steps=EVAL_STEPS, loss_fn=maml.cross_entropy,
                             score_fn=maml.accuracy)

    parts = [part(i) for i in range(0, len(episodes[0]), chunk)]
    return maml.summarise(numpy.concatenate([p.per_task_loss for p in parts], axis=1),
                          numpy.concatenate([p.per_task for p in parts], axis=1))


def evaluate_all(trained, data, shots, args):
    """{method: maml.Evaluation of accuracy} on the held-out episodes of K = shots. Methods
    without an inner step get the same accuracy at every step."""
    episodes = held_out(data, shots, args)
    steady = {"protonets": protonets.evaluate(trained["protonets"][0], episodes),
              "nearest": glyphs.nearest_neighbour_accuracy(episodes)}
    results = {m: maml.summarise(numpy.zeros((EVAL_STEPS + 1, len(a))),
                                 numpy.repeat(a[None], EVAL_STEPS + 1, axis=0))
               for m, a in steady.items()}
    results["maml"] = adapt_and_score(trained["maml"][0], episodes, name="MAML: ")
    results["fomaml"] = adapt_and_score(trained["fomaml"][0], episodes, name="first-order: ")
    results["pretrained"] = adapt_and_score(fresh_head(trained["pretrained"][0]), episodes,
                                            name="pretrained: ")
    return {m: results[m] for m in METHODS}


def label_permutation(params, data, args):
    """MAML's output layer is tied to label order; ProtoNets' prototypes are not. Score MAML
    (one inner step, K = 1) on held-out episodes and on the same episodes with their labels
    permuted: (mean accuracy as given, as permuted, mean |change| per episode)."""
    n_episodes = min(200, args.eval_episodes)
    episodes = held_out(data, 1, args, n_episodes)
    rng = numpy.random.default_rng([args.seed, 7])
    order = numpy.argsort(rng.random((n_episodes, N_WAY)), axis=1)[:, None, :]
    shuffled = episodes._replace(y_support=numpy.take_along_axis(episodes.y_support, order, 2),
                                 y_query=numpy.take_along_axis(episodes.y_query, order, 2))
    before = adapt_and_score(params, episodes).per_task[1]
    after = adapt_and_score(params, shuffled).per_task[1]
    return float(before.mean()), float(after.mean()), float(numpy.abs(after - before).mean())


def measure_speed(data, args, repeats=3):
    """{method: (training episodes/s, peak MB per iteration)}, round-robin in this process."""
    sample = glyphs.episode_sampler(data.images, data.background, N_WAY, QUERIES)
    body = maml.init_mlp(BODY, numpy.random.default_rng(0), std=0.05)
    head = maml.init_mlp((BODY[-1], N_WAY), numpy.random.default_rng(0), std=0.05)
    runs = {
        "maml": lambda n: maml.meta_train(body + head, numpy.random.default_rng(1), n, META_BATCH,
                                          TRAIN_SHOTS, ALPHA, sample_tasks=sample,
                                          loss_fn=maml.cross_entropy),
        "fomaml": lambda n: maml.meta_train(body + head, numpy.random.default_rng(1), n,
                                            META_BATCH, TRAIN_SHOTS, ALPHA, first_order=True,
                                            sample_tasks=sample, loss_fn=maml.cross_entropy),
        "protonets": lambda n: protonets.train(body, numpy.random.default_rng(1), n, sample,
                                               META_BATCH, TRAIN_SHOTS)}
    return {m: (META_BATCH / seconds, peak / 1e6) for m, (seconds, peak) in
            cli.measure(runs, args.speed_iterations, repeats).items()}


# --- report --------------------------------------------------------------------------------------

def report_json(results, permuted, speed, config, data, args):
    """Everything needed to read or redo the numbers."""
    return dict(
        papers=["Finn, Abbeel & Levine 2017, arXiv:1703.03400 (MAML)",
                "Snell, Swersky & Zemel 2017, arXiv:1703.05175 (Prototypical Networks)"],
        data=dict(source=f"Omniglot at {args.omniglot}" if args.omniglot else
                  f"glyphs.py, seed {args.seed}", classes=int(len(data.images)),
                  background_classes=int(len(data.background)),
                  evaluation_classes=int(len(data.evaluation)),
                  instances=int(data.images.shape[1])),
        training=config,
        evaluation=dict(n_way=N_WAY, shots=list(EVAL_SHOTS), queries_per_class=EVAL_QUERIES,
                        episodes=args.eval_episodes, alpha=ALPHA, steps=EVAL_STEPS,
                        interval="95%: mean ± 1.96·std/√episodes"),
        methods={m: LABELS[m] for m in METHODS},
        results=[row for shots in EVAL_SHOTS for m in METHODS for row in
                 cli.evaluation_rows(results[shots][m], "accuracy", method=m, shots=shots)],
        label_permutation=dict(zip(("accuracy", "accuracy_permuted", "mean_abs_change"),
                                   permuted), shots=1, steps=1,
                               episodes=min(200, args.eval_episodes)),
        speed=None if speed is None else {
            m: dict(episodes_per_second=s, peak_mb_per_iteration=mb)
            for m, (s, mb) in speed.items()})


def table(report):
    """5-way accuracy ± 95% interval per method, K = 1 and 5, after 0 / 1 / 10 steps."""
    rows = {(r["method"], r["shots"], r["steps"]): r for r in report["results"]}
    lines = [f"trained: {describe(report['training'])}",
             f"evaluated: {report['evaluation']['episodes']:,} held-out {N_WAY}-way episodes of "
             f"{report['data']['evaluation_classes']} evaluation classes, "
             f"{EVAL_QUERIES} queries per class",
             f"{'accuracy ± 95% interval':26}" + "".join(f"{f'{k}-shot, {s} step' + 's' * (s != 1):>18}"
                                  for k in EVAL_SHOTS for s in (0, 1))]
    for m in METHODS:
        cells = [rows[m, k, s] for k in EVAL_SHOTS for s in (0, 1)]
        lines.append(f"{LABELS[m]:<26}" + "".join(
            f"{100 * c['accuracy']:>10.1f} ± {100 * c['ci95']:4.1f}%" for c in cells))
    p = report["label_permutation"]
    lines.append(f"MAML, labels permuted (1-shot, 1 step): {100 * p['accuracy']:.1f}% -> "
                 f"{100 * p['accuracy_permuted']:.1f}%; an episode's accuracy changes by "
                 f"{100 * p['mean_abs_change']:.1f} points")
    lines.append("  on average (ProtoNets: 0 by design)")
    return "\n".join(lines)


def markdown_table(report):
    """The table of docs/fewshot.md, made from fewshot.json (test_readme.py checks they agree):
    accuracy ± 95% interval, 5-way 1- and 5-shot, after one step and after ten for the methods
    that take gradient steps, and each method's meta-training speed."""
    rows = {(r["method"], r["shots"], r["steps"]): r for r in report["results"]}
    speed = report.get("speed") or {}
    lines = ["| method | 1-shot | 1-shot, 10 steps | 5-shot | 5-shot, 10 steps "
             "| training episodes/s |", "|---|---|---|---|---|---:|"]
    for m in METHODS:
        takes_steps = m not in ("protonets", "nearest")
        cells = []
        for k in EVAL_SHOTS:
            for s in (1, EVAL_STEPS):
                r = rows[m, k, s]
                cells.append(f"{100 * r['accuracy']:.1f} ± {100 * r['ci95']:.1f}%"
                             if takes_steps or s == 1 else "(no steps)")
        rate = speed.get(m, {}).get("episodes_per_second")
        cells.append(f"{rate:.0f}" if rate else "—")
        lines.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe(config):
    """One line of the training settings."""
    return (f"{config['iterations']:,} iterations of {config['meta_batch']} {N_WAY}-way "
            f"{config['shots']}-shot episodes, α = {config['alpha']:g}, seed {config['seed']}")


def curves_figure(results, args):
    """Accuracy against test-time gradient steps; ProtoNets and 1-NN, which take none, flat."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(EVAL_SHOTS), figsize=(12, 4.3), sharey=True)
    steps = numpy.arange(EVAL_STEPS + 1)
    for ax, shots in zip(axes, EVAL_SHOTS):
        for i, m in enumerate(METHODS):
            r = results[shots][m]
            style = dict(ls="--", marker=None) if m in ("protonets", "nearest") else dict(
                ls="-", marker="o", ms=3)
            ax.plot(steps, 100 * r.mean, color=f"C{i}", label=LABELS[m], **style)
            ax.fill_between(steps, 100 * (r.mean - r.ci95), 100 * (r.mean + r.ci95),
                            color=f"C{i}", alpha=0.15, lw=0)
        ax.set_title(f"{N_WAY}-way {shots}-shot, held-out scripts")
        ax.set_xlabel(f"gradient steps at test time (α = {ALPHA:g})")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"query accuracy, % ({args.eval_episodes:,} episodes, 95% band)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="center right", fontsize=9,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 0.83, 1))
    return fig


def episode_figure(trained, data, args):
    """One held-out 5-way 1-shot episode: the support images, then two queries of each class
    with each method's prediction, green if right, red if wrong."""
    episode = held_out(data, 1, args, 1)
    x_s, y_s, x_q, y_q = (a[0] for a in episode[:4])
    queries = numpy.array([c * EVAL_QUERIES + j for c in range(N_WAY) for j in range(2)])
    predictions = {
        "maml": maml.adapt(trained["maml"][0], x_s, y_s, ALPHA, loss_fn=maml.cross_entropy),
        "fomaml": maml.adapt(trained["fomaml"][0], x_s, y_s, ALPHA, loss_fn=maml.cross_entropy),
        "pretrained": maml.adapt(fresh_head(trained["pretrained"][0]), x_s, y_s, ALPHA,
                                 loss_fn=maml.cross_entropy)}
    guess = {m: numpy.argmax(maml.mlp(p, x_q[queries]), axis=-1) for m, p in predictions.items()}
    guess["protonets"] = numpy.argmax(protonets.logits(
        trained["protonets"][0], *(a[:1] for a in episode[:3]))[0], axis=-1)[queries]
    nearest = numpy.argmin(((x_q[queries, None] - x_s[None]) ** 2).sum(-1), axis=1)
    guess["nearest"] = y_s.argmax(-1)[nearest]
    return figures.episode(x_s, y_s.argmax(-1), x_q[queries], y_q[queries].argmax(-1),
                           {LABELS[m]: guess[m] for m in METHODS})


# --- checkpoints ---------------------------------------------------------------------------------

def config_of(args):
    """The settings every method was trained with, as stored in checkpoints and fewshot.json."""
    return dict(iterations=args.iterations, meta_batch=META_BATCH, n_way=N_WAY,
                shots=TRAIN_SHOTS, queries=QUERIES, alpha=ALPHA, meta_lr=1e-3, seed=args.seed,
                body=list(BODY), data=f"omniglot:{args.omniglot}" if args.omniglot else
                "glyphs")


def checkpoint_bytes(method, params, losses, config):
    """One method's checkpoint: its params, how they were trained and its loss history."""
    history, block = cli.block_means(losses)
    return checkpoints.encode_models({None: params}, dict(
        method=method, training=config, losses=history, loss_block=block))


def load_all(folder):
    """{method: (params, losses)} from FOLDER/<method>.npz and their shared configuration,
    each file checked against what this demo writes (checkpoints.FEWSHOT_TRAINING) and each
    network against the task: the body BODY, then N_WAY outputs for MAML's, one output per
    training class for the pretrained classifier's, none for ProtoNets'."""
    def layers_ok(method, sizes):
        if method == "protonets":
            return None if sizes == list(BODY) else f"the body {list(BODY)}"
        if method == "pretrained":
            fits = sizes[:len(BODY)] == list(BODY) and len(sizes) == len(BODY) + 1
            return None if fits else f"the body {list(BODY)} and an output layer"
        return None if sizes == [*BODY, N_WAY] else f"{[*BODY, N_WAY]} ({N_WAY}-way)"

    trained, config = cli.load_methods(folder, METHODS[:-1], layers_ok,
                                       checkpoints.FEWSHOT_TRAINING)
    if config["body"] != list(BODY) or config["n_way"] != N_WAY:
        raise cli.UsageError(f"--load {cli.shown(folder)}: its models were trained with "
                             f"body {config['body']} on {config['n_way']}-way episodes, not "
                             f"this demo's {list(BODY)}, {N_WAY}-way")
    return trained, config


# --- the command line ----------------------------------------------------------------------------

def parse_args(argv):
    """Parse and check the command line, paths included; raises cli.UsageError."""
    p = cli.OneLineParser(description="Few-shot classification: MAML and Prototypical Networks "
                          "on one protocol, on glyphs made from matplotlib's fonts (or Omniglot).",
                          formatter_class=cli.HelpFormatter, allow_abbrev=False)
    p.add_argument("--iterations", type=cli.ITERATIONS, default=1000,
                   help="training iterations per method, 1 to 10,000,000")
    p.add_argument("--eval-episodes", type=cli.EVAL_TASKS, default=1000,
                   help="held-out episodes for each K (1 and 5 shots), 2 to 100,000")
    p.add_argument("--seed", type=cli.SEED, default=0,
                   help="seed of the glyphs, the weights and the episodes")
    p.add_argument("--omniglot", metavar="FOLDER",
                   help="use Omniglot instead of the glyphs: a folder holding images_background "
                        "and images_evaluation (folders or the official zips)")
    p.add_argument("--speed-iterations", type=cli.whole(0, 1000), default=5,
                   help="iterations per speed measurement, up to 1,000; 0 skips it")
    p.add_argument("--out", default="figures/fewshot", help="folder for the results and figures")
    p.add_argument("--save", metavar="FOLDER", help="save each method's checkpoint there")
    p.add_argument("--force", action="store_true", help="let --save replace checkpoints")
    p.add_argument("--load", metavar="FOLDER",
                   help="evaluate saved checkpoints (FOLDER/<method>.npz) instead of training")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    cli.add_threads_flag(p)
    args = cli.parse(p, argv)
    if args.load is not None and (args.save is not None or
                                  "--iterations" in cli.typed(argv)):
        raise cli.UsageError("--load evaluates saved checkpoints: drop --save and --iterations")
    if args.omniglot is not None and not os.path.isdir(args.omniglot):
        raise cli.UsageError(f"--omniglot {cli.shown(args.omniglot)}: " + (
            "not a folder" if os.path.lexists(args.omniglot) else "no such folder"))
    args.replaceable = cli.check_out_and_save(args, OUTPUTS,
                                              [f"{m}.npz" for m in METHODS[:-1]])
    if args.load is not None and not os.path.isdir(args.load):
        raise cli.UsageError(f"--load {args.load!r}: no such folder of checkpoints")
    return args


if __name__ == "__main__":
    cli.finish(main())
