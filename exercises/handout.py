"""Write a copy of the project for students: no reference solutions, no answer folders, no git
history.

    .venv/bin/python exercises/handout.py ../maml-class

The copy holds the committed files (`git archive HEAD`), or, outside a git checkout, the
folder's files, minus exercises/solutions, wrong, correct and shortcuts. Its README setup and
test commands work as in the original; the tests that need the removed answers skip.
"""
import io
import os
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REMOVED = tuple(f"exercises/{name}/" for name in ("solutions", "wrong", "correct", "shortcuts"))
SKIPPED = (".git/", ".venv/", "__pycache__/", ".pytest_cache/")


def kept(name):
    name = "/" + name.replace(os.sep, "/").strip("/") + "/"
    return not any(name.startswith("/" + r) for r in REMOVED) and not any(
        "/" + s in name for s in SKIPPED)


def handout(destination):
    os.makedirs(destination)  # refuses an existing folder: nothing is overwritten
    try:
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        archive = None
    if archive is not None:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(destination, members=[m for m in tar.getmembers() if kept(m.name)],
                           filter="data")
        return
    for folder, _, names in os.walk(ROOT):
        for name in names:
            relative = os.path.relpath(os.path.join(folder, name), ROOT)
            if kept(relative):
                os.makedirs(os.path.join(destination, os.path.dirname(relative)), exist_ok=True)
                shutil.copy2(os.path.join(folder, name), os.path.join(destination, relative))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: handout.py DESTINATION (a folder that does not exist yet)")
    handout(sys.argv[1])
    print(f"wrote {sys.argv[1]}: hand it out (no solutions, answer folders or git history)")
