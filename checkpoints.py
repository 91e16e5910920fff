"""Checkpoints: models and their metadata in one .npz file, written atomically and read
defensively. Plumbing: nothing here is part of the algorithm.

File format: numpy's .npz (a zip of .npy arrays). A file of one model holds W0, b0, W1, b1,
...; a file of several holds maml.W0, maml.b0, ..., pretrained.W0, ...; every file holds
`metadata`, a JSON text (strict: finite numbers only). No pickles, ever.
"""
import io
import json
import math
import numbers
import os
import re
import zipfile
import zlib

import numpy

import checks
from checks import checked
import files

MAX_METADATA_BYTES = 10_000_000


@checked
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
        text = json.dumps(metadata, allow_nan=False, default=plain)
        parse_metadata(text)  # what load would refuse: too deep, numbers beyond a float
        _string_keys(metadata)  # json.dumps would turn 1 into "1": not read back the same
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"metadata must be plain JSON data with finite numbers: "
                         f"{_first_line(e)}") from None
    return text


def _string_keys(value):
    """Raise TypeError if a dict inside value has a key that is not a str."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"the key {key!r} is not a str")
            _string_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _string_keys(item)


@checked
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


MAX_BYTES = 400_000_000      # all arrays of one checkpoint, decompressed
MAX_MEMBERS = 1_000
MAX_DEPTH = 50               # of metadata JSON
MAX_DIGITS = 300             # of a JSON integer (a float holds up to ~1.8e308)


@checked
def read_npz(path, max_bytes=None):
    """Every array of an .npz file, read defensively (files.read_npz): no pickles; float arrays
    and one text scalar `metadata` only; sizes from the zip directory and each .npy header are
    bounded (max_bytes, by default MAX_BYTES, in all) before anything is decompressed, and
    memory stays within them. Raises ValueError naming the problem (or OSError, BadZipFile or
    zlib.error from the file itself)."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    return files.read_npz(path, _expected, max_bytes, MAX_MEMBERS)


def _expected(name, shape, dtype):
    """None if a checkpoint may hold this array: real floats, or `metadata`, a text scalar;
    else what was expected."""
    if name == "metadata":
        ok = dtype.kind == "U" and dtype.itemsize <= 4 * MAX_METADATA_BYTES and shape == ()
        return None if ok else "a text scalar"
    return None if dtype.kind == "f" and dtype.itemsize <= 16 else "real floats"


def _first_line(error):
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


def _json_depth(text):
    """How deeply the arrays and objects of a JSON text nest (strings skipped)."""
    brackets = re.sub(r'"[^"\\]*(?:\\.[^"\\]*)*"', "", text)
    depth = deepest = 0
    for c in re.findall(r"[\[\]{}]", brackets):
        depth += 1 if c in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


@checked
def parse_metadata(text, what="metadata"):
    """The metadata dict from its JSON text; ValueError for anything else: not JSON, nested
    deeper than MAX_DEPTH, numbers a float cannot hold (1e400, a 400-digit integer), NaN.
    what: the text's name in messages (another small JSON file read the same way)."""
    if _json_depth(text) > MAX_DEPTH:
        raise ValueError(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        metadata = json.loads(text, parse_constant=_refuse, parse_int=_int, parse_float=_float)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{what} is not valid JSON ({_first_line(e)})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(metadata).__name__}")
    return metadata


def _int(text):
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(text):,} digits")
    return int(text)


def _float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is beyond the range of a float")
    return value


@checked
def decode_models(arrays):
    """The arrays of a checkpoint -> ({name or None: params}, metadata dict)."""
    meta = arrays.pop("metadata", None)
    if meta is None or meta.shape != () or meta.dtype.kind != "U" or (
            meta.dtype.itemsize > 4 * MAX_METADATA_BYTES):
        raise ValueError("no metadata text")
    metadata = parse_metadata(str(meta))
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
        name = f"model {model!r}" if model else "params"
        checks.params(layers, name, per_task=False)
        largest = max(float(numpy.abs(a).max()) for layer in layers for a in layer)
        if largest > MAX_WEIGHT:
            raise ValueError(f"{name} holds a weight of magnitude {largest:.3g}; a trained "
                             f"network's are below {MAX_WEIGHT:g} (beyond, its outputs overflow)")
        models[model] = layers
    if arrays:
        raise ValueError(f"unexpected arrays {sorted(arrays)}")
    return models, metadata


def _refuse(constant):
    raise ValueError(f"{constant} is not a finite number")


def _finite_number(v):
    if not isinstance(v, numbers.Real) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond a float
        return False


MAX_LOSS = 1e30            # a loss in a file's history (a plot's log axis takes it)
MAX_ALPHA = 100.0          # a step size (the demos' --alpha): far past where any network blows up
MAX_WEIGHT = 1e4           # |a weight| (the committed models' largest: 17): beyond, outputs overflow


