"""Few-shot classification: MAML, its fixes, ProtoNets and a pretrained network side by side,
each body read out several ways, on images of letters made on the spot from matplotlib's fonts
(glyphs.py), or on Omniglot if you have it.

    .venv/bin/python demo_fewshot.py                       # every method, 300 iterations each
    .venv/bin/python demo_fewshot.py --load checkpoints/fewshot --out docs/fewshot
                                                           # the committed results, no training
    .venv/bin/python demo_fewshot.py --methods maml-zero --iterations 6000 --train-only \\
        --save checkpoints/fewshot --force                 # how one committed model was made

One body for every method (784-128-64-64, ReLU), trained on episodes of the training scripts
(the background scripts but the validation ones, glyphs.validation_split): N-way K-shot, 5
queries per class, 16 episodes per iteration, Adam 1e-3.

    pretrained      the body and an output layer over every training class, a plain classifier
    maml            exact MAML: the body and a 5-way output layer, one inner step (α = 0.4)
    maml-zero       MAML with the zeroing trick: the output layer zero before every inner loop
    fomaml          first-order MAML;  fomaml-zero: first-order with the zeroing trick
    anil            ANIL: only the output layer takes the inner step
    metasgd         Meta-SGD: a step size per weight, learned with θ (one inner step)
    metasgd-layer   one learned step size per array (per layer)
    protonets       Prototypical Networks, 5-way 1-shot training episodes (no inner step)
    protonets-20way ProtoNets on 20-way 1-shot training episodes (more ways: Snell et al.)
    nearest         pixel 1-nearest-neighbour: no training at all

Each trained body is read out four ways on every test episode: its own way (MAML's inner step,
ProtoNets' prototypes, the pretrained network fine-tuned whole), cosine nearest centroid,
logistic regression on L2-normalised features, and a new linear head (fewshot.py). Every
setting of a read-out (step sizes, steps, regularisation) is chosen on episodes of the
validation scripts, never on the evaluation scripts. Test episodes: 5-way 1- and 5-shot, the
5 classes drawn from all evaluation scripts (mixed) or from one of them (within a script).

Written to --out: fewshot.json (every accuracy with its 95% interval, the chosen settings,
the label-permutation measurement, the configuration), fewshot_curves.png,
fewshot_episode.png, glyph_scripts.png.
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
    if __name__ == "__main__":  # imported (a notebook, a test), it leaves Ctrl-C alone
        signal.signal(signal.SIGINT, interrupted_early)

    import argparse
    import json
    import time

    import numpy

    import checkpoints
    import cli
    import fewshot
    import figures
    import glyphs
    import maml
    import protonets
except KeyboardInterrupt:
    interrupted_early()

BODY = (784, 128, 64, 64)
N_WAY, QUERIES, META_BATCH = 5, 5, 16
ALPHA = 0.4               # the MAML paper's inner step size for 5-way Omniglot
EVAL_SHOTS = (1, 5)
EVAL_QUERIES = 5          # per class, in test episodes
COLUMNS = (("mixed", 1), ("mixed", 5), ("within", 1), ("within", 5))
CURVE_STEPS = 2           # test-time steps in fewshot_curves.png
# name: (label, ways and shots of its training episodes)
METHODS = {
    "pretrained": ("pretrained classifier", N_WAY, 1),
    "maml": ("MAML", N_WAY, 1),
    "maml-zero": ("MAML + zeroing trick", N_WAY, 1),
    "fomaml": ("first-order MAML", N_WAY, 1),
    "fomaml-zero": ("first-order MAML + zeroing", N_WAY, 1),
    "anil": ("ANIL", N_WAY, 1),
    "metasgd": ("Meta-SGD (α per weight)", N_WAY, 1),
    "metasgd-layer": ("learned α per layer", N_WAY, 1),
    "protonets": ("ProtoNets, 5-way 1-shot", N_WAY, 1),
    "protonets-20way": ("ProtoNets, 20-way 1-shot", 20, 1),
}
TRAINED = tuple(METHODS)
HEAD_METHODS = ("maml", "maml-zero", "fomaml", "fomaml-zero", "anil", "metasgd",
                "metasgd-layer")  # read out by their own inner step
EMBEDDINGS = ("protonets", "protonets-20way")
READOUTS = {"own": "its own", "cosine": "cosine centroid", "logistic": "logistic regression",
            "linear": "linear head"}
OWN = {"protonets": "prototypes", "nearest": "pixel 1-NN",
       **{m: "prototypes" for m in EMBEDDINGS}, **{m: "its inner step" for m in HEAD_METHODS}}
# settings chosen on the validation episodes, per method and K
L2_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)                   # logistic regression's λ
HEAD_ALPHAS = (1e-4, 3e-4, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # linear head's α
HEAD_STEPS = (1, 2, 5, 10, 20, 50, 100, 200)                          # and its steps
OUTPUTS = ("fewshot.json", "fewshot_curves.png", "fewshot_episode.png", "glyph_scripts.png")


def main(argv=None):
    """The command line; exit status as cli.main's."""
    with cli.ctrl_c_raises():
        return cli.main("demo_fewshot.py", parse_args, run, argv)


