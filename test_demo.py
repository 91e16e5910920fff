"""The demo end to end with a tiny budget: files, figures, results, --save/--load, bad input."""
import json
import math
import os
import subprocess
import sys

import matplotlib.image
import numpy
import pytest

import demo_sinusoid
import checkpoints
import cli
import maml
import tasks

TINY = ["--iterations", "20", "--eval-tasks", "8", "--quiet"]
OUTPUTS = ["adaptation.gif", "adaptation.png", "learning_curve.png", "results.json", "training.png",
           "what_maml_learned.png"]


def test_smallest_evaluation_runs(tmp_path):
    assert run("--iterations", 2, "--eval-tasks", 2, "--quiet", "--out", tmp_path) == 0
HERE = os.path.dirname(os.path.abspath(__file__))


def run(*argv):
    return demo_sinusoid.main([str(a) for a in argv])


def test_demo_writes_every_file(tmp_path, capsys):
    out = tmp_path / "figures"  # created by the demo
    assert run(*TINY, "--out", out, "--save", tmp_path / "sinusoid.npz") == 0
    assert sorted(os.listdir(out)) == OUTPUTS
    for name in ("adaptation.png", "learning_curve.png", "training.png", "what_maml_learned.png"):
        image = matplotlib.image.imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
        assert image.std() > 0.05  # not a blank canvas
    report = json.loads((out / "results.json").read_text())
    assert report["training"]["iterations"] == 20 and report["training"]["seed"] == 0
    assert report["evaluation"]["held_out_tasks"] == 8
    rows = report["results"]
    assert len(rows) == 2 * 3 * 11
    assert {(r["model"], r["k"]) for r in rows} == {(m, k) for m in ("maml", "pretrained")
                                                     for k in (5, 10, 20)}
    assert all(math.isfinite(r["mse"]) and math.isfinite(r["ci95"]) and r["ci95"] > 0
               for r in rows)
    models, metadata = checkpoints.load_models(tmp_path / "sinusoid.npz")  # both models, one file
    assert sorted(models) == ["maml", "pretrained"] and metadata["config"]["iterations"] == 20
    assert os.listdir(tmp_path) == ["figures", "sinusoid.npz"]  # no temporary files
    printed = capsys.readouterr().out
    assert "MAML K=5 " in printed and "pretrained K=20 " in printed


def test_load_reproduces_the_evaluation(tmp_path):
    assert run(*TINY, "--out", tmp_path / "a", "--save", tmp_path / "m.npz", "--seed", 3) == 0
    assert run("--load", tmp_path / "m.npz", "--eval-tasks", 8, "--quiet", "--seed", 3,
               "--out", tmp_path / "b") == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert a["results"] == b["results"]
    assert a["training"] == b["training"]


