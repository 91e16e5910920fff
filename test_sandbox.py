"""The wall around an answer (issue 23), shown from inside: each way out an answer tried is
refused by the operating system (the call fails with EPERM/EACCES/..., the file does not
appear, the checker lives on and gives a verdict); whatever an answer sends back is that
answer's verdict, never a failure of the checker's. Skipped, with the reason, where this
machine has no OS sandbox (exercises/sandbox.py: isolation())."""
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
EX = os.path.join(HERE, "exercises")
sys.path.insert(0, EX)
import check  # noqa: E402
import grading  # noqa: E402
import sandbox  # noqa: E402

LEVEL = sandbox.isolation()
needs_os = pytest.mark.skipif(not LEVEL.startswith("os"), reason=f"no OS sandbox: {LEVEL}")
SOLUTION = os.path.join(EX, "solutions", "ex2_inner_update.py")
SEED = 11

# An exercise-2 answer that tries one way out at import and says how it went: the verdict
# reads "... raised RuntimeError ...: REFUSED <errno name>" or "...: ESCAPED".
PRELUDE = '''import ctypes, errno, os, socket, sqlite3, sys
def refused(attempt):
    try:
        result = attempt()
    except OSError as e:
        raise RuntimeError("REFUSED " + errno.errorcode.get(e.errno, str(e.errno)))
    except sqlite3.Error as e:
        raise RuntimeError("REFUSED sqlite: " + str(e))
    if isinstance(result, int) and result < 0:  # a C call through ctypes
        raise RuntimeError("REFUSED " + errno.errorcode.get(ctypes.get_errno(), "?"))
    raise RuntimeError("ESCAPED " + repr(result)[:100])
libc = ctypes.CDLL(None, use_errno=True)
'''


def escapes(checker, outside, port):
    """{name: (code, the refusals that count)}: `checker` is the checking process's pid,
    `outside` a folder outside the scratch folder, `port` a TCP listener on 127.0.0.1."""
    root = HERE
    return {
        "kill_checker": (f"refused(lambda: os.kill({checker}, 9))", {"EPERM", "ESRCH"}),
        "kill_checker_ctypes": (f"refused(lambda: libc.kill({checker}, 9))", {"EPERM", "ESRCH"}),
        "kill_parent": ("refused(lambda: os.kill(os.getppid() or -1, 9))", {"EPERM", "ESRCH"}),
        "kill_everyone": ("refused(lambda: os.kill(-1, 9))", {"EPERM", "ESRCH"}),
        "prlimit_checker": ("import resource\nrefused(lambda: resource.prlimit("
                            f"{checker}, resource.RLIMIT_NOFILE, (5, 5)))", {"EPERM", "ESRCH"}),
        "renice_checker": (f"refused(lambda: os.setpriority(os.PRIO_PROCESS, {checker}, 19))",
                           {"EPERM", "ESRCH"}),
        "renice_user": ("refused(lambda: os.setpriority(os.PRIO_USER, 0, 19))", {"EPERM"}),
        "ptrace_checker": (f"refused(lambda: libc.ptrace(16, {checker}, 0, 0))",
                           {"EPERM", "ESRCH"}),
        "proc_of_checker": (f"refused(lambda: open('/proc/{checker}/status').read())",
                            {"EACCES"}),
        "read_git": (f"refused(lambda: os.listdir({os.path.join(root, '.git')!r}) if "
                     f"os.path.isdir({os.path.join(root, '.git')!r}) else "
                     f"open({os.path.join(root, '.git')!r}).read())", {"EACCES"}),
        "read_solution": (f"refused(lambda: open({SOLUTION!r}).read())", {"EACCES"}),
        "read_correct": (f"refused(lambda: os.listdir({os.path.join(EX, 'correct')!r}))",
                         {"EACCES"}),
        "read_library": (f"refused(lambda: open({os.path.join(root, 'maml.py')!r}).read())",
                         {"EACCES"}),
        "read_handout": (f"refused(lambda: open({os.path.join(outside, 'maml-class', 'maml.py')!r}"
                         ").read())", {"EACCES"}),
        "walk_and_exec": (f"for top, _, names in os.walk({EX!r}):\n"
                          "    for n in names:\n"
                          "        if n.startswith('ex2'):\n"
                          "            exec(open(os.path.join(top, n)).read())\n"
                          f"refused(lambda: os.listdir({EX!r}))", {"EACCES"}),
        "read_bench_maml": (f"sys.path.insert(0, {root!r})\n"
                            f"refused(lambda: open({os.path.join(root, 'bench_maml.py')!r}))",
                            {"EACCES"}),
        "write_tmp": ("refused(lambda: open('/tmp/escaped-by-an-answer', 'w'))", {"EACCES"}),
        "write_outside": (f"refused(lambda: open({os.path.join(outside, 'written')!r}, 'w'))",
                          {"EACCES"}),
        "mkfifo": (f"refused(lambda: os.mkfifo({os.path.join(outside, 'fifo')!r}))",
                   {"EPERM", "EACCES"}),
        "mknod": (f"refused(lambda: os.mknod({os.path.join(outside, 'node')!r}))",
                  {"EPERM", "EACCES"}),
        "unix_socket": (f"refused(lambda: socket.socket(socket.AF_UNIX).bind("
                        f"{os.path.join(outside, 'socket')!r}))", {"EPERM", "EACCES"}),
        "sqlite": (f"refused(lambda: sqlite3.connect({os.path.join(outside, 'db')!r})"
                   ".execute('create table t(x)'))", {"sqlite: unable to open database file"}),
        "rename_out": ("open('result', 'w').write('forged')\n"
                       f"refused(lambda: os.rename('result', {os.path.join(outside, 'moved')!r}))",
                       {"EACCES", "EXDEV", "EPERM"}),
        "tcp_connect": (f"refused(lambda: socket.create_connection(('127.0.0.1', {port}), 2))",
                        {"EPERM", "EACCES", "ENETUNREACH"}),
        "fork": ("refused(lambda: os.fork() or 0)", {"EPERM"}),
        "sysv_shared_memory": ("refused(lambda: libc.shmget(0, 4096, 0o1600))", {"EPERM"}),
        "posix_queue": ("refused(lambda: libc.syscall(240, b'q', 0o102, 0o600, None))",
                        {"EPERM"}),
        "watch_solutions": ("fd = libc.inotify_init1(0)\nrefused(lambda: fd if fd < 0 else "
                            f"libc.inotify_add_watch(fd, {EX.encode()!r}, 0xfff))",
                            {"EPERM", "EACCES"}),
        "exec_shell": ("refused(lambda: os.execv('/bin/sh', ['sh', '-c', 'true']))",
                       {"EACCES", "EPERM"}),
    }