def run(args, state):
    """Train (or load) the methods, choose every read-out setting on validation episodes,
    evaluate on the same test episodes, then commit the checkpoints and the --out files."""
    with cli.Phases(args.quiet) as phases:  # a line at least every few seconds, to stderr
        phases.start(f"reading Omniglot from {args.omniglot}" if args.omniglot else
                     "loading the glyphs (made from the fonts on a first run, then cached)")
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        data = load_data(args)
        if not args.train_only:
            check_evaluation_fits(data, args)
            dedup = split_report(args, data)  # now: nothing read after training can fail
        if args.load is not None:
            phases.start(f"reading the checkpoints in {args.load}")
            trained = load_all(args.load, args.methods)
        else:
            phases.start("training", announce=False)  # each method's Progress says it
            trained = {m: train_one(m, data, args) for m in args.methods}
        sets = {}
        if args.save:
            sets[os.path.abspath(args.save)] = {f"{m}.npz": checkpoint_bytes(m, model)
                                                for m, model in trained.items()}
        if args.train_only:
            phases.start("writing the models")
            cli.commit(sets, args.replaceable, state)
            print(f"wrote the models to {args.save}/")
            return
        phases.start("evaluating", announce=False)  # evaluate_all names each method
        report = evaluate_all(trained, data, args, dedup)
        if args.speed_iterations:
            phases.start(f"measuring the training speed ({args.speed_iterations} "
                         "iterations per round)")
            report["speed"] = measure_speed(data, args)
        phases.start("drawing the figures")
        made = {"fewshot_curves.png": curves_figure(report),
                "fewshot_episode.png": episode_figure(trained, data, args, report),
                "glyph_scripts.png": figures.glyph_scripts(
                    data, numpy.random.default_rng(args.seed),
                    validation=glyphs.validation_split(data)[1])}
        sets.setdefault(os.path.abspath(args.out), {}).update({  # --save may be the same folder
            "fewshot.json": json.dumps(report, indent=1, allow_nan=False).encode(),
            **{name: cli.png_bytes(fig) for name, fig in made.items()}})
        plt.close("all")
        phases.start("writing the results")
        cli.commit(sets, args.replaceable, state)
    print(table(report, committed_report(report)))
    print(f"\nwrote {len(OUTPUTS)} files to {args.out}/" +
          (f"\nwrote the models to {args.save}/" if args.save else ""))


def load_data(args):
    """The glyphs, or Omniglot with --omniglot, checked for everything this run will ask of
    them (check_data) before any training. A folder that is not Omniglot's layout, holds
    files that are not images, or is beyond the readers' budgets (files.py) is one line and
    exit status 2."""
    if not args.omniglot:
        data = glyphs.load_glyphs(args.seed)
        check_data(data, args, "the glyph set", ("its background split",
                                                 "its evaluation split"), "script")
        return data
    where = f"--omniglot {cli.shown(args.omniglot)}"
    try:
        data = glyphs.load_omniglot(args.omniglot, min_drawings=drawings_needed())
    except (OSError, ValueError) as e:
        raise cli.UsageError(f"{where}: {str(e).splitlines()[0] if str(e) else repr(e)}"
                             ) from None
    check_data(data, args, where, ("images_background", "images_evaluation"), "alphabet")
    return data


def drawings_needed():
    """Drawings each character must have: support + query images of the largest K this run
    trains or evaluates with."""
    return max(max(shots for _, _, shots in METHODS.values()) + QUERIES,
               max(EVAL_SHOTS) + EVAL_QUERIES)


def characters(n):
    """'1 character', '3 characters'."""
    return f"{n} character{'s' * (int(n) != 1)}"


def check_data(data, args, where, parts, group):
    """Raise cli.UsageError, naming `where` (and the split's folder, `parts`; `group`: what
    a script is called there), unless the splits this run uses hold what it asks of them:
    what the run would otherwise find out only after training. Evaluating: N_WAY evaluation
    classes, a script with N_WAY of them (the within-a-script test) and N_WAY validation
    classes. Training: as many training classes (the background's once the validation
    scripts are held out) as the most ways of the methods in --methods. Every class: the
    images the largest K needs."""
    background, evaluation = parts
    evaluating = not args.train_only
    if evaluating:
        check_evaluation_split(data, where, evaluation, group)
    try:
        training, validation = glyphs.validation_split(data)
    except ValueError:
        raise cli.UsageError(f"{where}: {background} holds a single {group}: none is left to "
                             f"train on once the validation {group} is held out") from None
    if evaluating and len(validation) < N_WAY:
        held = ", ".join(sorted(set(data.script[validation].tolist())))
        raise cli.UsageError(f"{where}: the validation {group}s held out of {background} "
                             f"({cli.shown(held, 60)}) hold {characters(len(validation))}, "
                             f"fewer than the {N_WAY} each {N_WAY}-way validation episode "
                             "draws")
    ways, method = max((METHODS[m][1], m) for m in args.methods)
    if args.load is None and len(training) < ways:
        raise cli.UsageError(f"{where}: {background} leaves {characters(len(training))} to "
                             f"train on once the validation {group}s are held out, fewer "
                             f"than the {ways} each {ways}-way episode of {method} draws")
    if data.images.shape[1] < drawings_needed():
        raise cli.UsageError(f"{where}: each character has {data.images.shape[1]} images, "
                             f"fewer than the {drawings_needed()} a {max(EVAL_SHOTS)}-shot "
                             f"episode with {EVAL_QUERIES} queries needs")


def check_evaluation_split(data, where, evaluation, group):
    """check_data's test columns: N_WAY classes for the mixed one, one script of N_WAY
    classes for the within-a-script one."""
    n = len(data.evaluation)
    if n < N_WAY:
        raise cli.UsageError(f"{where}: {evaluation} holds {characters(n)}, fewer than the "
                             f"{N_WAY} each {N_WAY}-way test episode draws")
    _, sizes = numpy.unique(data.script[data.evaluation], return_counts=True)
    if sizes.max() < N_WAY:
        raise cli.UsageError(f"{where}: the {group}s of {evaluation} have at most "
                             f"{characters(sizes.max())} each; the within-a-script test "
                             f"needs one with {N_WAY}")


def evaluation_bytes(data, n_episodes, shots):
    """Roughly the memory the evaluation of n_episodes K-shot episodes holds at its peak: the
    episodes of the columns (float32 images), the float64 copies the nearest-neighbour
    baseline makes, the random numbers that draw them, and the per-task weights of one chunk.
    (B1's estimate for the earlier single column, times the columns.)"""
    images = N_WAY * (shots + EVAL_QUERIES) * data.images[0, 0].size * 4      # one episode
    drawing = 16 * (len(data.evaluation) + N_WAY * data.images.shape[1])
    return len(COLUMNS) // len(EVAL_SHOTS) * n_episodes * (5 * images + drawing) + 400 * 2 ** 20


