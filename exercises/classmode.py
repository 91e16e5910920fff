"""Class mode: grade a folder of student folders or zips, each student in a supervisor process
of its own (which runs each answer in its sandbox), into one report, FILE.csv and FILE.json,
written together (files.commit: both or neither).
"""
import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

from exercise_checks import EXERCISES, STARTERS
from grading import check

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
import files  # noqa: E402

SUPERVISOR = [sys.executable, "-X", "utf8", os.path.join(HERE, "check.py")]  # one student
MEMBER_MB = 10  # the largest starter file a zip may hold, unpacked


def unzip(path, target):
    """Unpack the starter files of a student's zip into `target` (by their names only: nothing
    is written outside it). -> None, or what went wrong, for the student's rows."""
    try:
        with zipfile.ZipFile(path) as z:
            for member in z.infolist():
                base = os.path.basename(member.filename)
                if base in STARTERS.values() and not member.is_dir():
                    if member.file_size > MEMBER_MB * 2**20:
                        return (f"could not read the zip ({member.filename} is over "
                                f"{MEMBER_MB} MB unpacked)")
                    os.makedirs(target, exist_ok=True)
                    with open(os.path.join(target, base), "wb") as f:
                        f.write(z.read(member))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, ValueError,
            NotImplementedError, EOFError) as e:  # not a zip, encrypted, truncated, ...
        return f"could not read the zip ({type(e).__name__}: {e})"
    return None


def student_folders(class_folder, unpacked):
    """(student, folder, shown, trouble) for each sub-folder or .zip of the class folder: zips
    are unpacked into `unpacked`; `shown` names the folder in hints (the zip's name for a zip);
    `trouble` is why a zip could not be read (or None)."""
    found = []
    for name in sorted(os.listdir(class_folder)):
        path = os.path.join(class_folder, name)
        if os.path.isdir(path):
            found.append((name, path, path, None))
        elif name.lower().endswith(".zip"):
            target = os.path.join(unpacked, f"{len(found)}-{name[:-4]}")
            found.append((name[:-4], target, name, unzip(path, target)))
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
            if os.path.isfile(inner) and not sub.startswith("."):
                return inner
    return path


def supervise(folder, exercises, seed, timeout, memory_mb):
    """Grade one student's folder, one JSON line per exercise as soon as it is known (the
    supervisor process of class mode)."""
    for n in exercises:
        v = check(n, starter_path(folder, n), seed, timeout, memory_mb)
        print(json.dumps(dict(exercise=n, **v), ensure_ascii=False), flush=True)


def supervised(student, folder, seed, timeout, memory_mb):
    """The verdicts of one student, graded in a separate supervisor process (which runs each
    answer in a process of its own): if the supervisor is killed or fails, the exercise it was
    grading gets a verdict saying so and the others are graded by a new supervisor."""
    remaining = sorted(EXERCISES)
    while remaining:
        start = time.perf_counter()
        command = [*SUPERVISOR, "--supervise", folder, "--only", ",".join(map(str, remaining)),
                   "--seed", str(seed), "--timeout", repr(timeout), "--memory", str(memory_mb)]
        supervisor = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = supervisor.communicate(timeout=len(remaining) * (timeout + 120))
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
            out, err = supervisor.communicate()
        except BaseException:  # Ctrl-C: the supervisor runs in its own session, stop it too
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.communicate()
            raise
        for line in out.decode("utf-8", "replace").splitlines():
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if isinstance(v, dict) and v.get("exercise") in remaining:
                remaining.remove(v["exercise"])
                yield v
        if remaining:
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


def grade_class(class_folder, stem, seed, timeout, memory_mb):
    """Grade every student (each in a supervisor process of its own); write FILE.csv and
    FILE.json together (files.commit: both or neither). -> the rows."""
    rows = []
    with tempfile.TemporaryDirectory() as unpacked:
        for student, folder, shown, trouble in student_folders(class_folder, unpacked):
            if trouble:
                verdicts = [dict(exercise=n, status="failed", passed=0, total=0, seconds=0.0,
                                 message=trouble) for n in sorted(EXERCISES)]
            else:
                verdicts = supervised(student, folder, seed, timeout, memory_mb)
            for v in sorted(verdicts, key=lambda v: v["exercise"]):
                rows.append(dict(student=student, exercise=v["exercise"], verdict=v["status"],
                                 passed=v["passed"], total=v["total"],
                                 hint=v["message"].replace(folder, shown),
                                 seconds=v["seconds"]))
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]) if rows else ["student"])
    writer.writeheader()
    writer.writerows(rows)
    folder, name = os.path.split(os.path.abspath(stem))
    files.commit(folder, {name + ".csv": table.getvalue().encode("utf-8"),
                          name + ".json": json.dumps(dict(seed=seed, rows=rows), indent=1,
                                                     ensure_ascii=False).encode("utf-8")})
    return rows