def _count(v, low=0, high=2 ** 53):
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _losses(v):
    return isinstance(v, list) and len(v) >= 1 and all(
        _finite_number(x) and 0 <= x <= MAX_LOSS for x in v)


def _range(v):
    return isinstance(v, list) and len(v) == 2 and all(map(_finite_number, v)) and v[0] <= v[1]


# what a metadata value may be: kind -> (in words, the test)
KINDS = {"count": ("a whole number from 0 to 2^53", _count),
         "positive count": ("a whole number from 1 to 2^53", lambda v: _count(v, low=1)),
         "loss block": (f"a whole number from 1 to {checks.MAX_COUNT:,} (iterations per mean "
                        "of the loss history, as the figures take)",
                        lambda v: _count(v, low=1, high=checks.MAX_COUNT)),
         "seed": ("a whole number from 0 to 2^63 - 1 (the demos' --seed)",
                  lambda v: _count(v, high=2 ** 63 - 1)),
         "iterations": ("a whole number from 0 to 10,000,000 (the demos' --iterations)",
                        lambda v: _count(v, high=10_000_000)),
         "tasks": ("a whole number from 1 to 100,000 (the demos' --meta-batch, --k)",
                   lambda v: _count(v, low=1, high=100_000)),
         "steps": ("a whole number from 0 to 1,000 (the demos' --inner-steps)",
                   lambda v: _count(v, high=1000)),
         "number": ("a finite number", _finite_number),
         "step size": (f"a number from 0 to {MAX_ALPHA:g} (the demos' --alpha)",
                       lambda v: _finite_number(v) and 0 <= v <= MAX_ALPHA),
         "learning rate": ("a finite number > 0 (the demos' --meta-lr)",
                           lambda v: _finite_number(v) and v > 0),
         "numbers": ("a list of finite numbers",
                     lambda v: isinstance(v, list) and all(map(_finite_number, v))),
         "losses": (f"a non-empty list of numbers from 0 to {MAX_LOSS:g}", _losses),
         "flag": ("true or false", lambda v: isinstance(v, bool)),
         "range": ("a list of two finite numbers, the first <= the second", _range),
         "optional range": ("a list of two finite numbers, the first <= the second",
                            _range),  # a key that may be missing (check_schema)
         "optional decay": ('"cosine" (the demos\' --meta-lr-decay; missing: none)',
                            lambda v: v == "cosine"),
         "text": ("printable text of 1 to 200 characters",
                  lambda v: isinstance(v, str) and 0 < len(v) <= 200 and v.isprintable()),
         "layers": ("a list of 2 to 20 whole numbers from 1 to 1,000,000",
                    lambda v: isinstance(v, list) and 2 <= len(v) <= 20 and all(
                        _count(n, low=1, high=1_000_000) for n in v))}


@checked
def expect(value, kind, what):
    """Return value (from a file's metadata) if it is of the kind expected, one of KINDS;
    raise a ValueError naming `what` otherwise."""
    words, ok = KINDS[kind]
    if not ok(value):
        raise ValueError(f"{what} must be {words}, got {_short(value)}")
    return value


def _short(value):
    """A value from a file, in at most ~60 printable characters."""
    text = json.dumps(value, default=repr) if not isinstance(value, str) else repr(value)
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= 60 else text[:56] + " ..."


@checked
def check_agrees(field, value, actual, arrays):
    """Raise a ValueError if a metadata field's value is not `actual`, what the file's arrays
    (or its method) make it; `arrays` says where `actual` comes from, in words. A file whose
    metadata contradicts its weights would otherwise be evaluated as something it is not."""
    if value != actual or isinstance(value, bool) != isinstance(actual, bool):
        raise ValueError(f"its {field} is {_short(value)}, but {arrays}")


@checked
def check_schema(value, schema, what):
    """A copy of `value` (a dict from a file's metadata) if it has exactly the keys of
    `schema` ({key: kind of KINDS}), each of its kind; else a ValueError naming `what` and the
    first key missing, unexpected or of the wrong kind. What passes, every later line can
    print: numbers are finite, text printable, nothing is null."""
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object with the keys {', '.join(schema)}, "
                         f"got {_short(value)}")
    missing = [key for key, kind in schema.items()
               if key not in value and not kind.startswith("optional ")]
    if missing:
        raise ValueError(f"{what} lacks the key{'s' * (len(missing) > 1)} "
                         f"{', '.join(missing)}")
    extra = [key for key in value if key not in schema]
    if extra:
        raise ValueError(f"{what} has the unexpected key {_short(extra[0])} (expected "
                         f"{', '.join(schema)})")
    for key, kind in schema.items():
        if key in value:
            expect(value[key], kind, f"{what} {key}")
    return dict(value)


# --- saving and loading ---------------------------------------------------------------