def verdicts(jobs, workers=3):
    """{key: verdict} for {key: (exercise, path)}, checked at once (each in its own wall)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        found = {key: pool.submit(check.check, n, path, SEED, 20.0) for key, (n, path)
                 in jobs.items()}
        return {key: f.result() for key, f in found.items()}


LEVELS = [LEVEL] + ([f"os: landlock ABI {sandbox.landlock_abi()}, seccomp"]
                    if "namespaces" in LEVEL else [])  # and without namespaces, as elsewhere


@needs_os
@pytest.mark.parametrize("level", LEVELS)
def test_every_way_out_is_refused_by_the_operating_system(tmp_path, level, monkeypatch):
    """Issue 23's escapes: each call fails in the answer, nothing appears outside, the checker
    is alive and unrestricted (a correct answer still passes after them all); with user
    namespaces and without (as where unprivileged ones are denied)."""
    monkeypatch.setattr(sandbox, "isolation", lambda: level)
    outside = tmp_path / "outside"
    (outside / "maml-class").mkdir(parents=True)
    shutil.copy(os.path.join(HERE, "maml.py"), outside / "maml-class" / "maml.py")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    try:
        tried = escapes(os.getpid(), str(outside), listener.getsockname()[1])
        jobs = {}
        for name, (code, _) in tried.items():
            path = tmp_path / name / "ex2_inner_update.py"
            path.parent.mkdir()
            path.write_text(PRELUDE + code + "\n")
            jobs[name] = (2, str(path))
        found = verdicts(jobs)
        with pytest.raises(BlockingIOError):
            listener.accept()  # no connection ever came
    finally:
        listener.close()
    for name, v in found.items():
        assert v["status"] == "failed", (name, v)
        said = v["message"].rpartition("REFUSED ")[2].rstrip("»")  # the answer's text, quoted
        assert "REFUSED" in v["message"] and said in tried[name][1], (name, v["message"])
    assert sorted(p.name for p in outside.iterdir()) == ["maml-class"]  # nothing appeared
    assert not os.path.exists("/tmp/escaped-by-an-answer")
    assert check.check(2, SOLUTION, SEED)["status"] == "passed"


def test_grading_in_threads_never_runs_ast_parse_unlocked():
    """ast.parse run by two threads at once fails in Python 3.11 ("AST constructor recursion
    depth mismatch", seen in CI). In a fresh checker process (nothing loaded lazily yet), with
    every exercise graded in threads, nothing parses outside files.PARSING: the library copies
    are made at import, numpy.ma (which numpy.median loads lazily) is loaded at import, and
    numpy's .npy header parse runs under the lock."""
    script = textwrap.dedent(f"""
        import ast, concurrent.futures, os, sys, threading, traceback
        sys.path[:0] = [{EX!r}, {HERE!r}]
        import check, files
        unlocked, real = [], ast.parse
        def spy(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread() and not (
                    files.PARSING.locked()):
                unlocked.append("".join(traceback.format_stack()))
            return real(*args, **kwargs)
        ast.parse = spy
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            found = [pool.submit(check.check, n, os.path.join({EX!r}, "solutions",
                                 check.STARTERS[n]), 11) for n in sorted(check.STARTERS)]
            statuses = [f.result()["status"] for f in found]
        print(unlocked[0] if unlocked else "none unlocked", statuses)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("none unlocked"), result.stdout
    assert result.stdout.count("'passed'") == len(check.STARTERS), result.stdout


@needs_os
def test_switched_off_functions_are_not_in_the_copies_the_answer_gets():
    """The copy of maml.py an exercise-2 answer may import has no inner_update to bring back
    (import, reload, bench_maml.undo): the code is not there."""
    copy = grading.library_copy("maml", ("inner_update", "adapt"), 2)
    with open(os.path.join(HERE, "maml.py"), encoding="utf-8") as f:
        original = f.read()
    import ast
    body = next(n for n in ast.parse(original).body if getattr(n, "name", "") == "inner_update")
    lines = original.splitlines()[body.lineno:body.end_lineno]
    assert not any(line.strip() and line in copy.splitlines() and "return" in line
                   for line in lines[1:])
    namespace = {}
    exec(compile(copy, "maml_copy.py", "exec"), namespace)
    with pytest.raises(Exception, match="switched off while exercise 2"):
        namespace["inner_update"]([], None, None, 0.1)


@needs_os
def test_reload_and_bench_maml_undo_give_no_credit(tmp_path):
    answers = {
        "reload": "import importlib, maml\nimportlib.reload(maml)\n"
                  "def inner_update(params, x, y, alpha):\n"
                  "    return maml.inner_update(params, x, y, alpha)\n",
        "undo": f"import sys\nsys.path.insert(0, {HERE!r})\n"
                "import bench_maml, maml\n"
                "def inner_update(params, x, y, alpha):\n"
                "    return maml.inner_update(params, x, y, alpha)\n",
    }
    jobs = {}
    for name, code in answers.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "ex2_inner_update.py").write_text(code)
        jobs[name] = (2, str(tmp_path / name / "ex2_inner_update.py"))
    found = verdicts(jobs)
    assert "switched off" in found["reload"]["message"], found["reload"]
    assert "ModuleNotFoundError" in found["undo"]["message"], found["undo"]
    assert all(v["status"] == "failed" for v in found.values())


def test_a_symlinked_starter_is_refused(tmp_path):
    (tmp_path / "ex2_inner_update.py").symlink_to(SOLUTION)
    v = check.check(2, str(tmp_path / "ex2_inner_update.py"), SEED)
    assert v["status"] == "failed" and "symbolic link" in v["message"], v


# --- budgets on what comes back ------------------------------------------------------------------

FLOODS = {
    "prints": ("import sys\nfor _ in range(700):\n    sys.stdout.write('x' * 2**20)\n",
               "printed over 4 MB"),
    "broadcast": ("import numpy\ndef inner_update(params, x, y, alpha):\n"
                  "    big = numpy.broadcast_to(numpy.float64(1), (20000, 20000))\n"
                  "    return [(big, big) for _ in params]\n", "over the 64 MB"),
    "forged_result": ("import os\nfor fd in range(3, 256):\n    try:\n"
                      "        os.write(fd, b'MAMLRES1' + (10**9).to_bytes(8, 'little'))\n"
                      "    except OSError:\n        pass\nos._exit(0)\n",
                      "sent back something that is not a result"),
    "huge_int": ("def inner_update(params, x, y, alpha):\n    return 10**100\n", "got a int"),
    "strings": ("import numpy\ndef inner_update(params, x, y, alpha):\n"
                "    return [(numpy.array(['a']), numpy.array(['b'])) for _ in params]\n",
                "should be a list of"),
    "long_exit": ("raise SystemExit('a\\nb' + 'x' * 200000)\n", "exited"),
}


def test_whatever_an_answer_sends_back_is_its_own_verdict(tmp_path):
    """Issue 23's floods: each a one-line verdict for the answer, none a checker failure."""
    jobs = {}
    for name, (code, _) in FLOODS.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "ex2_inner_update.py").write_text(code)
        jobs[name] = (2, str(tmp_path / name / "ex2_inner_update.py"))
    for name, v in verdicts(jobs).items():
        assert v["status"] == "failed", (name, v)
        assert FLOODS[name][1] in v["message"], (name, v["message"][:300])
        assert "\n" not in v["message"] and len(v["message"]) <= grading.MESSAGE_CHARS


def a_valid_result():
    """The bytes a correct exercise-2 answer sends back, and the calls they answer."""
    import child
    calls, _, _ = check.EXERCISES[2](__import__("numpy").random.default_rng(SEED))
    import numpy
    arrays = [numpy.zeros((3, 2)), numpy.arange(4.0)]
    outline = {"calls": [{"value": {"list": [{"tuple": [{"array": 0}, {"array": 1}]}]},
                          "changed": [], "global_rng": False} for _ in calls]}
    return child.encode(outline, arrays), calls


def verdict_for(data, monkeypatch, status=0, stderr=b""):
    """The verdict of exercise 2 when the answer's process sent back `data`."""
    finished = sandbox.Finished(status, b"", stderr, data, None, False, {})
    monkeypatch.setattr(sandbox, "run", lambda *args, **kwargs: finished)
    return grading.check(2, SOLUTION, SEED)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=300),
    st.tuples(st.integers(0, 400), st.integers(0, 255), st.integers(-40, 40)).map(
        lambda t: (t[0], t[1], t[2])),
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                           st.floats()),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                     st.sampled_from(["calls", "value", "list", "tuple", "array", "batch",
                                      "other", "too_big", "load", "error", "changed",
                                      "arrays", "exit"]), inner, max_size=3), max_leaves=12)))
