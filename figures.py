"""Every figure of the demos, and the animation. Each function takes plain data (models,
held-out tasks, maml.Evaluation results) and returns a matplotlib Figure (or GIF bytes); the
demos render them to PNG in memory and commit them with the other outputs.

    adaptation(...)         the paper's Fig. 2: predictions before and after gradient steps
    animation_gif(...)      one wave, step by step, MAML beside the baseline
    what_maml_learned(...)  the learned starting points and where one step takes them
    curves(...)             the paper's Fig. 3: loss against test-time steps, one line per method
    training(...)           loss over training, one panel per model
    label_models(fig, text) which models a figure shows, in its corner
    episode(...)            one few-shot episode: support images, queries, each method's guesses
    glyph_scripts(...)      a sample of each script of the few-shot image set
"""
import os
import tempfile
import textwrap

import numpy

import maml
import tasks
from checks import checked

STEP_STYLES = [(0, "before any step", dict(color="0.45", ls=":", lw=1.8)),
               (1, "after 1 gradient step", dict(color="C0", ls="--", lw=1.8)),
               (10, "after 10 gradient steps", dict(color="C2", ls="-", lw=2.2))]
GRID = numpy.linspace(-5, 5, 200)[:, None]


def _plt():
    import matplotlib.pyplot as plt
    return plt


@checked
def spread_tasks(batch, n_tasks=3, among=60):
    """Indices of n_tasks waves spread from the lowest to the highest amplitude among the
    first held-out tasks, so a figure shows the whole family, not look-alikes."""
    among = min(among, len(batch.amplitude))
    order = numpy.argsort(batch.amplitude[:among])
    return [int(order[round(q * (among - 1))]) for q in numpy.linspace(0, 1, n_tasks)]


def label_models(fig, text):
    """Say which models a figure shows, in small grey type in its bottom-left corner (so that a
    figure read on its own, e.g. docs/best/'s, says what was trained): for figures with no
    legend along the bottom (the others take the words as their legend's title)."""
    fig.text(0.004, 0.004, text, ha="left", va="bottom", fontsize=8, color="0.35")
    return fig


def _adapted(params, batch, i, alpha, steps):
    """Task i after `steps` steps on its support set: (the prediction on GRID, the query MSE);
    NaN and inf if its fine-tuning diverged."""
    with numpy.errstate(over="ignore", invalid="ignore"):
        adapted = maml.adapt(params, batch.x_support[i], batch.y_support[i], alpha=alpha,
                             steps=steps)
        if not all(numpy.isfinite(w).all() for layer in adapted for w in layer):
            return numpy.full_like(GRID, numpy.nan), numpy.inf
        return maml.mlp(adapted, GRID), float(maml.loss(adapted, batch.x_query[i],
                                                        batch.y_query[i]))


@checked
def short(mse):
    """0.86, 12.31, 3e+05, or 'diverged': an MSE that keeps a note short."""
    if not numpy.isfinite(mse) or mse > 1e30:
        return "diverged"
    return f"{mse:.2f}" if mse < 100 else f"{mse:.0e}"


def _y_limits(curves, amplitude):
    """Limits that hold the true wave and every prediction, but not a runaway one."""
    values = numpy.concatenate([numpy.ravel(c) for c in curves])
    values = values[numpy.isfinite(values)]
    cap = 2.5 * amplitude + 2.0
    low, high = max(values.min(), -cap), min(values.max(), cap)
    pad = 0.08 * (high - low) + 0.1
    return low - pad, high + pad


