"""Files that survive a crash, a kill or a second run: sets of files replaced as one. Plumbing,
kept apart from maml.py so the algorithm stays short to read; the checkpoint format is in
checkpoints.py.

How a set of files is replaced as one (`commit`, `commit_many`):
1. Take the folder's lock: an OS file lock (flock) on `<folder>/.commit-lock`. Every commit and
   every recovery of a folder runs under it, so two runs never interleave, and a stage seen by
   a recovery is never a live one. The OS drops the lock when its process dies.
2. Stage: a hidden folder `.commit-<32 hex>/` inside the target folder, holding first an OWNER
   file (a fixed text that says "this is ours"), then `new/<name>` (each file, complete and
   fsynced) and `old/<name>` (a hard link to, or copy of, each file it will replace).
3. Write the marker COMMITTED: JSON naming the files, followed by its SHA-256, written under
   another name and renamed into place. That rename is the moment the new set wins.
4. Rename each new file over its old version; remove the stage.

What each interruption leaves, and what `recover` (run by every commit, under the lock) does:
- Before the marker (Ctrl-C, a kill, a full disk): no old file was touched; the stage is
  discarded.
- After the marker (only a kill or a power cut: SIGINT and SIGTERM are held back there):
  the renames are finished, so the folder holds the new set.
- A rename that fails: the marker becomes ROLLBACK and the old files are put back from old/
  (a kill during that is finished the same way by `recover`).
- A marker that is missing, unreadable, or fails its checksum or its checks (names that are
  not plain file names of that stage) means "not committed".
Recovery touches only folders named exactly `.commit-<32 hex>` that hold our OWNER file (or
are empty, as a kill right after creating one leaves them): a user's `.commit-notes/` is not
ours.

We chose this over swapping a whole folder or a symlink because the folder (docs/, say) holds
other files too, and over one archive because figures must stay plain PNG files.
"""
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import threading
from contextlib import ExitStack, contextmanager

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
try:
    import msvcrt
except ImportError:  # everywhere else
    msvcrt = None


STAGING_PREFIX = ".commit-"
LOCK = ".commit-lock"
MARKER = "COMMITTED"
ROLLBACK = "ROLLBACK"
OWNER = "OWNER"
OWNER_TEXT = b"a staging folder of files.commit (maml-from-scratch); safe to delete\n"
STAGE_NAME = re.compile(r"\.commit-[0-9a-f]{32}\Z")
MAX_MARKER_BYTES = 10_000_000


# --- small tools ----------------------------------------------------------------------------

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


def _read_small(path, limit):
    """The bytes of a regular file (not a link) of at most `limit` bytes, or None."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def _remove(path):
    """Unlink a file if it is there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def is_plain_name(name):
    """Is `name` a file name commit may write: a str naming an entry of the folder itself
    (no separator, not '.', '..' or a name of the staging machinery), encodable on disk."""
    if not isinstance(name, str) or name in ("", ".", "..") or "\0" in name:
        return False
    if "/" in name or os.sep in name or (os.altsep and os.altsep in name):
        return False
    try:
        os.fsencode(name)
    except UnicodeError:  # a lone surrogate
        return False
    return not name.startswith(STAGING_PREFIX)


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


# --- the folder lock ------------------------------------------------------------------------

def _acquire(fd):
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    elif msvcrt is not None:
        while True:  # LK_LOCK gives up after 10 s; keep waiting like flock does
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                pass
    # neither: no lock (commits to one folder must then not overlap)


