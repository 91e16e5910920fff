"""Files that survive a crash: atomic writes, a set of files replaced as one, and checkpoints
read defensively. Kept apart from maml.py so the algorithm stays short to read.

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
import io
import json
import numbers
import os
import secrets
import shutil
import signal
import tempfile
import threading
import zipfile
from contextlib import contextmanager

import numpy

import checks

STAGING_PREFIX = ".commit-"
MARKER = "COMMITTED"
MAX_METADATA_BYTES = 10_000_000


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


def write_atomically(path, write):
    """Call write(f) on a new temporary file beside `path`, fsync it, then rename it over
    `path`: a reader (or a crash) sees the old file or the new one, never half of one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        with signals_held():
            os.replace(tmp, path)
            fsync_folder(folder)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


# --- checkpoints ------------------------------------------------------------------------------------

def to_json(metadata):
    """Strict JSON (no NaN, no Infinity) of metadata; numpy numbers and arrays become plain
    numbers and lists. Raises ValueError for what JSON cannot hold."""
    def plain(value):
        if isinstance(value, numpy.ndarray):
            return value.tolist()
        if isinstance(value, (numpy.integer, numpy.bool_)):
            return value.item()
        if isinstance(value, numpy.floating):
            return float(value)
        raise TypeError(f"{type(value).__name__} {value!r}")
    try:
        return json.dumps(metadata, allow_nan=False, default=plain)
    except (TypeError, ValueError) as e:
        raise ValueError(f"metadata must be plain JSON data with finite numbers: {e}") from None


def encode_models(models, metadata):
    """{name or None: params}, metadata -> npz bytes. None: the plain layout W0, b0, W1, ...;
    a name: name.W0, name.b0, ..."""
    arrays = {}
    for model, params in models.items():
        checks.params(params, f"params of {model!r}" if model else "params", per_task=False)
        prefix = f"{model}." if model else ""
        for i, (W, b) in enumerate(params):
            arrays[f"{prefix}W{i}"], arrays[f"{prefix}b{i}"] = numpy.asarray(W), numpy.asarray(b)
    arrays["metadata"] = numpy.array(to_json(metadata))
    buffer = io.BytesIO()
    numpy.savez(buffer, **arrays)
    return buffer.getvalue()


def read_npz(path, max_elements=checks.MAX_ELEMENTS):
    """Every array of an .npz file, read defensively: no pickles, sizes taken from each header
    and bounded before anything is decompressed. Raises ValueError naming the problem."""
    if not zipfile.is_zipfile(path):
        raise ValueError("not an .npz archive (a plain .npy file, or not numpy data at all)")
    arrays, total = {}, 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"unexpected member {info.filename!r}")
            name = info.filename[:-4]
            with archive.open(info) as f:
                version = numpy.lib.format.read_magic(f)
                read_header = {(1, 0): numpy.lib.format.read_array_header_1_0,
                               (2, 0): numpy.lib.format.read_array_header_2_0}.get(version)
                if read_header is None:
                    raise ValueError(f"{name}: unsupported .npy version {version}")
                shape, fortran, dtype = read_header(f)
                size = int(numpy.prod(shape, dtype=object))
                if dtype.hasobject:
                    raise ValueError(f"{name}: holds Python objects (a pickle), refused")
                total += size
                if total > max_elements or size * dtype.itemsize > info.file_size:
                    raise ValueError(f"{name}: its header claims {shape} {dtype} elements, "
                                     f"more than the file holds or the limit of "
                                     f"{max_elements:,}")
                data = f.read(size * dtype.itemsize)
            if len(data) != size * dtype.itemsize:
                raise ValueError(f"{name}: the file ends before the data its header announces")
            array = numpy.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
            arrays[name] = array.copy()
    return arrays


def decode_models(arrays):
    """The arrays of a checkpoint -> ({name or None: params}, metadata dict)."""
    meta = arrays.pop("metadata", None)
    if meta is None or meta.shape != () or meta.dtype.kind != "U" or (
            meta.dtype.itemsize > 4 * MAX_METADATA_BYTES):
        raise ValueError("no metadata text")
    try:
        metadata = json.loads(str(meta), parse_constant=_refuse)
    except ValueError as e:
        raise ValueError(f"metadata is not valid JSON ({e})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a JSON object, got {type(metadata).__name__}")
    names = sorted({n.rsplit(".", 1)[0] if "." in n else None for n in arrays},
                   key=lambda n: n or "")
    models = {}
    for model in names:
        prefix = f"{model}." if model else ""
        layers = []
        while f"{prefix}W{len(layers)}" in arrays:
            i = len(layers)
            if f"{prefix}b{i}" not in arrays:
                raise ValueError(f"{prefix}W{i} has no {prefix}b{i}")
            layers.append((arrays.pop(f"{prefix}W{i}"), arrays.pop(f"{prefix}b{i}")))
        checks.params(layers, f"model {model!r}" if model else "params", per_task=False)
        models[model] = layers
    if arrays:
        raise ValueError(f"unexpected arrays {sorted(arrays)}")
    return models, metadata


def _refuse(constant):
    raise ValueError(f"{constant} is not a finite number")


def _finite_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and bool(numpy.isfinite(v))


# what a metadata value may be: kind -> (in words, the test)
KINDS = {"count": ("a whole number >= 0",
                   lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
         "number": ("a finite number", _finite_number),
         "numbers": ("a list of finite numbers",
                     lambda v: isinstance(v, list) and all(map(_finite_number, v))),
         "flag": ("true or false", lambda v: isinstance(v, bool))}


def expect(value, kind, what):
    """Return value (from a file's metadata) if it is of the kind expected, one of KINDS;
    raise a ValueError naming `what` otherwise."""
    words, ok = KINDS[kind]
    if not ok(value):
        raise ValueError(f"{what} must be {words}, got {str(value)[:60]!r}")
    return value
