"""Few-shot classification end to end (demo_fewshot.py): a short seeded run writes complete
results that --load reproduces, MAML's classification is maml.py's own functions, and bad
flags are one line."""
import json

import numpy
import pytest

import demo_fewshot
import glyphs
import maml

SHORT = ["--iterations", "3", "--eval-episodes", "6", "--speed-iterations", "1", "--quiet"]


def test_short_run_writes_complete_results_that_load_reproduces(tmp_path, capsys):
    out, saved = tmp_path / "out", tmp_path / "models"
    assert demo_fewshot.main([*SHORT, "--out", str(out), "--save", str(saved)]) == 0
    report = json.loads((out / "fewshot.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(demo_fewshot.OUTPUTS)
    rows = report["results"]
    assert len(rows) == 2 * len(demo_fewshot.METHODS) * (demo_fewshot.EVAL_STEPS + 1)
    assert all(0 <= r["accuracy"] <= 1 for r in rows)                    # accuracies
    assert report["training"]["iterations"] == 3 and report["data"]["evaluation_classes"] > 0
    assert set(report["speed"]) == {"maml", "fomaml", "protonets"}
    assert "ProtoNets" in capsys.readouterr().out
    again = tmp_path / "again"
    assert demo_fewshot.main(["--load", str(saved), "--eval-episodes", "6",
                              "--speed-iterations", "0", "--quiet", "--out", str(again)]) == 0
    assert json.loads((again / "fewshot.json").read_text())["results"] == rows


def test_maml_classifies_with_the_same_functions_and_one_step_helps():
    """A 2-way problem a linear head can solve: one inner step of cross-entropy on the support
    set raises the query accuracy of an untrained network above chance."""
    rng = numpy.random.default_rng(0)
    centres = rng.normal(size=(8, 2, 6)) * 3
    label = rng.integers(0, 2, size=(8, 20))
    x = centres[numpy.arange(8)[:, None], label] + rng.normal(size=(8, 20, 6))
    y = numpy.eye(2)[label]
    params = maml.init_mlp((6, 16, 2), rng, std=0.1)
    result = maml.evaluate(params, x[:, :10], y[:, :10], x[:, 10:], y[:, 10:], alpha=2.0,
                           max_steps=3, loss_fn=maml.cross_entropy, score_fn=maml.accuracy)
    assert result.mean[3] > 0.8 and result.mean[3] > result.mean[0] + 0.2


def test_the_pretrained_classifier_gets_the_global_labels():
    data = glyphs.load_glyphs()
    sample = glyphs.episode_sampler(data.images, data.background, 5, 2)
    episodes = demo_fewshot.all_classes(sample, data.background)(3, 1, 2,
                                                                 numpy.random.default_rng(0))
    position = {c: i for i, c in enumerate(data.background)}
    for t in range(3):
        local = sample(3, 1, 2, numpy.random.default_rng(0))
        expected = [position[c] for c in local.classes[t][local.y_query[t].argmax(1)]]
        assert episodes.y_query[t].argmax(1).tolist() == expected
        assert episodes.y_query.shape[2] == len(data.background)


@pytest.mark.parametrize("argv, message", [
    (["--iterations", "0"], "--iterations must be from 1"),
    (["--force"], "no --save given"),
    (["--omniglot", "/no/such/folder"], "no such folder"),
    (["--load", "/no/such/folder"], "no such folder of checkpoints"),
])
def test_bad_flags_are_one_line(capsys, argv, message):
    assert demo_fewshot.main(["--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