def check_evaluation_fits(data, args):
    """Refuse, before any training, an --eval-episodes the machine cannot hold (cli's one
    line, with the estimate and the memory available)."""
    shots = max(EVAL_SHOTS)
    need = evaluation_bytes(data, args.eval_episodes, shots)
    per_episode = evaluation_bytes(data, 1, shots) - evaluation_bytes(data, 0, shots)
    cli.check_memory("--eval-episodes", args.eval_episodes, need, per_episode)


def config_of(args, method="maml"):
    """The settings a method is trained with (checkpoints.FEWSHOT_TRAINING's keys)."""
    _, ways, shots = METHODS[method]
    return dict(iterations=args.iterations, meta_batch=META_BATCH, n_way=ways, shots=shots,
                queries=QUERIES, alpha=ALPHA, meta_lr=1e-3, seed=args.seed, body=list(BODY),
                data=f"omniglot:{args.omniglot}" if args.omniglot else "glyphs")


def describe(config):
    """One line of a method's training settings."""
    return (f"{config['iterations']:,} iterations of {config['meta_batch']} "
            f"{config['n_way']}-way {config['shots']}-shot episodes, α = {config['alpha']:g}, "
            f"seed {config['seed']}")


# --- training ------------------------------------------------------------------------------------

def train_one(method, data, args):
    """Train one method from the shared initial body on its stream of training episodes.
    Returns {params, step_sizes (Meta-SGD's, else None), losses, training (settings and
    times)}."""
    init_seed, train_seed = numpy.random.SeedSequence(args.seed).spawn(2)
    body = maml.init_mlp(BODY, numpy.random.default_rng(init_seed), std=0.05)
    head = maml.init_mlp((BODY[-1], N_WAY), numpy.random.default_rng(init_seed), std=0.05)
    train_classes, _ = glyphs.validation_split(data)
    _, ways, shots = METHODS[method]
    sample = glyphs.episode_sampler(data.images, train_classes, ways, QUERIES)
    rng = numpy.random.default_rng(train_seed)  # the same episodes for every 5-way method
    common = dict(iterations=args.iterations, meta_batch=META_BATCH, k=shots,
                  callback=cli.Progress(f"{method:13}", args.iterations, args.quiet),
                  sample_tasks=sample)
    start, cpu = time.perf_counter(), time.process_time()
    step_sizes = None
    if method == "pretrained":
        wide = maml.init_mlp((BODY[-1], len(train_classes)), numpy.random.default_rng(init_seed),
                             std=0.05)
        common["sample_tasks"] = all_classes(sample, train_classes)
        params, losses = maml.pretrain(body + wide, rng, loss_fn=maml.cross_entropy, **common)
    elif method in ("maml", "fomaml"):
        params, losses = maml.meta_train(body + head, rng, alpha=ALPHA,
                                         first_order=method == "fomaml",
                                         loss_fn=maml.cross_entropy, **common)
    elif method in ("maml-zero", "fomaml-zero"):
        params, losses = fewshot.zeroing_train(body + head, rng, alpha=ALPHA,
                                               first_order=method == "fomaml-zero", **common)
    elif method == "anil":
        params, losses = fewshot.anil_train(body + head, rng, alpha=ALPHA, **common)
    elif method in ("metasgd", "metasgd-layer"):
        params, step_sizes, losses = fewshot.learned_step_train(
            body + head, rng, alpha=ALPHA, per_weight=method == "metasgd", **common)
    else:
        params, losses = protonets.train(body, rng, **common)
    training = dict(config_of(args, method), training_classes=int(len(train_classes)),
                    seconds=round(time.perf_counter() - start, 1),
                    cpu_seconds=round(time.process_time() - cpu, 1))
    return dict(params=params, step_sizes=step_sizes, losses=losses, training=training)


def all_classes(sample, classes):
    """An episode sampler whose labels are the global training classes (one-hot over all of
    them), for training the plain classifier on the same images as the others."""
    position = {c: i for i, c in enumerate(classes)}

    def sample_global(meta_batch, k_support, k_query, rng):
        episodes = sample(meta_batch, k_support, k_query, rng)
        index = numpy.vectorize(position.get)(episodes.classes)            # (T, N)
        eye = numpy.eye(len(classes), dtype=numpy.float32)

        def relabel(y):  # (T, M, N) local one-hot -> (T, M, C) global one-hot
            return eye[numpy.take_along_axis(index, y.argmax(axis=2), axis=1)]
        return episodes._replace(y_support=relabel(episodes.y_support),
                                 y_query=relabel(episodes.y_query))
    return sample_global


def checkpoint_bytes(method, model):
    """One method's checkpoint: its params (and learned step sizes), how it was trained and
    its loss history."""
    history, block = cli.block_means(model["losses"])
    models = {None: model["params"]}
    if model["step_sizes"] is not None:
        models["step_sizes"] = model["step_sizes"]
    return checkpoints.encode_models(models, dict(method=method, training=model["training"],
                                                  losses=history, loss_block=block))


TRAINING_SCHEMA = dict(checkpoints.FEWSHOT_TRAINING, training_classes="positive count",
                       seconds="number", cpu_seconds="number")  # what train_one records


