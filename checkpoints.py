"""Checkpoints: models and their metadata in one .npz file, written atomically and read
defensively. Plumbing: nothing here is part of the algorithm.

File format: numpy's .npz (a zip of .npy arrays). A file of one model holds W0, b0, W1, b1,
...; a file of several holds maml.W0, maml.b0, ..., pretrained.W0, ...; every file holds
`metadata`, a JSON text (strict: finite numbers only). No pickles, ever.
"""
import io
import json
import numbers
import os
import zipfile

import numpy

import checks
import files

MAX_METADATA_BYTES = 10_000_000


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


# --- saving and loading ---------------------------------------------------------------

def save_params(path, params, **metadata):
    """Write params (and JSON-able metadata) to an .npz file, atomically. Refuses what
    load_params would refuse (NaN weights, a task axis, shapes that don't chain)."""
    _write(path, encode_models({None: params}, metadata))


def save_models(path, models, **metadata):
    """Several named models in one .npz file, atomically: models = {name: params}. One file
    cannot hold a half-updated pair."""
    if not isinstance(models, dict) or not models or not all(
            isinstance(n, str) and n.isidentifier() for n in models):
        raise ValueError(f"models must be a non-empty dict {{name: params}} with names like "
                         f"'maml', got {models!r:.80}")
    _write(path, encode_models(models, metadata))


def load_models(path):
    """Read a checkpoint written by save_models or save_params.

    Returns ({name: params}, metadata dict); a file from save_params has the one name None.
    Raises FileNotFoundError if there is no file, ValueError naming the problem if it is not
    a valid checkpoint.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {os.fspath(path)!r}")
    try:
        return decode_models(read_npz(path))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{os.fspath(path)!r} is not a valid checkpoint: {e}") from None


def load_params(path, model=None):
    """Read one model: a file from save_params, or the named `model` of a file from
    save_models. Returns (params, metadata dict)."""
    models, metadata = load_models(path)
    if model not in models:
        names = ", ".join(repr(n) for n in models)
        raise ValueError(f"{os.fspath(path)!r} holds the models {names}: pass model= one of them"
                         if model is None else f"{os.fspath(path)!r} has no model {model!r} "
                         f"(it holds {names})")
    return models[model], metadata


def _write(path, data):
    """Replace the file at `path` by `data`, atomically (files.commit of one file)."""
    folder, name = os.path.split(os.path.abspath(path))
    files.commit(folder, {name: data})