def test_any_bytes_sent_back_give_a_verdict_never_a_checker_failure(data, monkeypatch):
    valid, calls = a_valid_result()
    if isinstance(data, tuple):     # a valid result with one byte changed, or cut, or longer
        at, value, cut = data
        at %= len(valid)
        data = valid[:at] + bytes([value]) + valid[at + 1:]
        data = data[:cut] if cut < 0 else data + b"\0" * cut
    elif not isinstance(data, bytes):  # a header of any JSON shape
        header = json.dumps(data).encode()
        data = b"MAMLRES1" + len(header).to_bytes(8, "little") + header
    v = verdict_for(data, monkeypatch)
    assert v["status"] in ("failed", "not yet", "passed") and v["status"] != "error", v
    assert "\n" not in v["message"] and len(v["message"]) <= grading.MESSAGE_CHARS


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=st.integers(-64, 255), stderr=st.binary(max_size=400),
       result=st.one_of(st.just(b""), st.binary(max_size=40)))
def test_any_exit_status_and_output_give_a_verdict(status, stderr, result, monkeypatch):
    v = verdict_for(result, monkeypatch, status, stderr)
    assert v["status"] == "failed", v
    assert "\n" not in v["message"] and len(v["message"]) <= grading.MESSAGE_CHARS


def test_a_result_of_absurd_shapes_or_dtypes_is_the_answers_verdict(monkeypatch):
    def result(specs, payload=b""):
        header = json.dumps({"calls": [], "arrays": specs}).encode()
        return b"MAMLRES1" + len(header).to_bytes(8, "little") + header + payload
    for data in (result([["<f8", [10**7, 10**7]]]), result([["|O8", [1]]], b"\0" * 8),
                 result([["<U1", [2]]], b"\0" * 8), result([["<c16", [1]]], b"\0" * 16),
                 result([["<f8", [3]]], b"\0" * 3), result([["<f8", [1] * 40]], b"\0" * 8)):
        v = verdict_for(data, monkeypatch)
        assert v["status"] == "failed" and "not a result" in v["message"], v