def load_all(folder, methods=TRAINED):
    """{method: model} from FOLDER/<method>.npz, each checked to be that method's (its
    training settings against TRAINING_SCHEMA), with the body BODY. Raises cli.UsageError in
    one line for a missing, corrupt or foreign file."""
    trained = {}
    for method in methods:
        path = os.path.join(folder, f"{method}.npz")
        try:
            step_sizes = None
            if method.startswith("metasgd"):
                models, metadata = checkpoints.load_models(path, names={None, "step_sizes"})
                if metadata.get("method") != method:
                    raise ValueError(f"not a checkpoint of {method!r}")
                training = checkpoints.check_schema(metadata.get("training"), TRAINING_SCHEMA,
                                                    "its training setting")
                losses = checkpoints.expect(metadata.get("losses"), "losses", "losses")
                checkpoints.check_extras(metadata)
                params, step_sizes = models[None], models["step_sizes"]
            else:
                params, training, losses = checkpoints.load_method(path, method,
                                                                   TRAINING_SCHEMA)
            sizes = [params[0][0].shape[0]] + [W.shape[1] for W, _ in params]
            body = list(BODY) if method in EMBEDDINGS else list(BODY) + [sizes[-1]]
            if method in HEAD_METHODS and sizes != [*BODY, N_WAY]:
                raise ValueError(f"its network has layers {sizes}, expected "
                                 f"{[*BODY, N_WAY]} ({N_WAY}-way)")
            if sizes != body:
                raise ValueError(f"its network has layers {sizes}, expected the body {BODY}"
                                 + ("" if method in EMBEDDINGS else " and an output layer"))
            check_agreement(method, params, step_sizes, training)
        except FileNotFoundError:
            raise cli.UsageError(f"--load {cli.shown(folder)}: no checkpoint "
                                 f"{cli.shown(path)}") from None
        except ValueError as e:
            raise cli.refused_checkpoint(path, e) from None
        trained[method] = dict(params=params, step_sizes=step_sizes, losses=losses,
                               training=training)
    first = next(iter(trained), None)
    for method in trained:  # one protocol: what every method shares must agree
        for key in SHARED_SETTINGS:
            a, b = trained[first]["training"][key], trained[method]["training"][key]
            if a != b:
                raise cli.UsageError(
                    f"--load {cli.shown(folder, 40)}: {first}.npz and {method}.npz were "
                    f"trained differently ({key}: {shown_setting(a)} vs {shown_setting(b)})")
    return trained


def check_agreement(method, params, step_sizes, training):
    """Raise a ValueError naming the setting if a checkpoint's training settings contradict its
    arrays or its method (the file's name): the body's layers, the output layer's width (its
    n_way, or the pretrained network's training classes), the ways and shots of the method's
    episodes, and the shapes of the learned step sizes (per weight or per layer)."""
    sizes = checkpoints.layers_of(params)
    body = sizes if method in EMBEDDINGS else sizes[:-1]
    checkpoints.check_agrees("body", training["body"], body, f"its body has layers {body}")
    _, ways, shots = METHODS[method]
    if method == "pretrained":
        checkpoints.check_agrees("training_classes", training["training_classes"], sizes[-1],
                                 f"its output layer has {sizes[-1]} units")
    elif method in HEAD_METHODS:
        checkpoints.check_agrees("n_way", training["n_way"], sizes[-1],
                                 f"its output layer has {sizes[-1]} units")
    checkpoints.check_agrees("n_way", training["n_way"], ways, f"{method} trains {ways}-way")
    checkpoints.check_agrees("shots", training["shots"], shots,
                             f"{method} trains {shots}-shot")
    if step_sizes is not None:
        wanted = "one per weight" if method == "metasgd" else "one per array"
        found = step_size_kind(params, step_sizes)
        if found != wanted:
            raise ValueError(f"its step sizes are {found}, but {method} learns {wanted}")


def step_size_kind(params, step_sizes):
    """Learned step sizes' shapes in words: 'one per weight' (params' shapes), 'one per array'
    ((1, 1) and (1,) per layer), or the number of pairs and the first pair's shapes."""
    shapes = [(numpy.shape(a), numpy.shape(c)) for a, c in step_sizes]
    if shapes == [(numpy.shape(W), numpy.shape(b)) for W, b in params]:
        return "one per weight"
    if shapes == [((1, 1), (1,))] * len(params):
        return "one per array"
    return f"{len(shapes)} pairs, the first of shapes {shapes[0][0]} and {shapes[0][1]}"


SHARED_SETTINGS = ("meta_batch", "queries", "alpha", "meta_lr", "seed", "body", "data")


def shown_setting(value):
    """A training setting as a message shows it: numbers with :g."""
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else str(value)[:40]


# --- evaluation ----------------------------------------------------------------------------------

def test_episodes(data, column, shots, n_episodes, seed):
    """The test episodes of one column: 5-way, evaluation scripts only, the classes drawn from
    all of them ("mixed") or from one ("within"); a seed of their own per column."""
    rng = numpy.random.default_rng([seed, 2017, shots, column == "within"])
    if column == "within":
        return glyphs.sample_within_script(data.images, data.evaluation, data.script, N_WAY,
                                           shots, EVAL_QUERIES, n_episodes, rng)
    return glyphs.sample_episodes(data.images, data.evaluation, N_WAY, shots, EVAL_QUERIES,
                                  n_episodes, rng)


def validation_episodes(data, shots, n_episodes, seed):
    """Episodes of the validation scripts, where every read-out setting is chosen."""
    _, validation = glyphs.validation_split(data)
    return glyphs.sample_episodes(data.images, validation, N_WAY, shots, EVAL_QUERIES,
                                  n_episodes, numpy.random.default_rng([seed, 1703, shots]))


def fresh_head(params):
    """A network's body with a new N-way output layer of zeros."""
    return params[:-1] + [(numpy.zeros((BODY[-1], N_WAY)), numpy.zeros(N_WAY))]


