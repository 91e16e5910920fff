"""What the demos print (issue 24): a line on stderr at least every few seconds, whatever the
run is doing (loading data, training, evaluating, measuring speed, drawing, writing), and no
line wider than 100 columns, on stdout or stderr. Short runs in this process, with the quiet
spell the demos allow (cli.SILENCE) cut to 0.3 s, so that every phase is long enough to need
its progress lines."""
import os
import sys
import threading
import time

import pytest

import cli
import demo_fewshot
import demo_sinusoid
import demo_variants


class Recorder:
    """A stand-in for sys.stdout or sys.stderr that notes when each line arrived."""

    def __init__(self):
        self.lines, self.partial = [], ""

    def write(self, text):
        now = time.perf_counter()
        self.partial += text
        *done, self.partial = self.partial.replace("\r", "\n").split("\n")
        self.lines += [(now, line) for line in done]
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = [  # the first in the quick suite, the others with the slow checks
    (demo_fewshot, ["--iterations", "3", "--eval-episodes", "4", "--val-episodes", "4",
                    "--speed-iterations", "1"]),  # every phase, in 6 s (the long run: slow)
    pytest.param(demo_fewshot, ["--load", os.path.join(HERE, "checkpoints", "fewshot"),
                                "--eval-episodes", "30", "--speed-iterations", "0"],
                 marks=pytest.mark.slow),
    pytest.param(demo_sinusoid, ["--iterations", "30", "--eval-tasks", "20"],
                 marks=pytest.mark.slow),
    pytest.param(demo_variants, ["--iterations", "20", "--eval-tasks", "20",
                                 "--speed-iterations", "1", "--methods", "maml-1,anil"],
                 marks=pytest.mark.slow),
]


class Watched(cli.Phases):
    """cli.Phases, noting whether a phase is under way (then its thread speaks up)."""
    live = []

    def __enter__(self):
        Watched.live.append(self)
        return super().__enter__()

    def __exit__(self, *exc):
        Watched.live.remove(self)
        return super().__exit__(*exc)


def covered():
    """True if a phase is under way: a quiet spell would be broken by a line."""
    return any(p.text for p in Watched.live)


@pytest.mark.parametrize("demo, argv", RUNS, ids=lambda v: v.__name__ if hasattr(
    v, "__name__") else " ".join(v[:2]))
def test_never_silent_and_every_line_fits_100_columns(demo, argv, tmp_path, monkeypatch):
    silence = 0.3
    monkeypatch.setattr(cli, "SILENCE", silence)
    monkeypatch.setattr(cli, "Phases", Watched)
    monkeypatch.chdir(tmp_path)
    out, err = Recorder(), Recorder()
    samples, done = [], threading.Event()

    def sample():  # every 20 ms: is a phase under way?
        while not done.wait(0.02):
            samples.append(covered())
    sampler = threading.Thread(target=sample)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    start = time.perf_counter()
    sampler.start()
    try:
        status = demo.main(argv + ["--out", "out"])  # a short path (a user's may be long)
    finally:
        done.set()
        sampler.join()
    end = time.perf_counter()
    monkeypatch.undo()
    assert status == 0, err.lines
    for _, line in out.lines + err.lines:
        assert len(line) <= 100, f"{len(line)} columns: {line!r}"
    # from the first phase to the last, a phase is always under way (none left uncovered)
    first, last = samples.index(True), len(samples) - samples[::-1].index(True)
    assert all(samples[first:last]), "a stretch of the run with no phase under way"
    assert (first + len(samples) - last) * 0.02 < 10  # parsing the flags, printing the table
    times = [start] + [t for t, _ in err.lines] + [end]
    gaps = [(b - a, line) for a, b, (_, line) in zip(times, times[1:], err.lines + [(0, "end")])]
    longest, before = max(gaps)
    # the watch thread looks every 0.2 s: 0.5 s, with much room for a busy machine
    assert longest < silence + 3, f"{longest:.1f} s without a line before {before!r}"
    assert len(err.lines) >= 5


def test_a_long_phase_says_where_it_is_every_few_seconds(monkeypatch):
    err = Recorder()
    monkeypatch.setattr(sys, "stderr", err)
    with cli.Phases(every=0.2) as phases:
        phases.start("evaluating")
        phases.detail = "MAML"
        time.sleep(1.1)
    with cli.Phases(quiet=True) as phases:
        phases.start("evaluating")
        time.sleep(0.5)
    monkeypatch.undo()
    texts = [line for _, line in err.lines]
    assert texts[0] == "evaluating ..." and len(texts) >= 4
    assert all(t.startswith("evaluating: MAML, ") and t.endswith(" so far") for t in texts[1:])


def test_a_line_too_wide_for_100_columns_keeps_where_the_phase_is(monkeypatch):
    err = Recorder()
    monkeypatch.setattr(sys, "stderr", err)
    with cli.Phases(every=0.2) as phases:
        phases.start("evaluating on 100,000 held-out 5-shot episodes of a very long name, " * 2)
        phases.detail = "first-order: 70,000 of 100,000 episodes fine-tuned"
        time.sleep(0.7)
    monkeypatch.undo()
    ticks = [line for _, line in err.lines[1:]]
    assert ticks and all(len(t) <= 100 and t.startswith("  first-order: 70,000 of 100,000")
                         and t.endswith(" so far") for t in ticks), ticks
