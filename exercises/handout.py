"""Write a copy of the project for students: no reference solutions, no answer folders, no git
history.

    .venv/bin/python exercises/handout.py ../maml-class

The destination must be new (or an empty folder) and outside the project; the copy is written
beside it and renamed into place, so a failure leaves nothing half-made (exit status 2, one
line, for a destination it can't take).

The copy holds the committed files (`git archive HEAD`), or, outside a git checkout, the
folder's files, minus exercises/solutions, wrong, correct and shortcuts. Its README setup and
test commands work as in the original; the tests that need the removed answers skip. Its
README.md and EXERCISES.md are the students' pages: the passages about the removed folders, and
EXERCISES.md's section for teachers, are left out (`student_page`).
"""
import os
import sys

try:  # Ctrl-C while Python loads the rest: the same one line as later (interrupted_early)
    import signal
except KeyboardInterrupt:
    print("\n" * sys.stderr.isatty() + "handout.py: interrupted; nothing was written",
          file=sys.stderr)
    os._exit(130)


def interrupted_early(signum=None, frame=None):
    """Ctrl-C before the copy is under way: one line, exit status 130 (the same as later)."""
    print("\n" * sys.stderr.isatty() + "handout.py: interrupted; nothing was written",
          file=sys.stderr)
    os._exit(130)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, interrupted_early)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REMOVED = tuple(f"exercises/{name}/" for name in ("solutions", "wrong", "correct", "shortcuts"))
SKIPPED = (".git/", ".venv/", "__pycache__/", ".pytest_cache/")
# The students' pages: (file, passage as the project has it, what the hand-out says instead).
# test_exercises.py checks that each passage is there exactly once, and that the pages written
# say nothing of the removed folders.
STUDENT_PAGES = (
    ("README.md", " For teachers, one command grades a folder of student folders (or zips) into one\n"
     "CSV and JSON report, and another writes a hand-out copy without solutions, answer folders or\n"
     "git history (both in EXERCISES.md).", ""),
    ("README.md", "`exercises/` (starters, checker, example answers)",
     "`exercises/` (the exercises' starters and their checker)"),
    ("README.md", "- The exercise checkers: every typical wrong answer fails with its hint, every "
     "correct answer\n  written differently passes, over many seeds; shortcuts change only their "
     "own verdict.\n", ""),
    ("EXERCISES.md", "\n## For teachers\n", None),  # None: the rest of the page is left out
)


def kept(name):
    name = "/" + name.replace(os.sep, "/").strip("/") + "/"
    return not any(name.startswith("/" + r) for r in REMOVED) and not any(
        "/" + s in name for s in SKIPPED)


def refusal(destination):
    """Why `destination` can't take the copy (one line), or None: it must be new or an empty
    folder, outside the project, in a folder that exists."""
    target = os.path.realpath(destination)
    root = os.path.realpath(ROOT)
    if target == root or target.startswith(root + os.sep) or root.startswith(target + os.sep):
        return f"{destination} is inside the project (or holds it): choose a folder outside {root}"
    if os.path.lexists(destination) and not os.path.isdir(destination):
        return f"{destination} exists and is not a folder"
    if os.path.isdir(destination) and os.listdir(destination):
        return f"{destination} exists and is not empty: nothing is overwritten"
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        return f"no folder {parent} to write {os.path.basename(target)} in"
    return None


def fill(folder):
    """Write the hand-out's files into `folder`: the committed files (`git archive HEAD`), or
    outside a git checkout the project folder's files, minus the answers."""
    try:
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        archive = None
    if archive is not None:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, members=[m for m in tar.getmembers() if kept(m.name)],
                           filter="data")
        return
    for parent, _, names in os.walk(ROOT):
        for name in names:
            relative = os.path.relpath(os.path.join(parent, name), ROOT)
            if kept(relative):
                os.makedirs(os.path.join(folder, os.path.dirname(relative)), exist_ok=True)
                shutil.copy2(os.path.join(parent, name), os.path.join(folder, relative))


def student_page(name, text):
    """The hand-out's version of README.md or EXERCISES.md (`text`, the project's)."""
    for page, passage, instead in STUDENT_PAGES:
        if page == name and passage in text:
            text = (text.split(passage)[0].rstrip("\n") + "\n" if instead is None
                    else text.replace(passage, instead))
    return text


def trim_pages(folder):
    for name in sorted({page for page, _, _ in STUDENT_PAGES}):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(student_page(name, text))


def handout(destination):
    """Write the copy into a temporary folder beside `destination`, then rename it into place:
    a failure leaves nothing half-made. Raises ValueError (one line) if `destination` can't
    take it."""
    reason = refusal(destination)
    if reason:
        raise ValueError(reason)
    target = os.path.realpath(destination)
    temporary = None
    try:
        with ctrl_c_held():  # the folder exists and `temporary` names it, or neither
            try:
                temporary = tempfile.mkdtemp(dir=os.path.dirname(target),
                                             prefix=f".{os.path.basename(target)}-")
            except OSError as e:
                raise ValueError(f"cannot write in {os.path.dirname(target)}: "
                                 f"{e.strerror or e}") from None
        fill(temporary)
        trim_pages(temporary)
        os.chmod(temporary, 0o777 & ~current_umask())
        with ctrl_c_held():  # the copy is in place and WRITTEN says so, or neither
            os.rename(temporary, target)  # replaces an empty folder; refuses a non-empty one
            WRITTEN.append(destination)
    except BaseException:
        with ctrl_c_held():  # a second Ctrl-C: still cleaned up, then delivered
            if temporary is not None:
                shutil.rmtree(temporary, ignore_errors=True)
        raise


WRITTEN = []  # the destinations written in full, for the line a Ctrl-C prints


@contextlib.contextmanager
def ctrl_c_held():
    """A Ctrl-C in this block is delivered when it ends (in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if caught:
            signal.raise_signal(signal.SIGINT)


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main(argv=None):
    p = argparse.ArgumentParser(description="Write a copy of the project for students: no "
                                "reference solutions, answer folders or git history.")
    p.add_argument("destination", help="a new (or empty) folder outside the project")
    p.error = lambda message: p.exit(2, f"handout.py: error: {message} (--help for usage)\n")
    args = p.parse_args(argv)
    try:
        handout(args.destination)
    except ValueError as e:
        p.exit(2, f"handout.py: {e}\n")
    except OSError as e:
        p.exit(2, f"handout.py: could not write {args.destination}: {e}\n")
    print(f"wrote {args.destination}: hand it out (no solutions, answer folders or git history)")
    return 0


def command_line():
    """main, with a Ctrl-C at any moment one line and exit status 130: the copy is written
    in full, or nothing is (handout renames it into place in one step)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = main()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # done: Python's shutdown would die of it
        return status
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("\n" * sys.stderr.isatty() + "handout.py: interrupted; " + (
            f"{WRITTEN[0]} had already been written in full" if WRITTEN else
            "nothing was written"), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(command_line())