def own_curve(method, model, episodes, steps, alpha=None):
    """The accuracy of each episode read out the method's own way, after 0..steps inner
    steps: (steps + 1, T). alpha: the pretrained network's fine-tuning step size."""
    params = model["params"]
    if method == "pretrained":
        return fewshot.maml_curve(fresh_head(params), episodes, alpha, steps)
    if method in ("maml-zero", "fomaml-zero"):
        return fewshot.maml_curve(fewshot.zero_head(params), episodes, ALPHA, steps)
    if method in ("maml", "fomaml"):
        return fewshot.maml_curve(params, episodes, ALPHA, steps)
    if method == "anil":
        return fewshot.anil_curve(params, episodes, ALPHA, steps)
    if method.startswith("metasgd"):
        return fewshot.learned_step_curve(params, model["step_sizes"], episodes, steps)
    if method == "nearest":
        return glyphs.nearest_neighbour_accuracy(episodes)[None]
    return protonets.evaluate(params, episodes)[None]


def readout_scores(kind, z, episodes, setting):
    """Per-episode accuracy (T,) of a read-out of features z = (support, query)."""
    zs, zq = z
    if kind == "cosine":
        scores = fewshot.cosine_centroid(zs, episodes.y_support, zq)
    elif kind == "logistic":
        scores = fewshot.logistic_regression(zs, episodes.y_support, zq, setting["l2"])
    else:
        scores = fewshot.linear_head(zs, episodes.y_support, zq, setting["alpha"],
                                     setting["steps"])[-1]
    return fewshot.accuracy(scores, episodes.y_query)


def choose(method, model, validation, z):
    """Every read-out setting for one method and K, chosen on the validation episodes (the
    highest mean accuracy, the first on ties): {l2, alpha, steps, validation accuracy of each
    read-out}."""
    zs, zq = z
    y_s, y_q = validation.y_support, validation.y_query
    l2 = {c: fewshot.accuracy(fewshot.logistic_regression(zs, y_s, zq, c), y_q).mean()
          for c in L2_GRID}
    head = {}
    for a in HEAD_ALPHAS:
        scores = fewshot.linear_head(zs, y_s, zq, a, max(HEAD_STEPS))
        head.update({(a, s): fewshot.accuracy(scores[s], y_q).mean() for s in HEAD_STEPS})
    best_l2 = max(L2_GRID, key=lambda c: l2[c])
    best_head = max(head, key=lambda key: head[key])
    chosen = dict(l2=best_l2, alpha=best_head[0], steps=best_head[1],
                  validation=dict(logistic=float(l2[best_l2]), linear=float(head[best_head])))
    return chosen


def embed(method, model, episodes):
    """(support features, query features) of a trained body."""
    embedding = method in EMBEDDINGS
    return tuple(fewshot.features(model["params"], x, embedding)
                 for x in (episodes.x_support, episodes.x_query))


def evaluate_all(trained, data, args, dedup):
    """The report: every method read out every way on every column's test episodes, the
    settings chosen on validation episodes, the curves, the label-permutation measurement;
    dedup: split_report's, obtained before training.
    With --jobs N, N processes evaluate the methods side by side (each method's numbers are
    computed the same way whichever process does it: the report is the same bytes)."""
    maml.keep_freed_memory()  # per-task weights, fresh each step: no page faults for them
    columns = {(c, k): test_episodes(data, c, k, args.eval_episodes, args.seed)
               for c, k in COLUMNS}
    validation = {k: validation_episodes(data, k, args.val_episodes, args.seed)
                  for k in EVAL_SHOTS}
    # what every job reads, set before the worker processes fork so that they inherit it
    # instead of receiving a pickled copy of the episodes each (hundreds of MB)
    SHARED.update(trained=trained, columns=columns, validation=validation, args=args)
    jobs = [(evaluate_named, (m, k)) for m in trained for k in EVAL_SHOTS]
    done = run_jobs(jobs, args.jobs, not args.quiet)
    SHARED.clear()
    results, curves, chosen, permutation = [], [], {}, {}
    for (_, (method, k)), (rows, curve_rows, setting, permuted) in zip(jobs, done):
        results += rows
        curves += curve_rows
        chosen.setdefault(method, {})[k] = setting
        if permuted is not None:
            permutation[method] = permuted
    for (column, k), episodes in columns.items():
        results.append(dict(method="nearest", readout="own", column=column, shots=k,
                            **cell(glyphs.nearest_neighbour_accuracy(episodes))))
    return report_json(results, curves, chosen, permutation, trained, data, args, dedup)


SHARED = {}


def evaluate_named(method, shots):
    """evaluate_method for one method and K, reading the models and episodes from SHARED."""
    return evaluate_method(method, shots, SHARED["trained"][method], SHARED["columns"],
                           SHARED["validation"], SHARED["args"])


def split_report(args, data):
    """glyphs.split_report() for the glyphs (its cached file checked against the classes of
    `data`), None for Omniglot."""
    if args.omniglot:
        return None
    training, validation = glyphs.validation_split(data)
    return glyphs.split_report(kept=(len(training), len(validation), len(data.evaluation)))


def run_jobs(jobs, n_processes, progress):
    """[function(*arguments) for function, arguments in jobs], in `n_processes` processes
    forked from this one (1: in this process), in the order given."""
    def announce(i):  # a job per method and K: each said once
        if progress:
            method, shots = jobs[i][1]
            print(f"evaluating {method}, {shots}-shot", file=sys.stderr, flush=True)

    if n_processes == 1:
        done = []
        for i, (function, arguments) in enumerate(jobs):
            announce(i)
            done.append(function(*arguments))
        return done
    import concurrent.futures
    import multiprocessing
    with concurrent.futures.ProcessPoolExecutor(
            n_processes, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(function, *arguments) for function, arguments in jobs]
        for i, future in enumerate(futures):
            future.result()
            announce(i)
        return [future.result() for future in futures]