@checked
def adaptation(params_by_model, batches, alpha, names, label=None):
    """The paper's Fig. 2. params_by_model {model: params}; batches {K: held-out Batch}.
    One column per (K, model), one row per wave (low, middle, high amplitude): the truth, the
    K support points, predictions before and after 1 and 10 steps, and each one's query MSE.
    label, if given, heads the legend: which models these are."""
    plt = _plt()
    columns = [(k, model) for k in batches for model in params_by_model]
    rows = spread_tasks(next(iter(batches.values())))
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(4 * len(columns), 3.3 * len(rows)),
                             sharex=True, squeeze=False)
    for col, (k, model) in enumerate(columns):
        batch = batches[k]
        for row, i in enumerate(rows):
            ax, amplitude = axes[row, col], batch.amplitude[i]
            truth = tasks.sinusoid(GRID, amplitude, batch.phase[i])
            ax.plot(GRID, truth, color="C3", lw=2.5, alpha=0.8, label="true function")
            ax.plot(batch.x_support[i], batch.y_support[i], "k^", ms=8,
                    label="the K support points")
            curves, scores = [truth], []
            for steps, name, style in STEP_STYLES:
                prediction, mse = _adapted(params_by_model[model], batch, i, alpha, steps)
                curves.append(prediction)
                ax.plot(GRID, curves[-1], label=name, **style)
                scores.append(short(mse))
            ax.text(0.02, 0.03, "query MSE  " + " → ".join(scores),
                    transform=ax.transAxes, fontsize=8.5, color="0.1",
                    bbox=dict(facecolor="white", alpha=0.85, edgecolor="none", pad=1.5))
            low, high = _y_limits(curves, amplitude)
            ax.set_ylim(low - 0.18 * (high - low), high)   # room for the note at the bottom
            if row == 0:
                ax.set_title(f"{names[model]}, K = {k}", fontsize=12)
            if row == len(rows) - 1:
                ax.set_xlabel("x")
            if col == 0:
                ax.set_ylabel(f"y   (amplitude {amplitude:.1f})")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=11,
               title=label, title_fontsize=10)
    fig.suptitle(f"Adapting to held-out sine waves by gradient steps (α = {alpha:g}); query MSE "
                 f"on {batch.x_query.shape[1]} points of each wave: before → after 1 → after 10 "
                 "steps", fontsize=13)
    fig.tight_layout(rect=(0, 0.065 if label else 0.04, 1, 1))
    return fig


@checked
def animation_gif(params_by_model, batch, alpha, names, max_steps=10, label=None):
    """One held-out wave (the highest-amplitude of spread_tasks) and its support points, each
    model fine-tuned step by step, the query MSE of each frame in the panel's title; label, if
    given, heads the legend: which models these are. Returns the GIF's bytes (Pillow, through
    matplotlib's PillowWriter)."""
    plt = _plt()
    from matplotlib.animation import FuncAnimation, PillowWriter
    i = spread_tasks(batch)[-1]
    truth = tasks.sinusoid(GRID, batch.amplitude[i], batch.phase[i])
    fig, axes = plt.subplots(1, len(params_by_model), figsize=(4.5 * len(params_by_model), 4.2),
                             sharey=True, squeeze=False)
    axes = axes[0]
    lines, frames = {}, {}
    for ax, (model, params) in zip(axes, params_by_model.items()):
        frames[model] = [_adapted(params, batch, i, alpha, s) for s in range(max_steps + 1)]
        ax.plot(GRID, truth, color="C3", lw=2.5, alpha=0.8, label="true function")
        ax.plot(batch.x_support[i], batch.y_support[i], "k^", ms=8,
                label=f"K = {batch.x_support.shape[1]} support points")
        lines[model], = ax.plot(GRID, frames[model][0][0], color="C0", lw=2.2,
                                label="prediction")
        ax.set_xlabel("x", fontsize=12)
        ax.tick_params(labelsize=11)
    axes[0].set_ylim(*_y_limits([truth] + [f[0] for m in frames for f in frames[m]],
                                batch.amplitude[i]))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=12,
               title=textwrap.fill(label, 85) if label else None, title_fontsize=9)
    order = list(range(max_steps + 1)) + [max_steps] * 3  # hold the last frame a little

    def draw(steps):
        for ax, model in zip(axes, params_by_model):
            prediction, mse = frames[model][steps]
            lines[model].set_ydata(prediction)
            ax.set_title(f"{names[model]}: {steps} step{'s' * (steps != 1)}, MSE {short(mse)}",
                         fontsize=13)
        return list(lines.values())

    fig.suptitle(f"One held-out wave, fine-tuned by gradient steps (α = {alpha:g})", fontsize=13)
    fig.tight_layout(rect=(0, (0.12 + 0.04 * len(textwrap.wrap(label, 85))) if label else 0.09,
                           1, 0.93))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "adaptation.gif")
        FuncAnimation(fig, draw, frames=order).save(path, writer=PillowWriter(fps=2), dpi=72)
        with open(path, "rb") as f:
            data = f.read()
    plt.close(fig)
    return data