@checked
def save_params(path, params, **metadata):
    """Write params (and JSON-able metadata) to an .npz file, atomically. Refuses what
    load_params would refuse (NaN weights, a task axis, shapes that don't chain)."""
    _write(path, encode_models({None: params}, metadata))


@checked
def save_models(path, models, **metadata):
    """Several named models in one .npz file, atomically: models = {name: params}. One file
    cannot hold a half-updated pair."""
    if not isinstance(models, dict) or not models or not all(
            isinstance(n, str) and n.isidentifier() for n in models):
        raise ValueError(f"models must be a non-empty dict {{name: params}} with names like "
                         f"'maml', got {models!r:.80}")
    _write(path, encode_models(models, metadata))


@checked
def load_models(path, names=None):
    """Read a checkpoint written by save_models or save_params: path a str or os.PathLike.

    Returns ({name: params}, metadata dict); a file from save_params has the one name None.
    If `names` (a collection) is given, the file must hold exactly those models.
    Raises FileNotFoundError if there is no file, and otherwise ValueError, one line naming
    the file and the problem: never another exception, whatever the file holds; memory
    stays within MAX_BYTES (and the metadata's 40 MB) whatever its headers claim.
    """
    path = _checked_path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"no checkpoint file at {path!r}")
    try:
        files.check_regular(path, limit=MAX_BYTES + MAX_METADATA_BYTES * 4 + (1 << 20))
    except files.Refused as e:
        raise ValueError(str(e)) from None
    try:
        models, metadata = decode_models(read_npz(path))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RecursionError, MemoryError, OverflowError, TypeError, KeyError, IndexError) as e:
        raise ValueError(f"{path!r} is not a valid checkpoint: {_first_line(e)}") from None
    if names is not None and set(models) != set(names):
        missing = _listed([n for n in names if n not in models]) or "none"
        extra = _listed([n for n in models if n not in names]) or "none"
        raise ValueError(f"{path!r} holds the models {_listed(models)}, expected "
                         f"{_listed(names)} (missing: {missing}; unexpected: {extra})")
    return models, metadata


@checked
def load_params(path, model=None):
    """Read one model: a file from save_params, or the named `model` of a file from
    save_models. Returns (params, metadata dict). Raises as load_models."""
    models, metadata = load_models(path)
    if model not in models:
        path = _checked_path(path)
        raise ValueError(f"{path!r} holds the models {_listed(models)}: pass model= one of them"
                         if model is None else f"{path!r} has no model {model!r} "
                         f"(it holds {_listed(models)})")
    return models[model], metadata


def _listed(names):
    return ", ".join("the unnamed one" if n is None else repr(n) for n in names)


def _checked_path(path):
    """A str path from a str or os.PathLike; ValueError for anything else."""
    value = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(value, str) or not value or "\0" in value:
        raise ValueError(f"a checkpoint path must be a non-empty str or os.PathLike, got "
                         f"{path!r:.80}")
    return value


def _write(path, data):
    """Replace the file at `path` by `data`, atomically (files.commit of one file), once the
    loader has read `data` back: nothing is saved that load_models would refuse."""
    path = _checked_path(path)
    try:
        decode_models(read_npz(io.BytesIO(data)))
    except ValueError as e:
        raise ValueError(f"not saved to {path!r}: load_models would refuse it ({e})") from None
    folder, name = os.path.split(os.path.abspath(path))
    files.commit(folder, {name: data})


# --- the demos' files ---------------------------------------------------------------------------

# The metadata each demo writes, and so what its --load accepts: {key: kind of KINDS}.
SINUSOID_CONFIG = dict(iterations="iterations", meta_batch="tasks", k="tasks",
                       alpha="step size", inner_steps="steps", first_order="flag",
                       meta_lr="learning rate", seed="seed")  # and layers: the models' own
VARIANTS_TRAINING = dict(iterations="iterations", meta_batch="tasks", k="tasks",
                         alpha="step size", meta_lr="learning rate", seed="seed",
                         alpha_range="optional range", meta_lr_decay="optional decay")
FEWSHOT_TRAINING = dict(iterations="iterations", meta_batch="tasks",
                        n_way="positive count", shots="positive count",
                        queries="positive count", alpha="step size", meta_lr="learning rate",
                        seed="seed", body="layers", data="text")
SCHEMAS = {"sinusoid": SINUSOID_CONFIG, "variants": VARIANTS_TRAINING,
           "fewshot": FEWSHOT_TRAINING}


@checked
def layers_of(params):
    """The layer sizes of an MLP's params: [inputs, width of each layer...]."""
    return [int(params[0][0].shape[0])] + [int(W.shape[1]) for W, _ in params]


