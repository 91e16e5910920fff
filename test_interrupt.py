"""Ctrl-C in the commands the project ships (issue 24): one line on stderr, exit status 130,
whenever it comes: while Python loads them, mid-run, while the result is written. The signal is
sent to the command's whole process group, as a terminal does, so that a worker that did not
ignore it would print its own traceback. (exercises/check.py, the grader, is tested with its
class-mode tests.)"""
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def python_start_time():
    """How long this machine takes to start Python and run nothing: a Ctrl-C sent later
    reaches the command's own code, not Python's start-up."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def children(pid):
    """The ids of pid's child processes (Linux), or [] where /proc can't tell."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def interrupt(argv, when, timeout=120):
    """Run argv in a process group of its own, call when(process) until it returns True, then
    send SIGINT to the group. Returns (exit status, stdout, stderr, child ids seen)."""
    process = subprocess.Popen(argv, cwd=HERE, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not when(process):
            assert process.poll() is None, "the command ended before the moment came"
            assert time.monotonic() < deadline, "the moment never came"
            time.sleep(0.01)
        seen = children(process.pid)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, out, err, seen


def after(seconds):
    start = time.monotonic()
    return lambda process: time.monotonic() - start >= seconds


def one_line(err):
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("moment", ["startup", "copying", "mid-copy"])
def test_handout_ctrl_c_is_one_line_and_leaves_nothing_half_made(moment, tmp_path):
    destination = tmp_path / "class"

    def copying(process):  # the temporary folder beside the destination exists
        return any(name.startswith(".class-") for name in os.listdir(tmp_path))

    def mid_copy(process):  # some files are in it
        return any(os.listdir(tmp_path / name) for name in os.listdir(tmp_path)
                   if name.startswith(".class-"))

    when = {"startup": after(python_start_time() + 0.05), "copying": copying,
            "mid-copy": mid_copy}[moment]
    status, out, err, _ = interrupt([sys.executable, "exercises/handout.py", str(destination)],
                                    when)
    if status == 0:  # it finished first (a fast machine): then the copy is whole
        assert destination.is_dir() and (destination / "README.md").exists()
        pytest.skip("the hand-out was written before the Ctrl-C")
    assert status == 130
    line = one_line(err)
    assert line == "handout.py: interrupted; nothing was written", line
    assert os.listdir(tmp_path) == [], "a half-made copy was left"


@pytest.mark.parametrize("moment", ["startup", "workers"])
def test_bench_ctrl_c_is_one_line_and_stops_every_worker(moment, tmp_path):
    def workers(process):  # several workers started and loading
        return len(children(process.pid)) >= 3

    when = {"startup": after(python_start_time() + 0.05), "workers": workers}[moment]
    status, out, err, seen = interrupt(
        [sys.executable, "bench_maml.py", "--repeats", "1", "--iterations", "2", "--json",
         str(tmp_path / "speed.json")], when)
    assert status == 130, err
    assert one_line(err) == "bench_maml.py: interrupted; nothing was written"
    assert not (tmp_path / "speed.json").exists()
    time.sleep(0.5)
    alive = [pid for pid in seen if os.path.exists(f"/proc/{pid}")
             and open(f"/proc/{pid}/stat").read().split()[2] != "Z"]
    assert alive == [], f"workers left running: {alive}"


@pytest.mark.slow
def test_bench_ctrl_c_while_the_results_are_written(tmp_path):
    """At the end: the tables printed, the JSON file being written. The line says whether the
    file was written, and it is whole if it was."""
    import select
    process_output = []

    def printed(process):  # the first table's header reached stdout (read all that came)
        while select.select([process.stdout], [], [], 0)[0]:
            line = process.stdout.readline()
            if not line:
                break
            process_output.append(line)
            if line.startswith("| configuration"):
                return True
        return False

    status, out, err, _ = interrupt(
        [sys.executable, "bench_maml.py", "--repeats", "1", "--iterations", "2", "--json",
         str(tmp_path / "speed.json")], printed, timeout=600)
    if status == 0:
        pytest.skip("the run ended before the Ctrl-C")
    assert status == 130
    line = one_line(err)
    if (tmp_path / "speed.json").exists():
        import json
        json.loads((tmp_path / "speed.json").read_text())
        assert line.endswith("had already been written in full")
    else:
        assert line.endswith("nothing was written")