@checked
def what_maml_learned(params_by_model, batch, alpha, names, n_waves=4, label=None):
    """The learned starting function f_θ of each model (black), and, for a few held-out waves
    of different amplitudes (one panel each), where one gradient step on K points takes it.
    label, if given, heads the legend: which models these are."""
    plt = _plt()
    waves = spread_tasks(batch, n_waves, among=200)
    fig, axes = plt.subplots(len(params_by_model), n_waves, figsize=(3.6 * n_waves, 7.2),
                             sharex=True, sharey=True, squeeze=False)
    for row, (model, params) in enumerate(params_by_model.items()):
        start = maml.mlp(params, GRID)
        for col, i in enumerate(waves):
            ax = axes[row, col]
            ax.plot(GRID, tasks.sinusoid(GRID, batch.amplitude[i], batch.phase[i]), color="C3",
                    lw=2.5, alpha=0.7, label="the held-out wave (true)")
            ax.plot(GRID, start, "k-", lw=2, label="f_θ: the learned start")
            _, mse_start = _adapted(params, batch, i, alpha, 0)
            prediction, mse = _adapted(params, batch, i, alpha, 1)
            ax.plot(GRID, prediction, color="C0", lw=1.8, ls="--",
                    label=f"after one step on K = {batch.x_support.shape[1]} points")
            ax.plot(batch.x_support[i], batch.y_support[i], "k^", ms=6)
            ax.set_title(f"{names[model]}, amplitude {batch.amplitude[i]:.1f}\nquery MSE: start "
                         f"{short(mse_start)}, after 1 step {short(mse)}", fontsize=10)
            ax.grid(alpha=0.3)
        axes[row, 0].set_ylabel("y")
    for ax in axes[-1]:
        ax.set_xlabel("x")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=10,
               title=label, title_fontsize=9)
    fig.suptitle(f"What MAML learned: a start from which one step (α = {alpha:g}) moves toward "
                 "the wave; the baseline's start is the average wave\n(each panel's query MSE: "
                 f"that model's, on {batch.x_query.shape[1]} points of that wave, before and after "
                 "its step)", fontsize=12)
    fig.tight_layout(rect=(0, 0.085 if label else 0.06, 1, 1))
    return fig


@checked
def curves(results, labels, ks, xlabel, ylabel, title=None, dashed=(), off_axis=(),
           diverged_row=False):
    """Loss against test-time gradient steps, one panel per K, one line and 95% band per
    method: results {(method, K): maml.Evaluation}, labels {method: legend text}. Bands are
    drawn only where the mean and interval are finite (tasks that diverged are not in them);
    a band whose lower end is at or below zero runs off the bottom of the (log) axis. Methods
    in off_axis (the oracle, orders of magnitude below the rest) are not drawn but written in
    each panel with their values, so that they do not squash everyone else's curves. With
    diverged_row, a second row shows the share of tasks that diverged after each step (the
    tasks the means above leave out), for the methods where any did."""
    plt = _plt()
    rows = 2 if diverged_row else 1
    fig, axes = plt.subplots(rows, len(ks), figsize=(4.6 * len(ks) + 2.4, 4.3 + 2.2 * (rows - 1)),
                             sharey="row", sharex="col", squeeze=False,
                             gridspec_kw=dict(height_ratios=[2.6, 1][:rows]))
    lows, highs = [], []
    for col, k in enumerate(ks):
        ax = axes[0, col]
        if diverged_row:
            _diverged_panel(axes[1, col], results, labels, k, dashed, first=col == 0)
        notes = []
        for i, (method, label) in enumerate(labels.items()):
            r = results[method, k]
            steps = numpy.arange(len(r.mean))
            ok = numpy.isfinite(r.mean) & numpy.isfinite(r.ci95)
            style = "--" if method in dashed else "-"
            if method in off_axis:
                shown = r.mean[numpy.isfinite(r.mean)]
                value = (f"{shown.min():.2g}" if numpy.allclose(shown, shown[0], rtol=0.05)
                         else f"{shown.min():.2g} to {shown.max():.2g}")
                notes.append(f"{label}: {value} at every step (far below, not drawn)")
                ax.plot([], [], style, marker="o", ms=3, color=f"C{i}", label=f"{label} ↓")
                continue
            ax.plot(steps[ok], r.mean[ok], style, marker="o", ms=3, color=f"C{i}", label=label)
            lower, upper = r.mean - r.ci95, r.mean + r.ci95
            lows += [r.mean[ok].min()] + list(lower[ok & (lower > 0)])
            highs += list(upper[ok])
            ax.fill_between(steps[ok], numpy.where(lower > 0, lower, 1e-300)[ok], upper[ok],
                            color=f"C{i}", alpha=0.15, lw=0)
            if (lower[ok] <= 0).any() and not any("bottom edge" in n for n in notes):
                notes.insert(0, "a band that runs off the bottom edge reaches below zero")
        if notes:
            ax.text(0.02, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=8,
                    color="0.25", va="bottom")
        ax.set_yscale("log")
        ax.set_title(f"K = {k} support points")
        if not diverged_row:
            ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
    if lows and highs:  # the axis holds every drawn mean and every band's positive part
        axes[0, 0].set_ylim(min(lows) / (2.5 if off_axis else 1.3), max(highs) * 1.3)
    axes[0, 0].set_ylabel(ylabel)
    handles, texts = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, texts, loc="center left", bbox_to_anchor=(0.995 - 2.3 / fig.get_figwidth(),
                                                                  0.5), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title)
    if diverged_row:  # one label under both rows and every column
        fig.supxlabel(xlabel, x=(1 - 2.4 / fig.get_figwidth()) / 2, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 2.4 / fig.get_figwidth(), 1))
    return fig