@checked
def load_trained(path, implied=None):
    """The trained models of a file demo_sinusoid.py (--save: 'maml' and 'pretrained', metadata
    config, losses, loss_block) or demo_variants.py (one model, metadata method, training,
    inner_steps, losses, loss_block) wrote -> ({model: (params, losses, block)}, config), with
    config['layers'] the network's layer sizes. The metadata is checked against the schema of
    the demo that wrote it (SINUSOID_CONFIG, VARIANTS_TRAINING), and against what its arrays
    and method make it: implied(method) -> {key: value} (as load_method). Raises
    FileNotFoundError, or a ValueError of one line for anything else."""
    saved, metadata = load_models(path)
    if sorted(saved, key=str) not in (["maml", "pretrained"], [None]):
        raise ValueError(f"it holds the models {_listed(saved)}; expected 'maml' and "
                         "'pretrained' (demo_sinusoid.py --save) or one model "
                         "(demo_variants.py --save)")
    if None in saved:  # one model, from demo_variants.py: its method names it
        method = metadata.get("method")
        if not (isinstance(method, str) and 0 < len(method) <= 40 and method.isprintable()):
            raise ValueError("it holds one model but no method name (metadata 'method')")
        saved = {method: saved.pop(None)}
        config = check_schema(metadata.get("training"), VARIANTS_TRAINING,
                              "its training setting")
        config.update(first_order=method == "fomaml", inner_steps=expect(
            metadata.get("inner_steps"), "steps", "inner_steps"),
            layers=layers_of(saved[method]))
        losses = {method: metadata.get("losses")}
        check_implied(metadata, method, implied)
    else:
        config = metadata.get("config")
        named = config.get("layers") if isinstance(config, dict) else None
        if isinstance(config, dict):  # the layers it names must be the models' own
            config = {key: value for key, value in config.items() if key != "layers"}
        config = check_schema(config, SINUSOID_CONFIG, "its training setting")
        config["layers"] = layers_of(saved["maml"])
        if named is not None:
            check_agrees("layers", named, config["layers"],
                         f"its models have layers {config['layers']}")
        losses = metadata.get("losses")
        if not isinstance(losses, dict):
            raise ValueError(f"its losses must be a JSON object {{model: [numbers]}}, got "
                             f"{_short(losses)}")
        extra = sorted(set(losses) - set(saved))
        if extra:
            raise ValueError(f"its losses name the model {_short(extra[0])}, but it holds "
                             "'maml' and 'pretrained' only")
    block = expect(metadata.get("loss_block"), "loss block", "loss_block")
    models = {model: (params, expect(losses.get(model), "losses", f"the losses of {model!r}"),
                      block) for model, params in saved.items()}
    layers = {tuple(layers_of(p)) for p, _, _ in models.values()}
    if len(layers) != 1:
        raise ValueError(f"its models have different layers {sorted(layers)}")
    return models, config


@checked
def load_method(path, method, schema=None, implied=None):
    """One method's file of demo_variants.py or demo_fewshot.py --save: exactly one model, its
    metadata naming `method`, its training settings (checked against `schema`, one of SCHEMAS'
    values; without one, only the kinds of the settings it has) and loss history. Returns
    (params, training settings dict, losses). implied(method) -> {key: value}: what the
    method's name makes of the metadata's keys (its inner steps, say); a key the file holds
    must agree. Raises FileNotFoundError, or a ValueError of one line."""
    models, metadata = load_models(path, names={None})
    training = metadata.get("training")
    if metadata.get("method") != method:
        raise ValueError(f"not a checkpoint of {method!r} (its metadata names "
                         f"{_short(metadata.get('method'))})")
    if schema is not None:
        training = check_schema(training, schema, "its training setting")
    elif not isinstance(training, dict):
        raise ValueError(f"its training setting must be a JSON object, got {_short(training)}")
    else:
        kinds = dict(VARIANTS_TRAINING, **FEWSHOT_TRAINING)
        for key, value in training.items():
            expect(value, kinds.get(key, "number"), f"its training setting {key}")
    check_extras(metadata)
    check_implied(metadata, method, implied)
    return models[None], training, expect(metadata.get("losses"), "losses", "losses")


def check_implied(metadata, method, implied):
    """Raise a ValueError if a key of the metadata is not what implied(method) says it is."""
    for key, value in (implied(method) if implied else {}).items():
        if key in metadata:
            check_agrees(key, metadata[key], value, f"a {method!r} model has {value}")


OPTIONAL_METADATA = dict(inner_steps="count", test_alpha="number", loss_block="loss block",
                         label="text")  # keys a method's file may hold beside its training


@checked
def check_extras(metadata):
    """Raise a ValueError naming the key if one of OPTIONAL_METADATA's keys in a file's
    metadata (a dict) is not of its kind."""
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a JSON object, got {_short(metadata)}")
    for key, kind in OPTIONAL_METADATA.items():
        if key in metadata:
            expect(metadata[key], kind, key)