# --- the fallback is said, not hidden ------------------------------------------------------------

def test_the_isolation_level_is_in_every_verdict_and_the_help(tmp_path):
    v = check.check(2, SOLUTION, SEED)
    assert v["isolation"] == LEVEL.split(":")[0]
    out = subprocess.run([sys.executable, os.path.join(EX, "check.py"), "--help"],
                         capture_output=True, text=True, timeout=120).stdout
    assert "Isolation of the answers here:" in " ".join(out.split())
    env = dict(os.environ, MAML_SANDBOX="guard")
    guarded = subprocess.run([sys.executable, os.path.join(EX, "check.py"), "2", "--file",
                              SOLUTION], capture_output=True, text=True, timeout=120, env=env)
    assert guarded.returncode == 0 and "[isolation: guard]" in guarded.stdout, guarded
    assert "a determined answer can get around it" in guarded.stdout


@needs_os
def test_the_checker_is_not_starved(tmp_path):
    """The answer runs at nice 10 under a CPU limit, and cannot raise its priority."""
    path = tmp_path / "ex2_inner_update.py"
    path.write_text(PRELUDE + "refused(lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))\n")
    v = check.check(2, str(path), SEED)
    assert "REFUSED EACCES" in v["message"] or "REFUSED EPERM" in v["message"], v