def evaluate_method(method, shots, model, columns, validation, args):
    """One method on the columns of K = shots: (result rows, curve rows, the settings chosen
    on validation, the label-permutation measurement (K = 1) or None)."""
    setting = choose(method, model, validation[shots], embed(method, model, validation[shots]))
    results, curves, before = [], [], None
    for (column, k), episodes in columns.items():
        if k != shots:
            continue
        curve = None if method == "pretrained" else own_curve(
            method, model, episodes, CURVE_STEPS if column == "mixed" else 1)
        if (column, k) == ("mixed", 1) and method in HEAD_METHODS:
            before = curve[1]
        z = embed(method, model, episodes)
        rows = {kind: readout_scores(kind, z, episodes, setting)
                for kind in ("cosine", "logistic", "linear")}
        if method != "pretrained":  # its own read-out: a new head fine-tuned, the linear one
            rows = {"own": curve[min(1, len(curve) - 1)], **rows}
            if column == "mixed" and len(curve) > 1:
                curves += [dict(method=method, shots=k, steps=s, **cell(curve[s]))
                           for s in range(len(curve))]
        for kind, per_episode in rows.items():
            results.append(dict(method=method, readout=kind, column=column, shots=k,
                                **cell(per_episode)))
    permuted = None if before is None else label_permutation(
        method, model, columns["mixed", 1], args.seed, before)
    return results, curves, setting, permuted


def measure_speed(data, args, repeats=3):
    """{method: {episodes_per_second, peak_mb_per_iteration}} of training, measured
    round-robin in this process (cli.measure)."""
    sample = glyphs.episode_sampler(data.images, glyphs.validation_split(data)[0], N_WAY,
                                    QUERIES)
    body = maml.init_mlp(BODY, numpy.random.default_rng(0), std=0.05)
    head = maml.init_mlp((BODY[-1], N_WAY), numpy.random.default_rng(0), std=0.05)
    runs = {
        "maml": lambda n: maml.meta_train(body + head, numpy.random.default_rng(1), n, META_BATCH,
                                          1, ALPHA, sample_tasks=sample,
                                          loss_fn=maml.cross_entropy),
        "fomaml": lambda n: maml.meta_train(body + head, numpy.random.default_rng(1), n,
                                            META_BATCH, 1, ALPHA, first_order=True,
                                            sample_tasks=sample, loss_fn=maml.cross_entropy),
        "protonets": lambda n: protonets.train(body, numpy.random.default_rng(1), n, sample,
                                               META_BATCH, 1)}
    return {m: dict(episodes_per_second=META_BATCH / seconds, peak_mb_per_iteration=mb / 1e6)
            for m, (seconds, mb) in cli.measure(runs, args.speed_iterations, repeats).items()}


def cell(per_episode):
    """{accuracy, ci95} of per-episode accuracies."""
    mean, half = fewshot.interval(per_episode)
    return dict(accuracy=mean, ci95=half)


def label_permutation(method, model, episodes, seed, before):
    """A method's own read-out (one inner step, K = 1) on the test episodes with each one's
    labels permuted at random, against `before`, its accuracy on them as given (T,):
    {accuracy, accuracy_permuted, mean_abs_change, max_abs_change, episodes_changed,
    episodes}."""
    shuffled, _ = fewshot.permute_labels(episodes, numpy.random.default_rng([seed, 7]))
    after = own_curve(method, model, shuffled, 1)[1]
    change = numpy.abs(after - before)
    return dict(accuracy=float(before.mean()), accuracy_permuted=float(after.mean()),
                mean_abs_change=float(change.mean()), max_abs_change=float(change.max()),
                episodes_changed=int((change > 0).sum()), episodes=len(before))


# --- report --------------------------------------------------------------------------------------

def report_json(results, curves, chosen, permutation, trained, data, args, dedup):
    """Everything needed to read or redo the numbers."""
    train_classes, validation = glyphs.validation_split(data)
    return dict(
        papers=["Finn, Abbeel & Levine 2017, arXiv:1703.03400 (MAML)",
                "Snell, Swersky & Zemel 2017, arXiv:1703.05175 (Prototypical Networks)",
                "Chen et al. 2019, arXiv:1904.04232 (A Closer Look at Few-shot Classification)",
                "Tian et al. 2020, arXiv:2003.11539 (Rethinking Few-Shot Image Classification)",
                "Kao, Chiu & Chen 2022, ICLR (MAML is a Noisy Contrastive Learner: zeroing)",
                "Raghu et al. 2020, ICLR (Rapid Learning or Feature Reuse?: ANIL)",
                "Li et al. 2017, arXiv:1707.09835 (Meta-SGD)"],
        data=dict(source=f"Omniglot at {args.omniglot}" if args.omniglot else
                  f"glyphs.py, seed {args.seed}", classes=int(len(data.images)),
                  background_classes=int(len(data.background)),
                  training_classes=int(len(train_classes)),
                  validation_classes=int(len(validation)),
                  validation_scripts=sorted(set(data.script[validation].tolist())),
                  evaluation_classes=int(len(data.evaluation)),
                  evaluation_scripts=sorted(set(data.script[data.evaluation].tolist())),
                  instances=int(data.images.shape[1]),
                  dedup=dedup),
        training={m: model["training"] for m, model in trained.items()},
        evaluation=dict(n_way=N_WAY, shots=list(EVAL_SHOTS), queries_per_class=EVAL_QUERIES,
                        episodes=args.eval_episodes, validation_episodes=args.val_episodes,
                        columns={"mixed": "the 5 classes drawn from all evaluation classes",
                                 "within": "the 5 classes drawn from one evaluation script, "
                                           "the script uniformly among those with 5 or more"},
                        maml_alpha=ALPHA, curve_steps=CURVE_STEPS,
                        interval="95%: mean ± 1.96·std/√episodes (sample std)"),
        methods={m: METHODS[m][0] for m in trained} | {"nearest": "pixel 1-NN"},
        readouts=READOUTS,
        chosen={m: {str(k): v for k, v in by_k.items()} for m, by_k in chosen.items()},
        results=results, curves=curves, label_permutation=permutation)


def result_rows(report):
    """{(method, readout, column, shots): row} of a report."""
    return {(r["method"], r["readout"], r["column"], r["shots"]): r for r in report["results"]}