@pytest.mark.parametrize("argv, message", [
    (["--iterations", "-1"], "--iterations must be from 1 to 10,000,000, got -1"),
    (["--k", "0"], "--k must be from 1 to 100,000"),
    (["--eval-tasks", "1"], "--eval-tasks must be from 2 to 100,000"),
    (["--alpha", "nan"], "--alpha must be a finite number >= 0, got nan"),
    (["--meta-lr", "0"], "--meta-lr must be a finite number > 0"),
    (["--iterations", "ten"], "--iterations expected a whole number, got 'ten'"),
    (["--meta-batch", "1000", "--k", "1000", "--inner-steps", "20"], "would need about"),
    (["--load", "{tmp}/missing.npz"], "no checkpoint file"),
    (["--load", "{tmp}/corrupt.npz"], "not a valid checkpoint"),
    (["--out", "{tmp}/results/results.json"], "exists and is not a folder"),
    (["--save", "{tmp}/no/such/folder/m.npz"], "does not exist"),
    (["--save", "{tmp}/m.npz", "--load", "{tmp}/corrupt.npz"], "--save is a training setting"),
])
def test_bad_arguments_exit_2_and_leave_files_alone(tmp_path, capsys, argv, message):
    results = tmp_path / "results"
    results.mkdir()
    (results / "results.json").write_text("precious")
    (tmp_path / "corrupt.npz").write_text("not a checkpoint")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    base = TINY if "--load" not in argv else ["--eval-tasks", "8", "--quiet"]
    assert run(*base, "--out", results, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert os.listdir(results) == ["results.json"]
    assert (results / "results.json").read_text() == "precious"


def test_training_divergence_is_one_line_naming_the_flag_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "figures"
    assert run(*TINY, "--meta-lr", "1e10", "--out", out) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "[cause: --meta-lr" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_fine_tuning_that_diverges_is_counted_and_the_run_kept(tmp_path, capsys):
    out = tmp_path / "figures"
    assert run(*TINY, "--alpha", "5", "--out", out, "--save", tmp_path / "m.npz") == 0
    assert (tmp_path / "m.npz").exists()                  # the trained model is kept
    printed = capsys.readouterr().out
    assert "tasks diverged" in printed and "all diverged" in printed
    rows = json.loads((out / "results.json").read_text())["results"]
    blown = [r for r in rows if r["diverged"]]
    assert blown and all(r["plain_mean"] is None or r["mse"] is None or
                         r["plain_mean"] > r["mse"] for r in blown)
    assert all(r["diverged"] == 0 and r["plain_mean"] == r["mse"] for r in rows if r["steps"] == 0)


def test_paper_sets_the_papers_defaults_and_explicit_flags_win():
    args = demo_sinusoid.parse_args(["--paper"])
    assert (args.iterations, args.meta_batch, args.k, args.alpha, args.inner_steps) == \
        (70000, 25, 10, 0.01, 1)
    assert demo_sinusoid.parse_args(["--paper", "--iterations", "5"]).iterations == 5
    assert demo_sinusoid.parse_args([]).iterations == 10000


def test_command_line_exit_status_and_help(tmp_path):
    bad = subprocess.run([sys.executable, "demo_sinusoid.py", "--k", "0"], cwd=HERE,
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "demo_sinusoid.py: error: --k must be from 1 to 100,000, got 0"
    help_text = subprocess.run([sys.executable, "demo_sinusoid.py", "--help"], cwd=HERE,
                               capture_output=True, text=True, check=True).stdout
    for flag in ("--iterations", "--meta-batch", "--k", "--alpha", "--inner-steps", "--first-order",
                 "--meta-lr", "--seed", "--eval-tasks", "--out", "--save", "--load", "--paper",
                 "--show", "--quiet"):
        assert flag in help_text
    assert "(default: 10000)" in help_text


def test_each_model_is_evaluated_with_its_own_weights():
    rng = numpy.random.default_rng(0)
    models = {"maml": (maml.init_mlp((1, 8, 1), rng, std=0.5), [], 1),
              "pretrained": (maml.init_mlp((1, 8, 1), rng, std=0.5), [], 1)}
    args = demo_sinusoid.parse_args(["--eval-tasks", "3", "--quiet"])
    results = demo_sinusoid.evaluate_both(models, args)
    for (model, k), r in results.items():
        batch = tasks.held_out(0, 3, k)
        expected = maml.evaluate(models[model][0], *batch[:4], max_steps=10)
        numpy.testing.assert_array_equal(r.mean, expected.mean)
    assert not numpy.allclose(results["maml", 5].mean, results["pretrained", 5].mean)


def test_the_animation_has_a_frame_per_step_and_stays_small(tmp_path):
    from PIL import Image
    assert run(*TINY, "--out", tmp_path) == 0
    gif = tmp_path / "adaptation.gif"
    assert gif.stat().st_size < 1_000_000
    with Image.open(gif) as image:
        assert image.n_frames == demo_sinusoid.EVAL_STEPS + 1  # steps 0, 1, ..., 10
        frames = []
        for i in range(image.n_frames):
            image.seek(i)
            frames.append(numpy.asarray(image.convert("L"), dtype=float))
    assert all(f.std() > 10 for f in frames)  # none blank
    assert all(numpy.abs(a - b).mean() > 0 for a, b in zip(frames, frames[1:]))  # each moves


def test_printed_table_is_narrow_and_says_what_produced_it(tmp_path, capsys):
    assert run(*TINY, "--out", tmp_path) == 0
    printed = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in printed) < 100
    assert printed[0].startswith("trained: 20 iterations") and "evaluated: 8 held-out" in printed[2]
    assert any("paper (Table 2)" in line for line in printed)


def test_table_keeps_its_width_when_fine_tuning_blows_up():
    assert len(cli.mean_and_interval(50168210941.62, 98329693444.49)) <= 14
    assert cli.mean_and_interval(1.2e120, 9.1e118) == "1e+120 ± 9e+118"  # columns stay apart
    assert cli.mean_and_interval(0.587, 0.059) == "0.59 ± 0.06"
    assert cli.mean_and_interval(3e5, numpy.nan) == "3e+5"   # one task left: no interval
    assert cli.mean_and_interval(117.66, 201.54) == "118 ± 202"


def test_a_short_run_says_why_it_differs_from_the_committed_models(tmp_path):
    """Evaluated on the committed results' tasks (seed 0, 600 tasks), a short run's table
    shows the committed numbers beside its own and says which is which: the iteration counts,
    and that fewer iterations are the whole difference when every other setting is the same."""
    args = demo_sinusoid.parse_args(["--iterations", "3", "--out", str(tmp_path)])
    config = demo_sinusoid.config_of(args)
    params = maml.init_mlp(demo_sinusoid.LAYERS, numpy.random.default_rng(0))
    results = {("maml", 5): maml.evaluate(params, *tasks.held_out(0, 4, 5)[:4], max_steps=10)}
    committed = demo_sinusoid.committed_results(args, config)
    printed = demo_sinusoid.table(results, config, args, committed)
    assert "  committed 70k" in printed
    assert "trained 70,000 iterations" in printed and "This run: 3 iterations" in printed
    assert "fewer iterations are the whole difference" in printed
    assert max(len(line) for line in printed.splitlines()) < 100
    args = demo_sinusoid.parse_args(["--iterations", "3", "--meta-batch", "2"])
    config = demo_sinusoid.config_of(args)
    printed = demo_sinusoid.table(results, config, args, demo_sinusoid.committed_results(args,
                                                                                       config))
    assert "differs in meta_batch" in printed and "whole difference" not in printed


def test_every_figure_says_which_models_it_shows():
    config = dict(iterations=70000, meta_batch=100, k=10, alpha=0.01, inner_steps=1, seed=0)
    assert demo_sinusoid.models_label(config) == ("Models trained 70,000 iterations, meta-batch "
                                                  "100, K = 10, α = 0.01, 1 inner step, seed 0")
    assert demo_sinusoid.models_label(config, "the best configuration").startswith(
        "the best configuration: models trained 70,000 iterations, meta-batch 100")
