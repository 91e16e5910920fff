"""Class mode: grade a folder of student folders or zips in parallel (--jobs), each student in
a supervisor process of their own (which runs each answer behind its own wall: sandbox.py),
into one report, FILE.csv and FILE.json, written together (files.commit: both or neither).

Every entry of the class folder that is a folder or ends in .zip is a student, whatever its
name (a name that is not UTF-8 is shown with backslash escapes); `bob/` and `bob.zip` are two
rows. A zip is read within budgets (ZIP_MB on disk, ZIP_ENTRIES entries, MEMBER_MB per starter,
UNPACKED_MB in all); a .zip that is not a regular file (a FIFO, a device) or over a budget
is that student's row, and so is a starter that is a symbolic link.
"""
import concurrent.futures
import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

from exercise_checks import EXERCISES, STARTERS
import sandbox
from grading import check

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
import files  # noqa: E402

SUPERVISOR = [sys.executable, "-X", "utf8", os.path.join(HERE, "check.py")]  # one student
MEMBER_MB, UNPACKED_MB, ZIP_MB, ZIP_ENTRIES = 10, 20, 100, 1000
EMPTY = 4  # the exit status of a class folder with no student in it


def shown(name):
    """A file name as text that can always be printed and written (not UTF-8: escaped)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def inert(cell):
    """A CSV cell a spreadsheet shows as text: one starting with = + - @, a tab or a carriage
    return is a formula there, so it gets a leading single quote (OWASP's CSV injection rule).
    Numbers are left alone."""
    return "'" + cell if isinstance(cell, str) and cell.startswith(("=", "+", "-", "@", "\t",
                                                                    "\r")) else cell


def unzip(path, target):
    """Unpack the starter files of a student's zip into `target` (by their names only: nothing
    is written outside it), within the budgets. -> None, or what went wrong, for the student's
    rows."""
    try:
        with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW |
                                                          os.O_NONBLOCK)) as raw:
            kind = os.fstat(raw.fileno()).st_mode
            if not stat.S_ISREG(kind):
                return "the zip is not a regular file (a folder, a FIFO or a device?)"
            if os.fstat(raw.fileno()).st_size > ZIP_MB * 2**20:
                return f"the zip is over {ZIP_MB} MB"
            with zipfile.ZipFile(raw) as z:
                members = z.infolist()
                if len(members) > ZIP_ENTRIES:
                    return f"the zip holds {len(members)} entries (the limit is {ZIP_ENTRIES})"
                names = [m.filename for m in members]
                odd = next((n for n in names if n.startswith(("/", "\\")) or n[1:2] == ":"
                            or ".." in n.replace("\\", "/").split("/")), None)
                if odd is not None:
                    return (f"the zip holds an entry named {shown(odd)[:200]!r}: absolute "
                            "names and '..' are refused (zip the folder itself)")
                if len(set(names)) != len(names):
                    twice = next(n for n in names if names.count(n) > 1)
                    return (f"the zip holds two entries named {shown(twice)[:200]!r}: which one "
                            "is the answer? (zip the folder again)")
                total = 0
                for member in members:
                    base = os.path.basename(member.filename)
                    if base not in STARTERS.values() or member.is_dir():
                        continue
                    with z.open(member) as f:
                        data = f.read(MEMBER_MB * 2**20 + 1)
                    total += len(data)
                    if len(data) > MEMBER_MB * 2**20:
                        return (f"could not read the zip ({shown(member.filename)} is over "
                                f"{MEMBER_MB} MB unpacked)")
                    if total > UNPACKED_MB * 2**20:
                        return f"the zip's starter files are over {UNPACKED_MB} MB unpacked"
                    os.makedirs(target, exist_ok=True)
                    with open(os.path.join(target, base), "wb") as out:
                        out.write(data)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, ValueError,
            NotImplementedError, EOFError) as e:  # not a zip, encrypted, truncated, ...
        return f"could not read the zip ({type(e).__name__}: {shown(str(e))})"
    return None


def student_folders(class_folder, unpacked):
    """(student, folder, shown, trouble) for each sub-folder or .zip of the class folder: zips
    are unpacked into `unpacked`; `shown` names the folder in hints (the zip's name for a zip);
    `trouble` is why a zip could not be read (or None). Names are shown escaped if not UTF-8;
    a zip whose name without .zip is also a folder's keeps its .zip."""
    found = []
    names = sorted(os.listdir(class_folder))
    for i, name in enumerate(names):
        path = os.path.join(class_folder, name)
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            found.append((shown(name), path, shown(path), None))
        elif stat.S_ISLNK(mode):
            found.append((shown(name), path, shown(name), "a symbolic link in the class folder: "
                          "put the student's folder or zip itself there"))
        elif name.lower().endswith(".zip"):
            student = name[:-4] if name[:-4] not in names else name
            target = os.path.join(unpacked, str(i))
            found.append((shown(student), target, shown(name), unzip(path, target)))
    return found


def starter_path(folder, exercise):
    """The exact starter name in a student's folder, or one folder down (a zip's own folder)."""
    path = os.path.join(folder, STARTERS[exercise])
    if not os.path.exists(path):
        try:
            subs = sorted(os.listdir(folder))
        except OSError:
            subs = []
        for sub in subs:
            inner = os.path.join(folder, sub, STARTERS[exercise])
            if (os.path.isfile(inner) and not sub.startswith(".")
                    and not os.path.islink(os.path.join(folder, sub))):
                return inner
    return path


def supervise(folder, exercises, seed, timeout, memory_mb):
    """Grade one student's folder, one JSON line per exercise as soon as it is known (the
    supervisor process of class mode)."""
    for n in exercises:
        v = check(n, starter_path(folder, n), seed, timeout, memory_mb)
        print(json.dumps(dict(exercise=n, **v)), flush=True)


RUNNING = set()  # the supervisors at work, stopped together on Ctrl-C
LOCK = threading.Lock()
STOPPING = threading.Event()


def stop_all():
    """Ctrl-C: no new supervisor; those at work stop their answers (SIGTERM), then are killed."""
    STOPPING.set()
    for how in (signal.SIGTERM, signal.SIGKILL):
        with LOCK:
            for supervisor in RUNNING:
                try:
                    os.killpg(supervisor.pid, how)
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        while RUNNING and time.monotonic() < deadline:
            time.sleep(0.05)


def supervised(student, folder, seed, timeout, memory_mb, isolation=None):
    """The verdicts of one student, graded in a separate supervisor process (which runs each
    answer in a process of its own): if the supervisor is killed or fails, the exercise it was
    grading gets a verdict saying so and the others are graded by a new supervisor."""
    remaining = sorted(EXERCISES)
    while remaining and not STOPPING.is_set():
        start = time.perf_counter()
        command = [*SUPERVISOR, f"--supervise={os.path.abspath(folder)}",
                   "--only", ",".join(map(str, remaining)), "--seed", str(seed),
                   "--timeout", repr(timeout), "--memory", str(memory_mb)]
        env = dict(os.environ, MAML_SANDBOX_LEVEL=isolation) if isolation else None
        with LOCK:
            if STOPPING.is_set():
                return
            supervisor = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          start_new_session=True, env=env)
            RUNNING.add(supervisor)
        try:
            out, err = supervisor.communicate(timeout=len(remaining) * (timeout + 120))
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
            out, err = supervisor.communicate()
        except BaseException:  # Ctrl-C: the supervisor runs in its own session, stop it too
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.communicate()
            raise
        finally:
            with LOCK:
                RUNNING.discard(supervisor)
        for line in out.decode("utf-8", "replace").splitlines():
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if isinstance(v, dict) and v.get("exercise") in remaining:
                remaining.remove(v["exercise"])
                yield v
        if remaining and not STOPPING.is_set():
            n, status = remaining.pop(0), supervisor.returncode
            seconds = round(time.perf_counter() - start, 2)
            if status is None or status < 0:
                how = f"killed by signal {-status}" if status else "stopped (it hung)"
                yield dict(exercise=n, status="failed", passed=0, total=0, seconds=seconds,
                           message=f"the checker was {how} while grading {student}'s exercise "
                           f"{n}: an answer that stops the checker gets no credit (look at "
                           "this file)")
            else:
                last = (err.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
                yield dict(exercise=n, status="error", passed=0, total=0, seconds=seconds,
                           message=f"the checker itself failed while grading {student}'s "
                           f"exercise {n} (status {status}): {last[:300]}")


def report_stem(report):
    """FILE of --report FILE.csv, once it is sure FILE.csv and FILE.json can be written
    (files.check_writable); else a one-line reason (ValueError)."""
    stem = os.path.splitext(report)[0]
    if not os.path.basename(stem).strip():
        raise ValueError("needs a file name, e.g. --report grades.csv")
    folder = os.path.dirname(os.path.abspath(stem))
    if not os.path.isdir(folder):
        raise ValueError(f"no folder {folder} for the report")
    for path in (stem + ".csv", stem + ".json"):
        if os.path.isdir(path):
            raise ValueError(f"the report {path} is a folder")
    try:
        files.check_writable({folder: [os.path.basename(stem) + ".csv",
                                      os.path.basename(stem) + ".json"]})
    except ValueError as e:
        raise ValueError(f"cannot write the report: {e}") from None
    return stem


def grade_student(student, folder, shown_folder, trouble, seed, timeout, memory_mb, level):
    """The report's rows for one student."""
    if trouble:
        verdicts = [dict(exercise=n, status="failed", passed=0, total=0, seconds=0.0,
                         message=trouble) for n in sorted(EXERCISES)]
    else:
        verdicts = list(supervised(student, folder, seed, timeout, memory_mb, level))
    return [dict(student=student, exercise=v["exercise"], verdict=v["status"],
                 passed=v["passed"], total=v["total"],
                 hint=shown(v["message"].replace(folder, shown_folder)), seconds=v["seconds"],
                 isolation=level.split(":")[0])
            for v in sorted(verdicts, key=lambda v: v["exercise"])]


def grade_class(class_folder, stem, seed, timeout, memory_mb, jobs=1, level=None):
    """Grade every student (each in a supervisor process of their own, `jobs` at a time);
    write FILE.csv and FILE.json together (files.commit: both or neither). -> the rows (an
    empty list, and no report, for a class folder with no student)."""
    level = level or sandbox.isolation()
    with tempfile.TemporaryDirectory() as unpacked:
        students = student_folders(class_folder, unpacked)
        if not students:
            return []
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            try:
                graded = [pool.submit(grade_student, *s, seed, timeout, memory_mb, level)
                          for s in students]
                rows = [row for future in graded for row in future.result()]
            except BaseException:  # Ctrl-C: no new student, and stop those at work
                pool.shutdown(wait=False, cancel_futures=True)
                stop_all()
                raise
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows([{k: inert(v) for k, v in row.items()} for row in rows])
    folder, name = os.path.split(os.path.abspath(stem))
    report = dict(seed=seed, isolation=level, rows=rows)
    files.commit(folder, {name + ".csv": table.getvalue().encode("utf-8"),
                          name + ".json": json.dumps(report, indent=1,
                                                     ensure_ascii=False).encode("utf-8")})
    return rows