def kinds(rows, method):
    """The read-outs a method has rows for, in READOUTS' order (the pretrained network has no
    read-out of its own beyond the new heads)."""
    return [kind for kind in READOUTS if (method, kind, "mixed", 1) in rows]


def table(report, committed=None):
    """The printed summary, under 100 columns: accuracy ± 95% interval per method and
    read-out, the four columns; beside each row the committed models' accuracy where this run
    is not theirs."""
    rows = result_rows(report)
    old = result_rows(committed) if committed else {}
    n = report["evaluation"]["episodes"]
    lines = [f"evaluated: {n:,} test episodes per column, {N_WAY}-way, "
             f"{report['data']['evaluation_classes']} evaluation classes; accuracy % ± 95%",
             f"{'method':<23}{'read-out':<20}" + "".join(
                 f"{f'{c} {k}-shot':>14}" for c, k in COLUMNS)]
    for method in [*report["training"], "nearest"]:
        for kind in kinds(rows, method):
            label = report["methods"][method] if kind == kinds(rows, method)[0] else ""
            name = OWN.get(method, "") if kind == "own" else READOUTS[kind]
            if len(label) > 22:  # too long for its column: whole, on a line of its own
                lines.append(label)
                label = ""
            if len(name) > 19:
                lines.append(f"{'':<23}{name}")
                name = ""
            cells = [rows[method, kind, c, k] for c, k in COLUMNS]
            lines.append(f"{label:<23}{name:<20}" + "".join(
                f"{100 * r['accuracy']:>8.1f} ±{100 * r['ci95']:4.1f}" for r in cells))
            if old and (method, kind, "mixed", 1) in old:
                lines.append(f"{'  the committed models':<43}" + "".join(
                    f"{100 * old[method, kind, c, k]['accuracy']:>8.1f}      " for c, k in COLUMNS))
    lines.append("the mixed 1-shot episodes with their labels permuted, each method's own "
                 "inner step:")
    for method, p in report["label_permutation"].items():
        label = report["methods"][method]
        if len(label) > 26:  # whole, on a line of its own
            lines.append(f"  {label}")
            label = ""
        lines.append(f"  {label:<27}{100 * p['accuracy']:5.1f}% -> "
                     f"{100 * p['accuracy_permuted']:5.1f}%, {p['episodes_changed']:,} of "
                     f"{p['episodes']:,} episodes changed")
    if committed:
        lines.append("(the committed models, trained longer: docs/fewshot/fewshot.json;\n"
                     " this run's figures are the rows above theirs)")
    return "\n".join(line.rstrip() for line in "\n".join(lines).splitlines())


def committed_report(report):
    """The committed docs/fewshot/fewshot.json, if this run is not the one that made it and
    was evaluated on the same data and episodes: so that a short run is read beside the
    committed models. Else None."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "docs", "fewshot",
                               "fewshot.json"), encoding="utf-8") as f:
            committed = json.load(f)
        if committed["training"] == report["training"] or (
                committed["data"]["source"], committed["evaluation"]["episodes"]) != (
                report["data"]["source"], report["evaluation"]["episodes"]):
            return None
        result_rows(committed)
        return committed
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cell_text(r):
    """'87.8 ± 0.6' from a result row."""
    return f"{100 * r['accuracy']:.1f} ± {100 * r['ci95']:.1f}"


def markdown_table(report):
    """The table of docs/fewshot.md, made from fewshot.json (test_readme.py checks they agree):
    accuracy % ± 95% interval of every method and read-out, 5-way, the four columns."""
    rows = result_rows(report)
    lines = ["| body | read-out | 1-shot | 5-shot | 1-shot, within a script "
             "| 5-shot, within a script |", "|---|---|---|---|---|---|"]
    for method in [*report["training"], "nearest"]:
        for kind in kinds(rows, method):
            name = OWN.get(method, "") if kind == "own" else READOUTS[kind]
            label = report["methods"][method] if kind == kinds(rows, method)[0] else ""
            lines.append(f"| {label} | {name} | " + " | ".join(
                cell_text(rows[method, kind, c, k]) for c, k in COLUMNS) + " |")
    return "\n".join(lines)


def curves_figure(report):
    """Accuracy against test-time inner steps (mixed columns), each method at its own step
    size; the two rows the page compares, which take no steps, flat: the pretrained network
    read out by logistic regression and ProtoNets (trained 5-way like the others)."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(EVAL_SHOTS), figsize=(12, 4.6), sharey=True)
    rows = result_rows(report)
    for ax, shots in zip(axes, EVAL_SHOTS):
        for i, method in enumerate(dict.fromkeys(c["method"] for c in report["curves"])):
            points = [c for c in report["curves"] if c["method"] == method and
                      c["shots"] == shots]
            steps = numpy.array([c["steps"] for c in points])
            mean = numpy.array([100 * c["accuracy"] for c in points])
            half = numpy.array([100 * c["ci95"] for c in points])
            label = report["methods"][method]
            ax.plot(steps, mean, color=f"C{i}", marker="o", ms=3, label=label)
            ax.fill_between(steps, mean - half, mean + half, color=f"C{i}", alpha=0.15, lw=0)
        for j, (method, kind) in enumerate((("pretrained", "logistic"), ("protonets", "own"))):
            if (method, kind, "mixed", shots) in rows:
                r = rows[method, kind, "mixed", shots]
                ax.axhline(100 * r["accuracy"], color="k", ls=("--", ":")[j], lw=1,
                           label=f"{report['methods'][method]}, "
                                 f"{OWN[method] if kind == 'own' else READOUTS[kind]} "
                                 "(no steps)")
        ax.set_title(f"{N_WAY}-way {shots}-shot, evaluation scripts (mixed)")
        ax.set_xticks(range(CURVE_STEPS + 1))
        ax.set_xlabel(f"inner steps at test time (MAML's α = {ALPHA:g}; Meta-SGD's learned)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"query accuracy, % ({report['evaluation']['episodes']:,} episodes, "
                       "95% band)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", fontsize=8,
               frameon=False, ncol=3)
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    return fig


def episode_figure(trained, data, args, report):
    """One 5-way 1-shot test episode of the within-a-script column (where the methods differ
    most): the support images, then two queries of each class with a few methods'
    predictions, green if right, red if wrong. The pretrained network is read out as the page
    compares it, by logistic regression with the λ chosen on validation (report's)."""
    episode = test_episodes(data, "within", 1, 1, args.seed)
    x_s, y_s, x_q, y_q = (a[0] for a in episode[:4])
    queries = numpy.array([c * EVAL_QUERIES + j for c in range(N_WAY) for j in range(2)])
    one = episode._replace(x_query=episode.x_query[:, queries],
                           y_query=episode.y_query[:, queries])
    guesses = {}
    for method in ("maml", "maml-zero", "pretrained", "protonets"):
        if method not in trained:
            continue
        z = embed(method, trained[method], one)
        if method == "pretrained":
            l2 = report["chosen"]["pretrained"]["1"]["l2"]
            scores = fewshot.logistic_regression(z[0], one.y_support, z[1], l2)
            label = "pretrained, logistic regression"
        elif method in EMBEDDINGS:
            scores = protonets.logits(trained[method]["params"], *one[:3])
            label = METHODS[method][0]
        else:
            params = trained[method]["params"]
            params = fewshot.zero_head(params) if method == "maml-zero" else params
            adapted = maml.adapt(params, one.x_support, one.y_support, ALPHA,
                                 loss_fn=maml.cross_entropy)
            scores = maml.mlp(adapted, one.x_query)
            label = METHODS[method][0] + ", one step"
        guesses[label] = numpy.argmax(scores[0], axis=-1)
    nearest = numpy.argmin(((x_q[queries, None] - x_s[None]) ** 2).sum(-1), axis=1)
    guesses["pixel 1-NN"] = y_s.argmax(-1)[nearest]
    script = data.script[episode.classes[0, 0]]
    return figures.episode(x_s, y_s.argmax(-1), x_q[queries], y_q[queries].argmax(-1), guesses,
                           f"One held-out episode, five letters of one script ({script})",
                           f"two of the {EVAL_QUERIES} queries of each class")


# --- the command line ----------------------------------------------------------------------------

def method_list(text):
    """An argparse type for --methods: names of METHODS, comma-separated, in METHODS' order."""
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown method {cli.shown(unknown[0], 30)} "
                                         "(--help lists them)")
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise argparse.ArgumentTypeError(f"names {twice!r} twice")
    return [m for m in METHODS if m in names]


