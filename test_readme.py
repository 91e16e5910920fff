"""The README's and the docs pages' claims: the snippet prints what the README says, each table
is the one its JSON holds, and the committed checkpoints produce that JSON."""
import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def readme(name="README.md"):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


def test_every_docs_page_the_readme_links_exists():
    for link in re.findall(r"\]\((docs/[^)#]+)\)", readme()):
        assert os.path.exists(os.path.join(HERE, link)), link


def test_snippet_prints_what_the_readme_says():
    section = readme().split("## The idea in two functions", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    expected = section.split("prints", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    result = subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True,
                            text=True, check=True)
    assert result.stdout == expected


def test_results_table_matches_results_json():
    with open(os.path.join(HERE, "docs", "results.json"), encoding="utf-8") as f:
        results = {(r["model"], r["k"], r["steps"]): r for r in json.load(f)["results"]}
    rows = re.findall(r"^\| (\d+) \| (MAML|pretrained) \| (.+) \|$", readme(), flags=re.M)
    assert len(rows) == 6
    for k, model, cells in rows:
        ours = [c.strip().strip("*") for c in cells.split("|")][:3]
        for steps, cell in zip((1, 5, 10), ours):
            r = results[model.lower(), int(k), steps]
            assert cell == f"{r['mse']:.2f} ± {r['ci95']:.2f}", (model, k, steps)


@pytest.mark.parametrize("checkpoint, folder", [
    ("sinusoid.npz", "docs"),
    pytest.param("best.npz", os.path.join("docs", "best"), marks=pytest.mark.slow)])
def test_checkpoints_reproduce_results_json(tmp_path, checkpoint, folder):
    """docs/results.json is what the committed checkpoints give, not a hand-edited table."""
    import demo_sinusoid
    assert demo_sinusoid.main(["--load", os.path.join(HERE, "checkpoints", checkpoint),
                               "--out", str(tmp_path), "--quiet"]) == 0
    with open(tmp_path / "results.json", encoding="utf-8") as f:
        fresh = json.load(f)
    with open(os.path.join(HERE, folder, "results.json"), encoding="utf-8") as f:
        committed = json.load(f)
    assert fresh["training"] == committed["training"]
    for a, b in zip(fresh["results"], committed["results"]):
        assert (a["model"], a["k"], a["steps"]) == (b["model"], b["k"], b["steps"])
        assert abs(a["mse"] - b["mse"]) <= 1e-9 * b["mse"] and abs(a["ci95"] - b["ci95"]) <= 1e-9


def test_family_table_is_made_from_variants_json():
    import demo_variants
    with open(os.path.join(HERE, "docs", "variants.json"), encoding="utf-8") as f:
        data = json.load(f)
    assert demo_variants.markdown_table(data) in readme(os.path.join("docs", "variants.md"))
    assert data["protocol"]["training"]["iterations"] == 70000
    assert list(data["methods"]) == list(__import__("variants").METHODS)


def reproduce_variants(tmp_path, methods=None, folder="variants",
                       results=os.path.join("docs", "variants.json")):
    """The rows (of `methods`, or all) of a committed results file from the checkpoints in
    checkpoints/<folder>, on its 10,000 held-out tasks."""
    import demo_variants
    with open(os.path.join(HERE, results), encoding="utf-8") as f:
        committed = json.load(f)
    evaluation = committed["protocol"]["evaluation"]
    assert evaluation["held_out_tasks"] == 10000
    chosen = ["--methods", ",".join(methods)] if methods else []
    assert demo_variants.main(["--load", os.path.join(HERE, "checkpoints", folder), *chosen,
                               "--eval-tasks", "10000", "--speed-iterations", "0", "--quiet",
                               "--out", str(tmp_path)]) == 0
    with open(tmp_path / "variants.json", encoding="utf-8") as f:
        fresh = json.load(f)
    assert fresh["protocol"] == committed["protocol"]
    expected = [r for r in committed["results"] if not methods or r["method"] in methods]
    for a, b in zip(fresh["results"], expected, strict=True):
        assert (a["method"], a["k"], a["steps"], a["diverged"]) == (
            b["method"], b["k"], b["steps"], b["diverged"])
        assert abs(a["mse"] - b["mse"]) <= 1e-9 * b["mse"] and abs(a["ci95"] - b["ci95"]) <= 1e-9
    for method in fresh.get("step_sizes", {}):
        assert fresh["step_sizes"][method] == committed["step_sizes"][method]


@pytest.mark.slow  # a subset of test_variant_checkpoints_reproduce_variants_json
def test_learned_step_checkpoints_reproduce_variants_json(tmp_path):
    reproduce_variants(tmp_path, ["meta-sgd"])


@pytest.mark.slow
def test_the_140k_checkpoints_reproduce_their_results(tmp_path):
    """docs/variants.md's 0.390: checkpoints/variants-140k, --load, 10,000 held-out tasks."""
    reproduce_variants(tmp_path, ["maml-1", "meta-sgd"], "variants-140k",
                       os.path.join("docs", "meta-sgd-runs", "140k.json"))


@pytest.mark.slow
def test_variant_checkpoints_reproduce_variants_json(tmp_path):
    reproduce_variants(tmp_path)


def test_best_configuration_table_is_the_committed_evaluations():
    """docs/results.md's best-configuration table: each held-out cell (K = 5, 1 / 5 / 10 steps)
    is what the committed 10,000-task evaluation of that row's model holds."""
    import cli

    def cells(path, key, name):
        with open(os.path.join(HERE, "docs", *path.split("/")), encoding="utf-8") as f:
            report = json.load(f)
        held_out = report.get("evaluation", report.get("protocol", {}).get("evaluation"))
        assert held_out["held_out_tasks"] == 10000
        rows = {(x[key], x["k"], x["steps"]): x for x in report["results"]}
        return [cli.mean_and_interval(r["mse"], r["ci95"]) + (
            f" ({r['diverged']:,} div.)" if r.get("diverged") else "")
            for r in (rows[name, 5, s] for s in (1, 5, 10))], report

    page = readme(os.path.join("docs", "results.md")).splitlines()
    for tag, path, key, name in (
            ("checkpoints/sinusoid.npz", "results-10000.json", "model", "maml"),
            ("checkpoints/best.npz", "best/results-10000.json", "model", "maml"),
            ("checkpoints/variants/meta-sgd.npz", "variants.json", "method", "meta-sgd"),
            ("checkpoints/variants/per-layer-alpha.npz", "variants.json", "method",
             "per-layer-alpha")):
        row = [line for line in page if f"(`{tag}`) |" in line]
        assert len(row) == 1, tag
        expected, report = cells(path, key, name)
        assert [c.strip().strip("*") for c in row[0].split("|")[3:6]] == expected, row
    _, best = cells("best/results-10000.json", "model", "maml")
    assert (best["training"]["meta_batch"], best["training"]["iterations"]) == (100, 70000)


@pytest.mark.slow
def test_best_checkpoint_reproduces_its_10000_task_results(tmp_path):
    import demo_sinusoid
    assert demo_sinusoid.main(["--load", os.path.join(HERE, "checkpoints", "best.npz"),
                               "--eval-tasks", "10000", "--quiet", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "results.json", encoding="utf-8") as f:
        fresh = json.load(f)
    with open(os.path.join(HERE, "docs", "best", "results-10000.json"), encoding="utf-8") as f:
        committed = json.load(f)
    assert fresh == committed


def test_ten_thousand_task_table_is_results_10000_json():
    """docs/results.md's 10,000-task table: every cell is what docs/results-10000.json holds."""
    import cli
    with open(os.path.join(HERE, "docs", "results-10000.json"), encoding="utf-8") as f:
        report = json.load(f)
    assert report["evaluation"]["held_out_tasks"] == 10000
    rows = {(r["model"], r["k"], r["steps"]): r for r in report["results"]}
    found = re.findall(r"^\| (\d+) \| (MAML|pretrained) \| (\d+) \| [^|]+ \| ([^|]+) \| ([^|]+) "
                       r"\| (\d+) \| ([^|]+) \|$", readme(os.path.join("docs", "results.md")),
                       flags=re.M)
    assert len(found) == 18
    for k, model, steps, cell, median, diverged, plain in found:
        r = rows[model.lower(), int(k), int(steps)]
        assert cell.strip() == cli.mean_and_interval(r["mse"], r["ci95"])
        assert float(median) == pytest.approx(r["median"], rel=5e-3)
        assert int(diverged) == r["diverged"]
        assert plain.strip() == ("inf" if r["plain_mean"] is None else f"{r['plain_mean']:.3g}")


def fewshot_report():
    with open(os.path.join(HERE, "docs", "fewshot", "fewshot.json"), encoding="utf-8") as f:
        return json.load(f)


def test_fewshot_table_is_made_from_fewshot_json():
    import demo_fewshot
    report = fewshot_report()
    page = readme(os.path.join("docs", "fewshot.md"))
    assert demo_fewshot.markdown_table(report) in page
    assert report["evaluation"]["episodes"] >= 1000
    assert set(report["training"]) == set(demo_fewshot.METHODS)


def test_every_interval_the_fewshot_page_and_readme_quote_is_a_measured_cell():
    """'87.8 ± 0.6' anywhere in docs/fewshot.md or the README's few-shot section is some
    method's accuracy in fewshot.json, and every bare 'NN.N%' is one too (or a difference of
    two, or a permutation figure, stated next to a 'points' or 'changed')."""
    import demo_fewshot
    report = fewshot_report()
    cells = {demo_fewshot.cell_text(r) for r in report["results"]}
    cells |= {demo_fewshot.cell_text(c) for c in report["curves"]}
    means = {f"{100 * r['accuracy']:.1f}" for r in [*report["results"], *report["curves"]]}
    means |= {f"{100 * p[k]:.1f}" for p in report["label_permutation"].values()
              for k in ("accuracy", "accuracy_permuted")}
    means |= {f"{100 * v:.1f}" for by_k in report["chosen"].values() for c in by_k.values()
              for v in c["validation"].values()}  # the validation accuracies that chose
    page = readme(os.path.join("docs", "fewshot.md"))
    section = readme().split("## Few-shot classification", 1)[1].split("\n## ", 1)[0]
    for text in (page, section):
        for quoted in re.findall(r"\d+\.\d ± \d+\.\d", text):
            assert quoted in cells, quoted
        for number in re.findall(r"(?<!± )(?<!\d)(\d+\.\d)%", text):
            assert number in means, number


def test_the_fewshot_page_states_the_split_and_the_permutation_measured():
    report = fewshot_report()
    page = readme(os.path.join("docs", "fewshot.md"))
    dedup = report["data"]["dedup"]
    removed = dedup["before"]["evaluation"] - dedup["after"]["evaluation"]
    assert f"{removed} evaluation classes" in page
    assert f"{dedup['before']['evaluation']} to {dedup['after']['evaluation']}" in page
    assert f"RMS {dedup['across']:g}" in page
    for method, p in report["label_permutation"].items():
        claim = f"{p['episodes_changed']} of {p['episodes']:,}"
        assert claim in page, (method, claim)
    zero = [m for m in report["label_permutation"] if m.endswith("-zero")]
    assert zero and all(report["label_permutation"][m]["episodes_changed"] == 0 for m in zero)
    for method, training in report["training"].items():
        assert f"{training['iterations']:,}" in page, method


def test_the_permutation_table_gives_the_mean_change_of_a_changed_episode():
    """docs/fewshot.md's table: 'mean change of a changed episode' is fewshot.json's mean
    absolute change over all episodes, divided by the share of episodes that changed."""
    report = fewshot_report()
    page = readme(os.path.join("docs", "fewshot.md"))
    for method, p in report["label_permutation"].items():
        if p["episodes_changed"]:
            points = 100 * p["mean_abs_change"] * p["episodes"] / p["episodes_changed"]
            row = f"| {p['episodes_changed']} of {p['episodes']:,} | {points:.1f} points |"
            assert row in page, (method, row)


def test_the_extra_meta_sgd_runs_quoted_are_their_files():
    """docs/variants.md quotes four extra runs beside its table (three Meta-SGD recipes whose
    models are not committed; Meta-SGD and MAML trained for 140,000 iterations, committed in
    checkpoints/variants-140k): every method's K = 5, one-step figure is its file's."""
    page = readme(os.path.join("docs", "variants.md"))
    for name in ("k5", "meta-batch-100", "cosine", "140k"):
        with open(os.path.join(HERE, "docs", "meta-sgd-runs", f"{name}.json")) as f:
            rows = [r for r in json.load(f)["results"] if r["k"] == 5 and r["steps"] == 1]
        assert rows
        for row in rows:
            assert f"{row['mse']:.3f} ± {row['ci95']:.3f}" in page, (name, row)


def test_the_gif_caption_quotes_the_gif():
    """The README's caption of docs/adaptation.gif gives each model's query MSE on the wave the
    animation shows, before and after 1 and 10 steps: the numbers the committed models give."""
    import checkpoints
    import figures
    import tasks
    models, _ = checkpoints.load_trained(os.path.join(HERE, "checkpoints", "sinusoid.npz"))
    batch = tasks.held_out(0, 600, 5)
    wave = figures.spread_tasks(batch)[-1]             # the wave figures.animation_gif shows
    caption = readme().split("(docs/adaptation.gif)", 1)[1].split("\n\n")[1]
    for model in ("maml", "pretrained"):
        mse = [figures._adapted(models[model][0], batch, wave, 0.01, s)[1] for s in (0, 1, 10)]
        assert " → ".join(f"{m:.1f}" for m in mse) in caption, (model, mse)


def test_speed_tables_are_the_ones_docs_speed_json_holds():
    """docs/speed.md's tables are bench_maml.tables() of the committed run, which measured
    every row the benchmark has now; the prose's claims about it hold in that run, and the
    README's headline ratio is that run's."""
    import bench_maml
    with open(os.path.join(HERE, "docs", "speed.json"), encoding="utf-8") as f:
        data = json.load(f)
    names = set(bench_maml.ROWS) | {f"undo: {text}" for text in bench_maml.TRICKS.values()}
    assert set(data["ms"]) == names, "docs/speed.json is from another version of the benchmark"
    page = readme(os.path.join("docs", "speed.md"))
    assert bench_maml.tables(data) in page
    assert f"--repeats {data['repeats']} --json docs/speed.json" in page
    ms = data["ms"]
    paper = ms["exact, T=25, 1 step (paper)"]
    ratio = ms["reference code, T=25, 1 step (paper)"] / paper
    assert ratio >= 1.4                                                   # the speed work's goal
    assert f"**{ratio:.2f}x**" in readme() and f"median of {data['repeats']} rounds" in readme()
    assert all(ms[f"undo: {text}"] > paper for text in bench_maml.TRICKS.values())  # each helps
    assert paper / ms["biases folded into W (bench/fold.py), T=25, 1 step"] <= 1.0  # "no faster"
    nodes = data["nodes"]
    assert nodes["exact, T=25, 1 step (paper)"] < nodes["reference code, T=25, 1 step (paper)"]
    folded = "biases folded into W (bench/fold.py), T=25, 1 step"
    assert nodes[folded] < nodes["exact, T=25, 1 step (paper)"]    # "records fewer nodes"
    gain = {(T, steps): ms[f"reference code, T={T}, {steps} step{'s' * (steps > 1)}"
                          + (" (paper)" if (T, steps) == (25, 1) else "")]
            / ms[f"exact, T={T}, {steps} step{'s' * (steps > 1)}"
                 + (" (paper)" if (T, steps) == (25, 1) else "")]
            for T, steps in [(5, 1), (25, 1), (100, 1), (25, 3), (25, 5)]}
    assert gain[5, 1] > gain[100, 1] and gain[25, 1] > gain[100, 1]   # docs/speed.md's claims
    assert max(gain[25, s] for s in (1, 3, 5)) < 1.1 * min(gain[25, s] for s in (1, 3, 5))
    threads = "one thread" if data["threads"] == 1 else f"{data['threads']} threads"
    assert " ".join(f"in one run ({data['date']}, {data['machine']}, {threads}, median of "
                    f"{data['repeats']})".split()) in " ".join(page.split())


@pytest.mark.parametrize("flags", [["--json", path] for path in (
    "", " ", "/proc/no/speed.json", "docs", "x" * 300 + ".json")] + [
    ["--repeats", "100000"], ["--threads", "0"], ["--iterations", "1000000"], ["--bogus"],
    ["--repeats", "x"]])
def test_bench_refuses_bad_flags_before_measuring(flags):
    result = subprocess.run([sys.executable, os.path.join(HERE, "bench_maml.py"), *flags],
                            cwd=HERE, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and flags[0] in result.stderr, result


def test_readme_stays_a_walk():
    """Under 16 KB, with the setup in its first half and the speed tables on docs/speed.md."""
    text = readme()
    assert len(text.encode("utf-8")) < 16_000, len(text.encode("utf-8"))
    assert text.index("## Set up your environment") < len(text) / 2
    assert "| configuration | meta-iterations/s" not in text
