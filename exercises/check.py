"""Check your answer to an exercise:

    .venv/bin/python exercises/check.py N                 # N = 1..7: checks exercises/exN_<name>.py
    .venv/bin/python exercises/check.py N --file PATH     # check another file (a copy, say)
    .venv/bin/python exercises/check.py --all             # one line per exercise
    .venv/bin/python exercises/check.py --all --json --dir STUDENT_FOLDER   # for a grading script
    .venv/bin/python exercises/check.py --class CLASS_FOLDER --report report.csv   # a whole class

Every run draws fresh sizes (K, T, steps, widths), step sizes, tasks and weights (the seed is
printed; --seed N repeats a run). Your code runs in a separate process, with a time and memory
limit, on copies of the inputs; it returns its answer as numbers, and this process compares
them with the reference. Your code sees only a scratch folder holding it and copies of the
library modules without the functions the exercise asks you to write; on Linux with Landlock
the operating system enforces that (exercises/sandbox.py says how), elsewhere only a guard
inside Python does, and the checker says which ("isolation").

Exit status: 0 every checked answer passed, 1 some did not (failed or not yet), 2 a bad command
line, 3 the checker itself failed, 4 a class folder with no student in it, 130 Ctrl-C.
"""
import argparse
import json
import os
import secrets
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [p for p in (HERE, ROOT) if p not in sys.path]

# The jobs live apart: exercise_checks.py (each exercise's checks), compare.py (comparing
# answers), sandbox.py (where an answer runs), grading.py (one answer -> a verdict),
# classmode.py (a whole class). Their names are here too, for scripts that import check.
from classmode import (MEMBER_MB, SUPERVISOR, grade_class,  # noqa: E402,F401
                       report_stem, starter_path, student_folders, supervise, supervised, unzip)
from compare import *  # noqa: E402,F401,F403
from exercise_checks import *  # noqa: E402,F401,F403
from exercise_checks import EXERCISES, STARTERS  # noqa: E402
from classmode import EMPTY, shown  # noqa: E402
from grading import MEMORY_MB, TIMEOUT, check, rebuild, run_student  # noqa: E402,F401
import sandbox  # noqa: E402

def seed_number(text):
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"a seed is a whole number from 0 to 2**63 − 1, got {text}")
    return value


MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 3600.0
# Every solution and correct answer passes with 150 MB here (100 MB is too little to import
# numpy and autograd): 256 MB leaves room for other builds of numpy.
MIN_MEMORY_MB, MAX_MEMORY_MB = 256, 2**20


def seconds(text):
    value = float(text)
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"the time limit is from {MIN_TIMEOUT:g} to "
                                         f"{MAX_TIMEOUT:g} seconds, got {text}")
    return value


