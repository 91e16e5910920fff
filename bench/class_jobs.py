"""Time class mode on a generated class: N students, each handing in the reference answer to
exercise 2 (the other exercises "not yet"), graded with --jobs 1 and --jobs J.

    .venv/bin/python bench/class_jobs.py            # 100 students, --jobs 1 against --jobs 2
    .venv/bin/python bench/class_jobs.py 20 4       # 20 students, --jobs 1 against --jobs 4

Prints one line per run and the speed-up; exits 1 if a run did not grade every student.
"""
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOLUTION = os.path.join(ROOT, "exercises", "solutions", "ex2_inner_update.py")


def main(argv):
    students, jobs = (int(argv[0]) if argv else 100), (int(argv[1]) if len(argv) > 1 else 2)
    if not os.path.exists(SOLUTION):
        sys.exit("bench/class_jobs.py: needs exercises/solutions (not in a hand-out)")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(students):
            os.makedirs(os.path.join(tmp, "class", f"s{i:03d}"))
            shutil.copy(SOLUTION, os.path.join(tmp, "class", f"s{i:03d}"))
        seconds = {}
        for j in (1, jobs):
            report = os.path.join(tmp, f"report{j}.csv")
            start = time.monotonic()
            done = subprocess.run([sys.executable, os.path.join(ROOT, "exercises", "check.py"),
                                   "--class", os.path.join(tmp, "class"), "--report", report,
                                   "--seed", "1", "--jobs", str(j)], capture_output=True,
                                  text=True)
            seconds[j] = time.monotonic() - start
            with open(report, encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            passed = sum(r["exercise"] == "2" and r["verdict"] == "passed" for r in rows)
            print(f"{students} students, --jobs {j}: {seconds[j]:.1f} s "
                  f"({seconds[j] / students:.2f} s a student; {passed} passed exercise 2; "
                  f"{done.stdout.strip()})", flush=True)
            if passed != students:
                return 1
        print(f"--jobs {jobs} is {seconds[1] / seconds[jobs]:.2f}x as fast as --jobs 1 on "
              f"{os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