def test_ctrl_c_leaves_no_answer_running(tmp_path):
    """Ctrl-C while an answer runs: exit 130, one line, and the answer's process is gone (it
    names itself, so that other checkers running on this machine are not counted)."""
    import time
    name = f"a1-{os.getpid() % 100000}"
    path = tmp_path / "ex2_inner_update.py"
    path.write_text(f"import ctypes\nctypes.CDLL(None).prctl(15, {name.encode()!r}, 0, 0, 0)\n"
                    "def inner_update(params, x, y, alpha):\n    while True:\n        pass\n")
    process = subprocess.Popen([sys.executable, os.path.join(EX, "check.py"), "2", "--file",
                                str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    for _ in range(100):
        time.sleep(0.2)
        if subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0:
            break
    else:
        pytest.fail("the answer never started")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and len(err.strip().splitlines()) == 1, err
    for _ in range(50):  # the kernel ends it as its launcher dies: give a loaded machine time
        if subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 1:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the answer outlived the checker by 10 s")


def test_odd_text_from_an_answer_or_a_file_name_is_printed_not_a_crash(tmp_path):
    """A lone surrogate in an answer's error message and a file name that is not UTF-8: one
    verdict line and valid JSON, escaped."""
    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(folder)
    path = folder + b"/ex2_inner_update.py"
    with open(path, "w") as f:
        f.write("raise ValueError('\\udcff and \\ud800')\n")
    for extra in ([], ["--json"]):
        done = subprocess.run([sys.executable, os.path.join(EX, "check.py"), "2", "--file",
                               os.fsdecode(path), *extra], capture_output=True, timeout=300)
        assert done.returncode == 1 and b"Traceback" not in done.stderr, done
        text = done.stdout.decode("utf-8")
        if extra:
            verdict = json.loads(text)["verdicts"][0]
            assert "\\udcff" in verdict["message"] and "caf\\xe9" in verdict["file"], verdict
        else:
            assert "raised ValueError" in text and "\\udcff" in text, text


def test_an_answer_cannot_pass_itself_off_as_a_failure_of_the_checker(tmp_path):
    """Only the launcher, before its exec, can report that the wall failed (on a pipe the exec
    closes): an answer printing the launcher's words and its exit status is its own verdict."""
    path = tmp_path / "ex2_inner_update.py"
    path.write_text("import os, sys\nsys.stderr.write('sandbox: could not build the wall: x\\n')"
                    "\nsys.stderr.flush()\nos._exit(125)\n")
    v = check.check(2, str(path), SEED)
    assert v["status"] == "failed" and "exited (status 125)" in v["message"], v


@needs_os
def test_a_wall_that_cannot_be_built_is_the_checkers_failure(monkeypatch):
    monkeypatch.setattr(sandbox, "readable", lambda: ["/nonexistent-folder-for-the-wall"])
    v = check.check(2, SOLUTION, SEED)
    assert v["status"] == "error" and "could not build the wall" in v["message"], v


@needs_os
@pytest.mark.parametrize("level", LEVELS)
def test_what_an_answer_leaves_in_its_scratch_folder_is_not_the_checkers_failure(
        tmp_path, level, monkeypatch):
    """3,000 nested folders (deeper than shutil.rmtree's recursion), the last one unreadable."""
    monkeypatch.setattr(sandbox, "isolation", lambda: level)
    path = tmp_path / "ex2_inner_update.py"
    path.write_text("import os\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\n"
                    "os.chmod('.', 0)\n")
    made = []
    mkdtemp = sandbox.tempfile.mkdtemp
    monkeypatch.setattr(sandbox.tempfile, "mkdtemp",
                        lambda **kw: made.append(mkdtemp(**kw)) or made[-1])
    v = check.check(2, str(path), SEED)
    assert v["status"] == "failed" and "no function inner_update" in v["message"], v
    assert len(made) == 1 and not os.path.exists(made[0]), made  # its scratch folder is gone