def megabytes(text):
    value = int(text)
    if not MIN_MEMORY_MB <= value <= MAX_MEMORY_MB:
        raise argparse.ArgumentTypeError(
            f"the memory limit is from {MIN_MEMORY_MB} MB (what a correct answer needs: numpy, "
            f"autograd and the data) to {MAX_MEMORY_MB} MB, got {text}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """A bad command line is one line on stderr (`--help` shows the usage) and exit status 2."""

    def error(self, message):
        self.exit(2, f"check.py: {message} (--help lists the options)\n")


PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for a command whose reader left


def exit_status(statuses):
    if "error" in statuses:
        return 3
    return 0 if all(s == "passed" for s in statuses) else 1


def jobs_number(text):
    value = int(text)
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"--jobs is from 1 to 256 students at a time, got {text}")
    return value


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv=None):
    """Check one exercise, all of them, or a class; print or write the verdicts; return the
    exit status."""
    level = sandbox.isolation()
    p = OneLineParser(description="Check exercises; fresh random checks every run.",
                      epilog=f"Isolation of the answers here: {level}.")
    p.add_argument("exercise", type=int, nargs="?", choices=sorted(EXERCISES))
    p.add_argument("--file", help="the file to check (default: the exact starter name, "
                   "exercises/exN_*.py)")
    p.add_argument("--all", action="store_true", help="check every exercise, one line each")
    p.add_argument("--dir", default=HERE, help="the folder with a student's exN_*.py files")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON only")
    p.add_argument("--class", dest="class_folder", help="a folder of student folders or zips")
    p.add_argument("--report", default="report.csv", help="with --class: the report to write "
                   "(FILE.csv and FILE.json; default report.csv and report.json in the current "
                   "folder)")
    p.add_argument("--jobs", type=jobs_number, default=cores(), help="with --class: students "
                   f"graded at a time (default: this machine's cores, {cores()})")
    p.add_argument("--guard-only", action="store_true", help="with --class where the OS "
                   "sandbox is missing: grade with the in-process guard only, which a "
                   "determined answer can get around")
    p.add_argument("--seed", type=seed_number, help="repeat the checks of an earlier run")
    p.add_argument("--timeout", type=seconds, default=TIMEOUT, help=f"seconds per exercise "
                   f"({MIN_TIMEOUT:g} to {MAX_TIMEOUT:g}; default {TIMEOUT:g})")
    p.add_argument("--memory", type=megabytes, default=MEMORY_MB, help=f"megabytes per "
                   f"exercise ({MIN_MEMORY_MB} to {MAX_MEMORY_MB}; default {MEMORY_MB})")
    p.add_argument("--supervise", help=argparse.SUPPRESS)  # class mode's supervisor: a folder
    p.add_argument("--only", help=argparse.SUPPRESS)       # ... and its exercises, 1,2,...
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    if args.supervise:  # class mode stops a supervisor with SIGTERM: it stops its answer first
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        supervise(args.supervise, [int(n) for n in args.only.split(",")], seed, args.timeout,
                  args.memory)
        return 0
    modes = (args.exercise is not None) + args.all + (args.class_folder is not None)
    if modes != 1 or (args.file and args.exercise is None):
        p.error("give one exercise number (optionally with --file), or --all, or --class FOLDER")
    if args.class_folder and not os.path.isdir(args.class_folder):
        p.error(f"no folder {args.class_folder}")
    if args.file and os.path.isdir(args.file):
        p.error(f"--file {args.file} is a folder: give a file, or --dir FOLDER")
    if args.file and not os.path.isfile(args.file):
        p.error(f"no file {args.file}")
    if not args.file and not args.class_folder and not os.path.isdir(args.dir):
        p.error(f"no folder {args.dir}")
    if args.class_folder:
        if not level.startswith("os") and not args.guard_only:
            p.error(f"class mode needs the OS sandbox, missing here ({level}); --guard-only "
                    "grades with the in-process guard, which a determined answer can get around")
        try:
            stem = report_stem(args.report)
        except ValueError as e:
            p.error(f"--report {args.report}: {e}")
        try:
            rows = grade_class(args.class_folder, stem, seed, args.timeout, args.memory,
                               jobs=args.jobs, level=level)
        except OSError as e:  # the class folder unreadable, the disk full: nothing written
            print(f"check.py: {shown(e.filename or args.class_folder)}: {e.strerror or e}; no "
                  "report was written", file=sys.stderr)
            return 3
        if not rows:
            print(f"check.py: no student folder or .zip in {args.class_folder}: nothing graded, "
                  "no report written", file=sys.stderr)
            return EMPTY
        print(f"{len(rows)} verdicts for {len({r['student'] for r in rows})} students, seed "
              f"{seed}, isolation {level}: {stem}.csv and {stem}.json")
        return exit_status([r["verdict"] for r in rows])
    chosen = sorted(EXERCISES) if args.all else [args.exercise]
    verdicts = []
    for n in chosen:
        path = args.file if args.file else os.path.join(args.dir, STARTERS[n])
        v = check(n, path, seed, args.timeout, args.memory)
        verdicts.append(dict(exercise=n, file=shown(os.path.relpath(path)), **v))
    if args.json:
        print(json.dumps(dict(seed=seed, isolation=level, verdicts=verdicts), indent=1,
                         ensure_ascii=False))
    else:
        for v in verdicts:
            score = f" ({v['passed']}/{v['total']} checks passed)" if v["status"] == "failed" \
                and v["total"] else ""
            print(f"Exercise {v['exercise']} ({v['file']}): {v['status']}: {v['message']}{score}"
                  f" [isolation: {v['isolation']}]")
        if any(v["status"] != "passed" and v["status"] != "not yet" for v in verdicts):
            print(f"(checked with seed {seed}; --seed {seed} repeats these checks)")
        if not level.startswith("os"):
            print(f"(isolation: {level}: a determined answer can get around it)")
    return exit_status([v["status"] for v in verdicts])


if __name__ == "__main__":
    try:
        status = main()
        sys.stdout.flush()  # here, not at exit, so a reader that left is caught below
        sys.exit(status)
    except KeyboardInterrupt:
        print("check.py: interrupted; no report was written", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `check.py --all --json | head -c 10`: the reader left, say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(PIPE_CLOSED)
