"""Files that survive a crash: a set of files replaced as one. Plumbing, kept apart from
maml.py so the algorithm stays short to read; the checkpoint format is in checkpoints.py.

How a set of files is replaced as one (`commit`). The files of one folder are first written,
complete and fsynced, into a hidden staging folder inside it, `.commit-<random>/`. Writing the
marker file COMMITTED in it is the moment the new set wins; then each file is renamed over its
old version and the staging folder removed.
- Interrupted before the marker (Ctrl-C, a kill, a full disk): the old set was never touched;
  `recover` (run at the start of every commit) deletes the staging folder.
- Interrupted after the marker, between two renames (only a kill can: SIGINT is held back
  for those microseconds): `recover` finishes the renames, so the folder ends with the new set.
- A rename that fails (permissions, say) puts the old files back from hard links taken before
  the marker, and the error is raised: the folder keeps the complete old set.
We chose this over swapping a whole folder or a symlink because the folder (docs/, say) holds
other files too, and over one archive because figures must stay plain PNG files.
"""
import json
import os
import secrets
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager


STAGING_PREFIX = ".commit-"
MARKER = "COMMITTED"


# --- writing ------------------------------------------------------------------------------------

def fsync_folder(folder):
    """Make a folder's entries (new names, renames) durable. A no-op where folders can't be
    opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new(path, data):
    """Write bytes to a new file with the usual permissions, fsynced."""
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def signals_held():
    """Hold back SIGINT and SIGTERM (from the main thread) until the block is done, so that
    a Ctrl-C cannot land between two renames. The signal is delivered right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    old = {s: signal.signal(s, lambda sig, frame: caught.append(sig))
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for s in caught:
            signal.raise_signal(s)


def recover(folder):
    """Finish (marker present) or discard (no marker) a commit that was interrupted in
    `folder`. Returns the number of staging folders dealt with."""
    if not os.path.isdir(folder):
        return 0
    found = [n for n in os.listdir(folder) if n.startswith(STAGING_PREFIX)]
    for name in found:
        stage = os.path.join(folder, name)
        if os.path.exists(os.path.join(stage, MARKER)):
            with open(os.path.join(stage, MARKER), encoding="utf-8") as f:
                names = json.load(f)
            for file in names:
                if os.path.exists(os.path.join(stage, file)):
                    os.replace(os.path.join(stage, file), os.path.join(folder, file))
            fsync_folder(folder)
        shutil.rmtree(stage, ignore_errors=True)
    return len(found)


def commit(folder, files):
    """Replace files of `folder` as one set: files = {name: bytes}. Creates the folder if
    needed. After any failure or interruption the folder holds the whole old set or the
    whole new set (see the module docstring), and no temporary files."""
    for name in files:
        if os.path.basename(name) != name or name in ("", ".", "..") or name.startswith(
                STAGING_PREFIX):
            raise ValueError(f"commit takes plain file names, got {name!r}")
    os.makedirs(folder, exist_ok=True)
    recover(folder)
    stage = os.path.join(folder, STAGING_PREFIX + secrets.token_hex(4))
    os.mkdir(stage)
    try:
        for name, data in files.items():
            _write_new(os.path.join(stage, name), data)
            old = os.path.join(folder, name)
            if os.path.isfile(old):  # a hard link to the old file: the way back if a rename fails
                try:
                    os.link(old, os.path.join(stage, name + ".old"))
                except OSError:  # a file system without hard links: a copy will do
                    shutil.copy2(old, os.path.join(stage, name + ".old"))
            elif os.path.lexists(old):
                raise IsADirectoryError(f"{old!r} exists and is not a file")
        fsync_folder(stage)
        with signals_held():
            _write_new(os.path.join(stage, MARKER), json.dumps(list(files)).encode())
            fsync_folder(stage)
            done = []
            try:
                for name in files:
                    os.replace(os.path.join(stage, name), os.path.join(folder, name))
                    done.append(name)
            except OSError:
                for name in done:  # undo: the old file back, or no file where there was none
                    backup = os.path.join(stage, name + ".old")
                    if os.path.exists(backup):
                        os.replace(backup, os.path.join(folder, name))
                    else:
                        os.unlink(os.path.join(folder, name))
                os.unlink(os.path.join(stage, MARKER))
                raise
            finally:
                fsync_folder(folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
