"""Where a student's answer runs: a separate `python -I` process (exercises/child.py) in a
fresh working folder, with a time and memory limit and its own session, so that it can be
stopped whole. The checker and the answer share nothing but the request (written here) and the
result file (read back as plain data: an .npz of arrays and a JSON outline, no pickle).

    run(request, timeout) -> (outline, arrays), or raises Stopped(one line for the student)
"""
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "child.py")


class Stopped(Exception):
    """The answer's process ended without an answer; the message says how, for the student."""


def run(request, timeout):
    """Run child.py on `request` (a dict it understands) in a fresh process; -> (outline,
    arrays): the JSON outline of what the calls returned and the arrays it refers to."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as private, tempfile.TemporaryDirectory() as work:
        request_path, result_path = (os.path.join(private, n) for n in ("request", "result.npz"))
        with open(request_path, "wb") as f:
            pickle.dump(request, f)
        child = subprocess.Popen([sys.executable, "-I", "-X", "utf8", CHILD, request_path,
                                  result_path], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True)
        try:
            _, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise Stopped(f"your code ran past {timeout:g} s (the time limit; --timeout changes "
                          "it): is there a loop that never ends?") from None
        except BaseException:  # Ctrl-C: the answer runs in its own session, stop it too
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise
        if not os.path.exists(result_path):
            status = child.returncode
            if status < 0:
                raise Stopped(f"your code was stopped by signal {-status} before returning an "
                              "answer (out of memory?)")
            last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            if "Error" in last[0] and status == 1:
                raise Stopped(f"your code crashed before returning an answer: {last[0][:200]}")
            raise Stopped(f"your code exited (status {status}) before returning an answer")
        with numpy.load(result_path, allow_pickle=False) as data:
            outline = json.loads(str(data["outline"]))
            arrays = [data[str(i)] for i in range(len(data.files) - 1)]
    return outline, arrays