def _diverged_panel(ax, results, labels, k, dashed, first):
    """The share of tasks (%) whose fine-tuning diverged after each step, one line per method
    where any did; the others are named in the panel."""
    calm = []
    for i, (method, label) in enumerate(labels.items()):
        r = results[method, k]
        share = 100 * numpy.asarray(r.diverged, float) / r.per_task.shape[1]
        if not share.any():
            calm.append(label)
            continue
        ax.plot(numpy.arange(len(share)), share, "--" if method in dashed else "-", marker="o",
                ms=3, color=f"C{i}")
    if calm:
        ax.text(0.02, 0.95, f"none diverged: {len(calm)} of {len(labels)} methods",
                transform=ax.transAxes, fontsize=8, color="0.25", va="top")
    ax.set_ylim(-3, 103)
    if first:
        ax.set_ylabel("tasks diverged (%)")
    ax.grid(True, alpha=0.3)


@checked
def training(histories, block, titles, suptitle="Training curves (the same task stream for "
             "both)"):
    """Loss over training, one panel per model (they are different quantities): histories
    {model: block means of the loss}, each mean over `block` iterations. Log y axes, each
    labelled so, with the first and last points marked by their values."""
    plt = _plt()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    fig, axes = plt.subplots(1, len(histories), figsize=(5.5 * len(histories), 4.2),
                             squeeze=False)
    for i, (ax, (model, history)) in enumerate(zip(axes[0], histories.items())):
        merge = max(1, len(history) // 200)   # at most ~200 points: a readable line
        history = numpy.asarray(history[:len(history) // merge * merge]).reshape(-1, merge)
        x, y = (numpy.arange(len(history)) + 1) * block * merge, history.mean(axis=1)
        ax.plot(x, y, color=f"C{i}")
        ax.set_yscale("log")
        low, high = y.min(), y.max()
        ax.set_ylim(low / 1.25, high * 1.35)  # room for the labels of the ends
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        for where, align in ((0, "left"), (-1, "right")):  # the start and the end, as numbers
            ax.plot(x[where], y[where], "o", color=f"C{i}", ms=5)
            ax.annotate(f"{'first' if where == 0 else 'last'} {y[where]:.2f}",
                        (x[where], y[where]), textcoords="offset points", xytext=(0, 7),
                        ha=align, fontsize=9)
        ax.tick_params(labelsize=9)
        ax.set_title(titles[model], fontsize=11)
        ax.set_xlabel("training iteration")
        ax.set_ylabel(f"training loss, log scale\n(means of {block * merge:,} iterations)")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


@checked
def episode(x_support, labels_support, x_query, labels_query, guesses,
            what="One held-out episode", queries="each query"):
    """One N-way episode: the support images (one per class, labelled) on top, then one row
    per method of the query images, each framed green where the method's guess is right and red
    where it is wrong. Images (·, 784); guesses {method: (Q,) labels}; `what` starts the title,
    `queries` says which queries are shown."""
    plt = _plt()
    n_support, n_query = len(x_support), len(x_query)
    columns = max(n_support, n_query)
    fig, axes = plt.subplots(1 + len(guesses), columns,
                             figsize=(1.15 * columns + 1.6, 1.25 * (1 + len(guesses)) + 0.3),
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    for j in range(n_support):
        axes[0, j].imshow(x_support[j].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        axes[0, j].set_title(f"class {labels_support[j]}", fontsize=9)
    axes[0, 0].set_ylabel("support", fontsize=9, rotation=0, ha="right", va="center")
    for row, (method, guess) in enumerate(guesses.items(), start=1):
        axes[row, 0].set_ylabel(method, fontsize=9, rotation=0, ha="right", va="center")
        for j in range(n_query):
            ax = axes[row, j]
            ax.imshow(x_query[j].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
            right = guess[j] == labels_query[j]
            ax.set_frame_on(True)
            for spine in ax.spines.values():
                spine.set_color("tab:green" if right else "tab:red")
                spine.set_linewidth(3)
            ax.set_title(f"→ {guess[j]}" + ("" if right else f" (is {labels_query[j]})"),
                         fontsize=8, color="tab:green" if right else "tab:red")
    fig.suptitle(f"{what}: each method's guess for {queries} (green right, red wrong)",
                 fontsize=10)
    fig.tight_layout()
    return fig


MAX_SCRIPT_ROWS = 30  # glyph_scripts draws at most this many scripts (a row each, ~0.25 s)


def _font_chars():
    """The characters matplotlib's default font (DejaVu Sans) can draw."""
    global _FONT_CHARS
    if _FONT_CHARS is None:
        from matplotlib import font_manager, ft2font
        _FONT_CHARS = set(ft2font.FT2Font(font_manager.findfont("DejaVu Sans")).get_charmap())
    return _FONT_CHARS


_FONT_CHARS = None


def label_text(text, limit=40):
    """Any name (an alphabet's folder name, say) as label text matplotlib draws as written:
    characters the font lacks or that are not printable as \\uXXXX escapes, '$' escaped so
    that it starts no mathtext, cut to `limit` characters."""
    chars = _font_chars()
    text = "".join(c if c.isprintable() and ord(c) in chars else
                   c.encode("unicode_escape").decode("ascii") for c in str(text))
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text.replace("$", r"\$")


@checked
def glyph_scripts(glyphs, rng, characters=6, instances=3, validation=()):
    """A figure with one row per script (at most MAX_SCRIPT_ROWS: the first scripts of each
    split): `characters` random letters of it, `instances` random instances of each,
    labelled with the script, its part of the split (training, validation: the background
    classes in `validation`, or evaluation) and its number of letters (classes) once
    lookalikes are removed. Returns a matplotlib Figure (no pyplot, no window): save it with
    fig.savefig(path)."""
    from matplotlib.figure import Figure
    split = {s: "training" for s in glyphs.script[glyphs.background]}
    split.update({s: "validation" for s in glyphs.script[numpy.asarray(validation, int)]})
    split.update({s: "evaluation" for s in glyphs.script[glyphs.evaluation]})
    every = list(dict.fromkeys(glyphs.script))
    scripts = every
    if len(every) > MAX_SCRIPT_ROWS:
        first = [s for s in every if split[s] != "evaluation"][:MAX_SCRIPT_ROWS // 2]
        rest = [s for s in every if split[s] == "evaluation"] + [
            s for s in every if split[s] != "evaluation" and s not in first]
        scripts = first + rest[:MAX_SCRIPT_ROWS - len(first)]
    figure = Figure(figsize=(1.0 + 0.3 * characters * instances, 0.45 * len(scripts) + 0.6),
                    layout="constrained")
    axes = figure.subplots(len(scripts), 1, squeeze=False)[:, 0]
    for ax, script in zip(axes, scripts):
        members = numpy.flatnonzero(glyphs.script == script)
        picked = rng.choice(members, size=min(characters, len(members)), replace=False)
        shown = min(instances, glyphs.images.shape[1])
        tiles = [glyphs.images[c, j] for c in picked for j in
                 rng.choice(glyphs.images.shape[1], size=shown, replace=False)]
        gap = numpy.zeros((glyphs.images.shape[2], 4))  # a thin gap between characters
        groups = [numpy.hstack(tiles[i:i + shown]) for i in range(0, len(tiles), shown)]
        strip = numpy.hstack([part for group in groups for part in (group, gap)][:-1])
        ax.imshow(strip, cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"{label_text(script)}\n{split[script]}, {len(members)} letters",
                      rotation=0, ha="right", va="center", fontsize=8)
    counts = {part: sum(int((glyphs.script == s).sum()) for s in every if split[s] == part)
              for part in ("training", "validation", "evaluation")}
    some = "" if len(scripts) == len(every) else f" ({len(scripts)} shown)"
    figure.suptitle(f"{len(glyphs.images):,} letters (classes) of {len(every):,} scripts{some}, "
                    f"{glyphs.images.shape[1]} renderings of each; lookalikes kept once\n"
                    + " · ".join(f"{part} {n:,}" for part, n in counts.items() if n)
                    + f" letters\neach row: {characters} letters × {instances} renderings; "
                    "the number is the script's letters", fontsize=8)
    return figure