def _release(fd):
    if fcntl is None and msvcrt is not None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _is_current(fd, path):
    """Is the open lock file `fd` still the file at `path` (not unlinked by its last holder)?"""
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@contextmanager
def _locked(folder):
    """Hold the commit lock of an existing folder for the block. The lock file is created if
    missing and removed on release (while still held: a waiting process then sees that the
    file it locked is gone and locks the new one), so no `.commit-lock` stays behind."""
    path = os.path.join(folder, LOCK)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        fd = os.open(path, flags, 0o644)
        try:
            _acquire(fd)
            if _is_current(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        try:
            if os.fstat(fd).st_size == 0 and msvcrt is None:  # an empty file: ours
                _remove(path)
        finally:
            _release(fd)
            os.close(fd)  # closing releases an flock


# --- stages: write, verify, finish, discard -------------------------------------------------

def _new_stage(folder):
    """Create an empty stage of ours in folder; returns its path."""
    stage = os.path.join(folder, STAGING_PREFIX + secrets.token_hex(16))
    os.mkdir(stage)
    try:
        _write_new(os.path.join(stage, OWNER), OWNER_TEXT)
        os.mkdir(os.path.join(stage, "new"))
        os.mkdir(os.path.join(stage, "old"))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage


def _is_ours(stage):
    """A folder named like our stages that holds our OWNER file."""
    try:
        if not stat.S_ISDIR(os.lstat(stage).st_mode):
            return False
    except OSError:
        return False
    return _read_small(os.path.join(stage, OWNER), len(OWNER_TEXT)) == OWNER_TEXT


def _is_unclaimed(stage):
    """A folder named like our stages that a kill left before it was claimed: empty, or holding
    only part of the OWNER file."""
    try:
        if not stat.S_ISDIR(os.lstat(stage).st_mode) or not set(os.listdir(stage)) <= {OWNER}:
            return False
    except OSError:
        return False
    owner = os.path.join(stage, OWNER)
    if not os.path.lexists(owner):
        return True
    text = _read_small(owner, len(OWNER_TEXT))
    return text is not None and OWNER_TEXT.startswith(text)


def _marker_bytes(names, replaced):
    text = json.dumps({"names": names, "replaced": replaced}).encode()
    return text + b"\n" + hashlib.sha256(text).hexdigest().encode() + b"\n"


def _write_marker(stage, names, replaced):
    """Write COMMITTED (complete or not at all: written aside, then renamed) and make it
    durable. The commit point."""
    aside = os.path.join(stage, MARKER + ".new")
    _write_new(aside, _marker_bytes(names, replaced))
    os.replace(aside, os.path.join(stage, MARKER))
    fsync_folder(stage)


def _read_marker(stage, kind):
    """(names, replaced) from the marker `kind` of a stage, or None if it is absent or does not
    verify: checksum, shape, plain unique names, every staged file named."""
    data = _read_small(os.path.join(stage, kind), MAX_MARKER_BYTES)
    if data is None or not data.endswith(b"\n") or data.count(b"\n") != 2:
        return None
    text, digest, _ = data.split(b"\n")
    if hashlib.sha256(text).hexdigest().encode() != digest:
        return None
    try:
        content = json.loads(text)
        names, replaced = content["names"], content["replaced"]
        staged = set(os.listdir(os.path.join(stage, "new")))
    except (ValueError, RecursionError, TypeError, KeyError, OSError):
        return None
    if (not isinstance(content, dict) or set(content) != {"names", "replaced"}
            or not isinstance(names, list) or not isinstance(replaced, list)
            or not all(map(is_plain_name, names)) or len(set(names)) != len(names)
            or not all(isinstance(n, str) for n in replaced) or not set(replaced) <= set(names)
            or not staged <= set(names)):
        return None
    return names, replaced


def _roll_forward(folder, stage, names):
    """Rename each staged file still in the stage over its target. Safe to repeat."""
    for name in names:
        new = os.path.join(stage, "new", name)
        if os.path.lexists(new):
            os.replace(new, os.path.join(folder, name))
    fsync_folder(folder)


def _roll_back(folder, stage, names, replaced):
    """Put each replaced file back from old/ and remove each file the commit added. Safe to
    repeat."""
    for name in names:
        target = os.path.join(folder, name)
        if name in replaced:
            old = os.path.join(stage, "old", name)
            if os.path.lexists(old):
                os.replace(old, target)
        elif not os.path.lexists(os.path.join(stage, "new", name)):  # it was renamed in
            _remove(target)
    fsync_folder(folder)


def _discard(stage):
    """Remove a stage of ours: its markers first (so a kill midway leaves an unmarked stage,
    discarded again next time), then its files."""
    for name in (ROLLBACK, MARKER, MARKER + ".new"):
        _remove(os.path.join(stage, name))
    fsync_folder(stage)
    for sub in ("new", "old"):
        shutil.rmtree(os.path.join(stage, sub), ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)


def _finish(folder, stage):
    """Finish a stage a commit left behind: undo it (ROLLBACK), complete it (COMMITTED) or
    discard it (no valid marker)."""
    back = _read_marker(stage, ROLLBACK)
    if back is not None:
        _roll_back(folder, stage, *back)
    else:
        forward = _read_marker(stage, MARKER)
        if forward is not None:
            _roll_forward(folder, stage, forward[0])
    _discard(stage)


def _recover_locked(folder):
    """recover(), the folder lock held."""
    dealt = 0
    for entry in sorted(os.listdir(folder)):
        stage = os.path.join(folder, entry)
        if not STAGE_NAME.match(entry):
            continue
        if _is_ours(stage):
            _finish(folder, stage)
        elif _is_unclaimed(stage):
            shutil.rmtree(stage, ignore_errors=True)
        else:
            continue
        dealt += 1
    return dealt


def recover(folder):
    """Finish (valid COMMITTED marker), undo (ROLLBACK) or discard (anything else) each commit
    that was interrupted in `folder`, under the folder's lock: a live commit's stage is never
    touched, nor anything that is not a stage of ours. Returns the number of stages dealt with.
    Raises OSError only if a rename it needs fails."""
    folder = _path(folder, "folder")
    try:  # a lock file left by a killed run goes too (the lock's release removes it)
        candidates = [n for n in os.listdir(folder) if STAGE_NAME.match(n) or n == LOCK]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    if not candidates:
        return 0
    with _locked(folder):
        return _recover_locked(folder)


# --- committing -----------------------------------------------------------------------------

def _path(value, what):
    """A str path from a str or os.PathLike; ValueError for anything else (bytes included)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\0" in value:
        raise ValueError(f"{what} must be a non-empty str or os.PathLike path, got {value!r:.80}")
    return value


def _make_folders(folder):
    """os.makedirs that returns the folders it created, outermost first."""
    missing, path = [], os.path.abspath(folder)
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    created = []
    for path in reversed(missing):
        try:
            os.mkdir(path)
            created.append(path)
        except FileExistsError:  # made meanwhile by another process: not ours to remove
            pass
    if not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", folder)
    return created


def _remove_folders(created):
    """Remove again the (empty) folders a failed commit created."""
    for path in reversed(created):
        _remove(os.path.join(path, LOCK))
        try:
            os.rmdir(path)
        except OSError:
            pass


def _plan(sets, overwrite):
    """Check the arguments of commit_many; returns [(folder, {name: bytes}, overwrite)]."""
    if not isinstance(sets, dict):
        raise ValueError(f"commit_many takes {{folder: {{name: bytes}}}}, got {sets!r:.80}")
    plan = []
    for folder, files in sets.items():
        folder = _path(folder, "folder")
        if not isinstance(files, dict):
            raise ValueError(f"the files of {folder!r} must be a dict {{name: bytes}}")
        for name, data in files.items():
            if not is_plain_name(name):
                raise ValueError(f"commit takes plain file names, got {name!r}")
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise ValueError(f"{name!r}: commit takes bytes, got {type(data).__name__}")
        plan.append((folder, files, _may_replace(overwrite, folder)))
    return plan


def _may_replace(overwrite, folder):
    """overwrite (a bool, or {folder: bool} with True for folders not named) for folder."""
    if isinstance(overwrite, dict):
        value = {_path(k, "folder"): v for k, v in overwrite.items()}.get(folder, True)
    else:
        value = overwrite
    if not isinstance(value, bool):  # 'no' would be true
        raise ValueError(f"overwrite must be True or False (or {{folder: bool}}), got "
                         f"{value!r:.40}")
    return value


def _merge(plan):
    """Group the plan by folder identity (one folder named two ways is one folder): sorted
    [(folder, {name: bytes}, overwrite)]. Raises ValueError for a file named twice."""
    groups = {}
    for folder, files, may in plan:
        st = os.stat(folder)
        key = (st.st_dev, st.st_ino)
        if key in groups:
            first, merged, may_before = groups[key]
            twice = sorted(set(files) & set(merged))
            if twice:
                raise ValueError(f"{twice[0]!r} is named twice: in {first!r} and {folder!r} "
                                 "(the same folder)")
            groups[key] = (first, {**merged, **files}, may_before and may)
        else:
            groups[key] = (folder, dict(files), may)
    return [groups[key] for key in sorted(groups)]


def _stage(folder, files, may_replace):
    """Stage a set in folder (its lock held): checks every target, writes new/ and old/.
    Returns (folder, stage, names, replaced); on any failure removes the stage and raises."""
    targets = {name: os.path.join(folder, name) for name in files}
    for name, target in targets.items():
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", target)
        if not may_replace:
            raise FileExistsError(errno.EEXIST, "exists and may not be replaced", target)
    stage = _new_stage(folder)
    try:
        replaced = []
        for name, data in files.items():
            _write_new(os.path.join(stage, "new", name), data)
            if os.path.lexists(targets[name]):  # the way back if a rename fails
                old = os.path.join(stage, "old", name)
                try:
                    os.link(targets[name], old, follow_symlinks=False)
                except (OSError, NotImplementedError):  # no hard links here: a copy will do
                    shutil.copy2(targets[name], old, follow_symlinks=False)
                replaced.append(name)
        fsync_folder(os.path.join(stage, "new"))
        fsync_folder(os.path.join(stage, "old"))
    except BaseException:
        _discard(stage)
        raise
    return folder, stage, list(files), replaced


def _switch(stages):
    """Write every stage's marker, then rename every file; if a rename fails, undo every
    folder. Returns the folders left mixed (their undo failed too; recover finishes it)."""
    started = 0
    try:
        for folder, stage, names, replaced in stages:
            _write_marker(stage, names, replaced)
        for folder, stage, names, _ in stages:
            started += 1
            _roll_forward(folder, stage, names)
    except OSError:
        for folder, stage, *_ in stages[started:]:  # not begun: unmark, discard below
            _remove(os.path.join(stage, MARKER))
            fsync_folder(stage)
        for folder, stage, *_ in stages[:started]:
            os.replace(os.path.join(stage, MARKER), os.path.join(stage, ROLLBACK))
            fsync_folder(stage)
        unfinished = []
        for folder, stage, names, replaced in stages[:started]:
            try:
                _roll_back(folder, stage, names, replaced)
            except OSError:
                unfinished.append(folder)
        for folder, stage, *_ in stages:
            if folder not in unfinished:
                _discard(stage)
        raise _Undone(unfinished)
    for folder, stage, *_ in stages:
        _discard(stage)


class _Undone(Exception):
    def __init__(self, unfinished):
        self.unfinished = unfinished


def commit_many(sets, overwrite=True):
    """Replace sets of files in several folders: sets = {folder: {name: bytes}}; overwrite is a
    bool, or {folder: bool} (missing folders: True). Creates missing folders.

    Guarantees, whatever fails (full disk, a target that is a folder, a name too long, no
    permission, a rename that fails, Ctrl-C, a second run on the same folders):
    - Every folder holds its complete old set or its complete new set, and no staging files
      (after a kill: once `recover` has run, which every commit does first).
    - On success every folder holds its new set. On an exception, every folder holds its old
      set, and folders commit_many created are removed again. The one exception: a rename
      failed and then putting an old file back failed too; that folder is named in the
      exception's attribute `unfinished` and its stage kept, and the next `recover(folder)`
      (run by any commit) puts the old set back. The exception's attribute `committed` lists
      the folders holding their new set (empty: nothing stays half done on purpose).
    - Only a kill or power cut in the microseconds between writing the first folder's marker
      and the last can leave the earlier folders new and the later ones old (each whole).
    - With overwrite False for a folder, an existing target raises FileExistsError naming it,
      decided under the lock, so of two runs at once exactly one creates the file.
    Concurrent commits (other processes, other threads) to a folder are serialized by its lock:
    each completes, and the last one's files are the ones kept.

    Raises ValueError for bad arguments (nothing touched), OSError (FileExistsError,
    IsADirectoryError, ...) for what the file system refuses.
    """
    plan = _plan(sets, overwrite)
    created = []
    try:
        for folder, _, _ in plan:
            created += _make_folders(folder)
        groups = _merge(plan)
        with ExitStack() as locks:
            for folder, _, _ in groups:
                locks.enter_context(_locked(folder))
            stages = []
            try:
                for folder, files, may in groups:
                    _recover_locked(folder)
                for folder, files, may in groups:
                    stages.append(_stage(folder, files, may))
            except BaseException:
                for _, stage, _, _ in stages:
                    _discard(stage)
                _remove_folders(created)
                raise
            with signals_held():
                try:
                    _switch(stages)
                except _Undone as undone:
                    error = undone.__context__
                    error.unfinished = undone.unfinished
                    if not undone.unfinished:
                        _remove_folders(created)
                    raise error from None
    except BaseException as e:
        e.committed = []
        if not hasattr(e, "unfinished"):
            e.unfinished = []
        raise


def commit(folder, files, overwrite=True):
    """Replace files of `folder` as one set: files = {name: bytes}. Creates the folder if
    needed. With overwrite=False, raises FileExistsError if any of the files exists (decided
    under the folder lock). After any failure or interruption the folder holds the whole old
    set or the whole new set: see commit_many, of which this is the one-folder case."""
    commit_many({folder: files}, overwrite)


def check_writable(sets, overwrite=True):
    """A quick look, before long work, for what would make commit_many(sets, overwrite) fail:
    sets = {folder: names}. Raises ValueError naming the first problem found: a name (of a
    file, or of a folder to create) that is not a plain file name or is too long for the file
    system, a target that is a folder (or
    exists while overwrite is False), a folder that is not one or where nothing can be created,
    the same file named twice. Changes nothing. A full disk or a permission changed later can
    still only be found by the commit itself."""
    seen = {}
    if not isinstance(sets, dict):
        raise ValueError(f"check_writable takes {{folder: [names]}}, got {sets!r:.80}")
    for folder, names in sets.items():
        folder = _path(folder, "folder")
        if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
            raise ValueError(f"the names for {folder!r} must be a list of file names, got "
                             f"{names!r:.80}")
        may = _may_replace(overwrite, folder)
        existing, missing = os.path.abspath(folder), []
        while not os.path.lexists(existing):
            existing, part = os.path.split(existing)
            missing.append(part)
        if not os.path.isdir(existing):
            raise ValueError(f"{existing!r} is not a folder")
        longest = name_max(existing)
        for part in missing:  # folders commit_many would create
            if len(os.fsencode(part)) > longest:
                raise ValueError(f"the folder name {part[:30]!r}... is longer than the "
                                 f"{longest} bytes a name may have in {existing!r}")
        for name in names:
            if not is_plain_name(name):
                raise ValueError(f"{name!r} is not a plain file name")
            if len(os.fsencode(name)) > longest:
                raise ValueError(f"{name[:40]!r}... is longer than the {longest} bytes a file "
                                 f"name may have in {existing!r}")
            key = (os.path.realpath(folder), name)
            if key in seen:
                raise ValueError(f"{name!r} is named twice: in {seen[key]!r} and {folder!r} "
                                 "(the same folder)")
            seen[key] = folder
            target = os.path.join(folder, name)
            if os.path.isdir(target) and not os.path.islink(target):
                raise ValueError(f"{target!r} is a folder, so no file can be written there")
            if os.path.lexists(target) and not may:
                raise ValueError(f"{target!r} exists and may not be replaced")
        _probe(existing)


def name_max(folder):
    """The longest file name (in bytes) the folder's file system takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):
        return 255


def _probe(folder):
    """Raise ValueError unless a stage can be created (and removed) in folder."""
    probe = os.path.join(folder, STAGING_PREFIX + secrets.token_hex(16))
    try:
        os.mkdir(probe)
    except OSError as e:
        raise ValueError(f"cannot write in {folder!r} ({e.strerror})") from None
    try:
        os.rmdir(probe)
    except FileNotFoundError:  # a recovery removed it first: it is an empty stage
        pass