def parse_args(argv):
    """Parse and check the command line, paths included; raises cli.UsageError."""
    p = cli.OneLineParser(description="Few-shot classification: MAML, its fixes, ProtoNets and "
                          "a pretrained network, each read out several ways, on glyphs made "
                          "from matplotlib's fonts (or Omniglot).",
                          formatter_class=cli.HelpFormatter, allow_abbrev=False)
    p.add_argument("--iterations", type=cli.ITERATIONS, default=300,
                   help="training iterations per method, 1 to 10,000,000")
    p.add_argument("--methods", type=method_list,
                   default=list(METHODS),
                   help=f"the methods to train or load, comma-separated (default all: "
                        f"{', '.join(METHODS)})")
    p.add_argument("--eval-episodes", type=cli.EVAL_TASKS, default=1000,
                   help="test episodes per column (1 and 5 shots, mixed and within a script), "
                        "2 to 100,000")
    p.add_argument("--val-episodes", type=cli.EVAL_TASKS, default=300,
                   help="validation episodes for each K, where read-out settings are chosen")
    p.add_argument("--seed", type=cli.SEED, default=0,
                   help="seed of the glyphs, the weights and the episodes")
    p.add_argument("--omniglot", metavar="FOLDER",
                   help="use Omniglot instead of the glyphs: a folder holding images_background "
                        "and images_evaluation (folders or the official zips)")
    p.add_argument("--out", default="figures/fewshot", help="folder for the results and figures")
    p.add_argument("--save", metavar="FOLDER", help="save each method's checkpoint there")
    p.add_argument("--force", action="store_true", help="let --save replace checkpoints")
    p.add_argument("--train-only", action="store_true",
                   help="train and --save the models, evaluate nothing (to train methods in "
                        "separate processes)")
    p.add_argument("--load", metavar="FOLDER",
                   help="evaluate saved checkpoints (FOLDER/<method>.npz) instead of training")
    p.add_argument("--speed-iterations", type=cli.whole(0, 1000), default=0,
                   help="iterations per speed measurement of MAML, first-order MAML and "
                        "ProtoNets, up to 1,000; 0 (the default) skips it")
    p.add_argument("--jobs", type=cli.whole(1, 64), default=1,
                   help="processes evaluating the methods side by side (the results are the "
                        "same for any number)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    cli.add_threads_flag(p)
    args = cli.parse(p, argv)
    if args.load is not None and (args.save is not None or "--iterations" in cli.typed(argv)
                                  or args.train_only):
        raise cli.UsageError("--load evaluates saved checkpoints: drop --save, --iterations "
                             "and --train-only")
    if args.train_only and not args.save:
        raise cli.UsageError("--train-only saves the models and nothing else: give --save")
    if args.omniglot is not None and not os.path.isdir(args.omniglot):
        raise cli.UsageError(f"--omniglot {cli.shown(args.omniglot)}: " + (
            "not a folder" if os.path.lexists(args.omniglot) else "no such folder"))
    args.replaceable = cli.check_out_and_save(args, () if args.train_only else OUTPUTS,
                                              [f"{m}.npz" for m in args.methods])
    if args.load is not None and not os.path.isdir(args.load):
        raise cli.UsageError(f"--load {args.load!r}: no such folder of checkpoints")
    return args


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # loaded: no more interrupted_early
    cli.finish(main())
