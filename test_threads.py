"""BLAS threads (issue 24): the demos run numpy's matrix products on one thread unless
--threads or the environment says otherwise, decided before numpy loads (threads.py)."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = ("import sys, threads; chosen = threads.choose(sys.argv[1:]); import os, numpy; "
         "numpy.ones((300, 300)) @ numpy.ones((300, 300)); "
         "print(chosen, os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')))")


def probe(argv, **environment):
    env = {k: v for k, v in os.environ.items() if k not in (
        "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=HERE, capture_output=True,
                            text=True, env=dict(env, **environment), check=True)
    return result.stdout.split()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_one_thread_unless_the_flag_or_the_environment_says_otherwise():
    chosen, variable, one = probe([])
    assert (chosen, variable) == ("1", "1")
    assert probe(["--threads", "2"])[:2] == ["2", "2"]
    assert probe(["--out", "x", "--threads=3"])[:2] == ["3", "3"]
    assert probe([], OPENBLAS_NUM_THREADS="2")[:2] == ["2", "2"]
    assert probe(["--threads", "1"], OPENBLAS_NUM_THREADS="2")[:2] == ["1", "1"]  # flag wins
    assert probe(["--threads", "0"])[:2] == ["1", "1"]  # refused later by argparse, in one line
    if os.cpu_count() and os.cpu_count() > 1:  # OpenBLAS starts its threads when it loads
        assert int(probe(["--threads", "2"])[2]) > int(one)


def test_a_thread_count_numpy_did_not_start_with_is_one_line(capsys):
    import demo_sinusoid
    import threads
    wanted = (threads.in_effect() or 1) + 1
    assert demo_sinusoid.main(["--threads", str(wanted), "--iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "numpy has already loaded" in err


def test_threads_flag_refuses_nonsense_in_one_line():
    result = subprocess.run([sys.executable, "demo_fewshot.py", "--threads", "0"], cwd=HERE,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == "demo_fewshot.py: error: --threads must be from 1 to 64, got 0\n"
