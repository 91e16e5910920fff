"""Glyphs: a few-shot image set made offline, like Omniglot (Lake, Salakhutdinov & Tenenbaum
2015, "Human-level concept learning through probabilistic program induction"), from the fonts
matplotlib ships. Also a reader for the real Omniglot, for whoever has downloaded it.

Omniglot has 1,623 characters of 50 alphabets, 20 drawings of each, 30 alphabets for meta-training
("background") and 20 held out ("evaluation"). Here the classes are letters of scripts, the
scripts play the alphabets, and an instance of a letter is one rendering of it:

    a font face      DejaVu Sans / Serif / Sans Mono and STIX, each regular, bold, italic and
                     bold italic, as far as they cover the script (at least 2 faces per letter)
    a random affine  rotation ±20°, scale 0.75-1.05, shear ±0.3, shift ±3 pixels
    a stroke width   half the time a regular face is thickened and a bold one thinned by a
                     pixel (grey dilation or erosion): four weights in all

Each glyph is first scaled to fit a 20×20 box and centred (MNIST's normalisation), then
distorted, then reduced to 28×28: float32 in [0, 1], ink = 1 on a background of 0 (Omniglot's
black-on-white inverted, as the MAML code feeds it). The split is fixed by script (SCRIPTS):
11 background scripts, 6 evaluation scripts. Letters that look the same as an earlier letter
(Latin A, Greek Alpha, Cyrillic A; I, l, Hebrew vav, all a bar once scaled to the box) are kept
once, compared in every pair of font faces (a Tifinagh ⵊ in one face is a serif Latin I in
another): two letters of one part of the split differing by less than DUPLICATE_DISTANCE (RMS),
or letters of two parts (training, validation, evaluation: PARTS) by less than LEAK_DISTANCE,
are one letter, kept in the earlier part, so no image of the validation or evaluation scripts
nearly repeats a training one (split_report counts what this removes).
Generated in seconds and cached outside the repository.

Few-shot episodes (N-way, K-shot): N classes of one split, K support and Q query images of each,
labels 0..N-1 given to the classes in a random order.
"""
import hashlib
import io
import json
import os
import unicodedata
import warnings
import zipfile
from collections import namedtuple

import matplotlib
import numpy
from matplotlib import ft2font
from PIL import Image, ImageFilter

import checkpoints
import checks
from checks import checked
import files

VERSION = 7                # of the cache: 7 holds a digest of its arrays (the images are 6's)
SIZE = 28                  # side of the images, pixels
BOX = 20                   # a glyph is scaled to fit a BOX × BOX square, then distorted
FIRST_SIZE = 2 * SIZE      # distortions are done at twice the final size, then area-averaged
ROTATION_DEGREES = 20       # these four: pixel 1-NN scores about what it does on Omniglot
SCALE_RANGE = (0.75, 1.05)
SHEAR = 0.3
SHIFT = 3                  # pixels, at SIZE
DUPLICATE_DISTANCE = 0.1   # RMS pixel difference below which two letters count as the same,
LEAK_DISTANCE = 0.15       # ... and below which a held-out letter counts as a training letter's
                           # twin, in any two font faces (find_duplicates)

# (script, the start of its letters' Unicode names, split): the fixed, documented split
SCRIPTS = [
    ("Latin", "LATIN ", "background"),
    ("Greek", "GREEK ", "background"),
    ("Coptic", "COPTIC ", "background"),
    ("Old Italic", "OLD ITALIC LETTER ", "background"),
    ("Cyrillic", "CYRILLIC ", "background"),
    ("Georgian Mkhedruli", "GEORGIAN LETTER ", "background"),
    ("Georgian Asomtavruli", "GEORGIAN CAPITAL LETTER ", "background"),
    ("Georgian Nuskhuri", "GEORGIAN SMALL LETTER ", "background"),
    ("Arabic", "ARABIC LETTER ", "background"),
    ("Lisu", "LISU LETTER ", "background"),
    ("Canadian syllabics", "CANADIAN SYLLABICS ", "background"),
    ("Armenian", "ARMENIAN ", "evaluation"),
    ("Hebrew", "HEBREW LETTER ", "evaluation"),
    ("Lao", "LAO LETTER ", "evaluation"),
    ("N'Ko", "NKO LETTER ", "evaluation"),
    ("Ogham", "OGHAM LETTER ", "evaluation"),
    ("Tifinagh", "TIFINAGH LETTER ", "evaluation"),
]
# background scripts held out of training: where step sizes and read-outs are chosen
VALIDATION_SCRIPTS = ("Coptic", "Old Italic", "Georgian Nuskhuri", "Lisu")
PARTS = ("training", "validation", "evaluation")  # the order in which lookalikes are kept


def part_of(script):
    """The part of the split a script's letters belong to: one of PARTS."""
    split = dict((name, part) for name, _, part in SCRIPTS)
    if split[script] == "evaluation":
        return "evaluation"
    return "validation" if script in VALIDATION_SCRIPTS else "training"

FACES = [  # font files of matplotlib's fonts/ttf; the first is the one dedup compares first
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf", "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
]

Glyphs = namedtuple("Glyphs", "images script char background evaluation")
Glyphs.__doc__ = """A few-shot image set of C classes (characters), I instances each.

images     (C, I, 28, 28) float32 in [0, 1], ink = 1
script     (C,) str, the script (alphabet) of each class
char       (C,) str, the character (for Omniglot: alphabet/characterNN)
background, evaluation   class indices of the two splits, disjoint, by script
"""

Episodes = namedtuple("Episodes", "x_support y_support x_query y_query classes")
Episodes.__doc__ = """T few-shot episodes, N-way, K support and Q query images per class.

x_support (T, N*K, 784) float32, y_support (T, N*K, N) one-hot
x_query   (T, N*Q, 784) float32, y_query   (T, N*Q, N) one-hot
classes   (T, N) the class behind each label: label n of episode t is class classes[t, n]
The first four fields are those of tasks.Batch: maml.maml_loss(params, *episodes[:4]) works.
"""


# --- rendering ----------------------------------------------------------------------------

def font_folder():
    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")


def render(font, char):
    """The glyph of `char` in an FT2Font, antialiased, cropped to its ink: uint8 (h, w);
    None if it draws nothing."""
    font.set_text(char)
    font.draw_glyphs_to_bitmap(antialiased=True)
    image = numpy.asarray(font.get_image())
    rows, cols = numpy.nonzero(image > 32)
    if len(rows) == 0:
        return None
    return image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def fit_to_box(glyph, size=FIRST_SIZE, box=BOX * FIRST_SIZE // SIZE):
    """Scale a cropped glyph (h, w) so that its longer side is `box`, and centre it on a
    size × size canvas: uint8 (size, size). The aspect ratio is kept."""
    h, w = glyph.shape
    scale = box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = Image.fromarray(glyph).resize((new_w, new_h), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (size, size))
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return numpy.asarray(canvas)


def letters():
    """[(script, char)] of SCRIPTS, in SCRIPTS' order then code point order: letters (Unicode
    category L) that are not a base letter plus a mark (no é, ά: their decomposition is empty)."""
    found = {name: [] for name, _, _ in SCRIPTS}
    covered = set()
    for face in FACES:
        covered.update(ft2font.FT2Font(os.path.join(font_folder(), face)).get_charmap())
    for code in sorted(covered):
        char = chr(code)
        if not unicodedata.category(char).startswith("L") or unicodedata.decomposition(char):
            continue
        unicode_name = unicodedata.name(char, "")
        for name, prefix, _ in SCRIPTS:  # no prefix is the start of another
            if unicode_name.startswith(prefix):
                found[name].append(char)
    return [(name, char) for name, _, _ in SCRIPTS for char in found[name]]


def render_masters(chars):
    """Each character in each face that has it, fitted to the box: {face index: {i: uint8
    (56, 56)}} with i the index in chars."""
    masters = {}
    for f, face in enumerate(FACES):
        font = ft2font.FT2Font(os.path.join(font_folder(), face))
        font.set_size(48, 72)  # 48 pixels per em: the box (40 pixels) is reached by shrinking
        charmap = font.get_charmap()
        masters[f] = {}
        for i, char in enumerate(chars):
            if ord(char) in charmap and (glyph := render(font, char)) is not None:
                masters[f][i] = fit_to_box(glyph)
    return masters


def shrink(images):
    """(..., 2s, 2s) -> (..., s, s) float32 in [0, 1], each pixel the mean of a 2×2 block."""
    *lead, h, w = images.shape
    blocks = images.reshape(*lead, h // 2, 2, w // 2, 2).astype(numpy.float32) / 255
    return blocks.mean(axis=(-3, -1))


def closest_distances(masters, n_chars):
    """(n_chars, n_chars) float32: for each pair of characters, the smallest root-mean-square
    difference between their 28×28 images over every pair of font faces that have them (the
    same face or two different ones: a sans-serif letter can look like another script's serif
    letter). inf on the diagonal and where no face has one of the two."""
    closest = numpy.full((n_chars, n_chars), numpy.inf, numpy.float32)
    faces = [(numpy.array(sorted(by_char)),
              shrink(numpy.stack([by_char[i] for i in sorted(by_char)])).reshape(len(by_char), -1))
             for by_char in masters.values() if by_char]
    for f, (index_f, x_f) in enumerate(faces):
        for index_g, x_g in faces[f:]:
            # ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b, for all pairs of the two faces at once
            squared = (numpy.sum(x_f ** 2, axis=1)[:, None] + numpy.sum(x_g ** 2, axis=1)[None]
                       - 2 * x_f @ x_g.T)
            distance = numpy.sqrt(numpy.maximum(squared, 0) / x_f.shape[1])
            block, mirror = numpy.ix_(index_f, index_g), numpy.ix_(index_g, index_f)
            closest[block] = numpy.minimum(closest[block], distance)
            closest[mirror] = numpy.minimum(closest[mirror], distance.T)
    numpy.fill_diagonal(closest, numpy.inf)
    return closest


def find_duplicates(masters, n_chars, threshold=DUPLICATE_DISTANCE, part=None,
                    across=LEAK_DISTANCE):
    """A boolean mask of the characters that look like an earlier kept one: in some pair of
    font faces (closest_distances), their images differ by less than `threshold` (root mean
    square), or by less than `across` if `part` (n_chars,) puts the two in different splits
    (a held-out letter that nearly repeats a training letter makes the test easier than it
    says). Earlier characters win: those of an earlier part of PARTS (training letters are
    never removed for a held-out one), then SCRIPTS' order."""
    closest = closest_distances(masters, n_chars)
    limit = numpy.full((n_chars, n_chars), threshold)
    order = numpy.arange(n_chars)
    if part is not None:
        part = numpy.asarray(part)
        limit[part[:, None] != part[None, :]] = across
        order = numpy.argsort([PARTS.index(p) for p in part], kind="stable")
    duplicate = numpy.empty(n_chars, bool)
    duplicate[order] = keep_first((closest < limit)[numpy.ix_(order, order)])
    return duplicate


def keep_first(similar):
    """similar (n, n) bool -> the mask of the items that are similar to an earlier kept one."""
    duplicate = numpy.zeros(len(similar), bool)
    for i in range(len(similar)):
        duplicate[i] = similar[i, :i][~duplicate[:i]].any()
    return duplicate


def distort(master, angle, scale, shear, shift, thickness):
    """One instance: an affine distortion of a master (56, 56) about its centre, its strokes
    thinned (thickness -1), kept (0) or thickened (+1), reduced to (28, 28) uint8 with 255 at
    its darkest (a thin stroke that came out grey is made black again)."""
    c, s = numpy.cos(angle), numpy.sin(angle)
    # The glyph moves by A = rotation(angle) · shear · scale. PIL asks the opposite: where
    # each output pixel comes from, A⁻¹ = scale⁻¹ · shear(−shear) · rotation(−angle).
    inverse = numpy.array([[1, -shear], [0, 1]]) @ numpy.array([[c, s], [-s, c]]) / scale
    centre = FIRST_SIZE / 2
    offset = centre - inverse @ (centre + numpy.asarray(shift) * FIRST_SIZE / SIZE)
    coefficients = (*inverse[0], offset[0], *inverse[1], offset[1])
    image = Image.fromarray(master).transform((FIRST_SIZE, FIRST_SIZE), Image.Transform.AFFINE,
                                              coefficients, Image.Resampling.BILINEAR)
    if thickness:
        image = image.filter(ImageFilter.MaxFilter(3) if thickness > 0 else
                             ImageFilter.MinFilter(3))
    small = numpy.asarray(image.resize((SIZE, SIZE), Image.Resampling.BOX), numpy.float32)
    return numpy.round(small * (255 / max(small.max(), 1))).astype(numpy.uint8)  # darkest: 255


@checked
def generate(seed=0, instances=20, scripts=None):
    """Render the set (no cache): Glyphs with uint8 images in 0..255. scripts: a few names of
    SCRIPTS for a smaller set (letters are then deduplicated among those scripts only)."""
    rng = numpy.random.default_rng(seed)
    candidates = [(name, char) for name, char in letters() if scripts is None or name in scripts]
    masters = render_masters([char for _, char in candidates])
    faces_of = [[f for f in masters if i in masters[f]] for i in range(len(candidates))]
    part = [part_of(name) for name, _ in candidates]
    keep = [i for i in numpy.flatnonzero(~find_duplicates(masters, len(candidates), part=part))
            if len(faces_of[i]) >= 2]
    n = len(keep)
    face = rng.integers(0, 1 << 30, size=(n, instances))  # taken modulo each class's faces
    angle = numpy.radians(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES, size=(n, instances)))
    scale = rng.uniform(*SCALE_RANGE, size=(n, instances))
    shear = rng.uniform(-SHEAR, SHEAR, size=(n, instances))
    shift = rng.uniform(-SHIFT, SHIFT, size=(n, instances, 2))
    change_weight = rng.random(size=(n, instances)) < 0.5
    images = numpy.empty((n, instances, SIZE, SIZE), numpy.uint8)
    for c, i in enumerate(keep):
        for j in range(instances):
            f = faces_of[i][face[c, j] % len(faces_of[i])]
            thickness = change_weight[c, j] * (-1 if "Bol" in FACES[f] else 1)
            images[c, j] = distort(masters[f][i], angle[c, j], scale[c, j], shear[c, j],
                                   shift[c, j], thickness)
    script = numpy.array([candidates[i][0] for i in keep])
    char = numpy.array([candidates[i][1] for i in keep])
    in_background = numpy.array([part_of(s) != "evaluation" for s in script])
    return Glyphs(images, script, char, numpy.flatnonzero(in_background),
                  numpy.flatnonzero(~in_background))


def split_report(cache=True, kept=None):
    """What the deduplication across font faces removed, for the page that reports the
    split: {threshold, across, before: {training, validation, evaluation}, after: {...}}, the
    classes of each part (PARTS)
    kept by the earlier rule (letters compared within one face at a time, DUPLICATE_DISTANCE
    everywhere) and by find_duplicates'. Renders the masters again (about 15 s), or, with
    cache=True, reads what an earlier call wrote beside the glyph cache (the same settings
    and fonts: the same report). The cache is optional, as the glyph cache is: a file that
    cannot be read or fails check_split_report is one warning and the report is measured
    again. kept: (training, validation, evaluation), the classes of the glyph set in use,
    which the report's 'after' must count."""
    path, warned = cache_path(0, 1).replace(".npz", "-split-report.json"), False
    if cache and os.path.lexists(path):
        try:
            return read_split_report(path, kept)
        except Exception as e:  # noqa: BLE001 -- the cache is optional: any failure, measure
            reason = _reason(e).replace(files.shown(path), "it")
            warnings.warn(_cut(f"split report not used ({reason}); measuring it"),
                          stacklevel=2)
            warned = True  # one line only
    report = measure_split()
    if cache:
        try:
            folder, name = os.path.split(path)
            files.commit(folder, {name: json.dumps(report).encode()})
        except Exception as e:  # noqa: BLE001 -- an unwritable cache is no error
            if not warned:
                warnings.warn(_cut(f"split report not written ({_reason(e)})"),
                              stacklevel=2)
    return report


MAX_REPORT_BYTES = 4096  # a split report file (what measure_split writes: ~ 120 bytes)


def read_split_report(path, kept=None):
    """The split report in the file `path`, read within files.py's budgets (a regular file of
    at most MAX_REPORT_BYTES, never a FIFO), parsed as strictly as a checkpoint's metadata
    (checkpoints.parse_metadata: depth, numbers) and checked (check_split_report). Raises a
    ValueError naming what is wrong."""
    data = files.read_regular(path, limit=MAX_REPORT_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None
    return check_split_report(checkpoints.parse_metadata(text, "it"), kept)


def check_split_report(report, kept=None):
    """report, if it is what measure_split returns for this module's settings: exactly its
    keys, the thresholds DUPLICATE_DISTANCE and LEAK_DISTANCE, a whole count for each part of
    PARTS, at most the letters of its scripts, and, if kept = (training, validation,
    evaluation) is given, 'after' equal to it. Else a ValueError naming the first value that
    is not. (A part may keep more letters than before: training letters now win over
    held-out ones.)"""
    if sorted(report) != ["across", "after", "before", "threshold"]:
        raise ValueError(f"keys {sorted(report)}, expected across, after, before, threshold")
    for key, value in (("threshold", DUPLICATE_DISTANCE), ("across", LEAK_DISTANCE)):
        if report[key] != value or isinstance(report[key], bool):
            raise ValueError(f"{key} {str(report[key])[:20]}, not {value}")
    for key in ("before", "after"):
        counts = report[key]
        if not isinstance(counts, dict) or sorted(counts) != sorted(PARTS) or not all(
                type(n) is int and n >= 0 for n in counts.values()):
            raise ValueError(f"{key} is not {len(PARTS)} counts >= 0 ({', '.join(PARTS)})")
    letters_of = [sum(part_of(name) == part for name, _ in letters()) for part in PARTS]
    for key in ("before", "after"):
        counts = [report[key][p] for p in PARTS]
        if not all(c <= n for c, n in zip(counts, letters_of)):
            raise ValueError(f"{key} {counts} > letters {letters_of}")
    after = [report["after"][p] for p in PARTS]
    if kept is not None and after != [int(n) for n in kept]:
        raise ValueError(f"after {after}, data {[int(n) for n in kept]}")
    return report


def measure_split():
    """split_report's numbers, measured (no cache)."""
    candidates = letters()
    masters = render_masters([char for _, char in candidates])
    n = len(candidates)
    part = numpy.array([part_of(name) for name, _ in candidates])
    usable = numpy.array([sum(i in by_char for by_char in masters.values()) >= 2
                          for i in range(n)])
    one_face = numpy.zeros((n, n), bool)
    for f, by_char in masters.items():
        one_face |= closest_distances({f: by_char}, n) < DUPLICATE_DISTANCE
    before = keep_first(one_face)
    after = find_duplicates(masters, n, part=part)

    def kept(duplicate):
        return {name: int((usable & ~duplicate & (part == name)).sum())
                for name in PARTS}

    return dict(threshold=DUPLICATE_DISTANCE, across=LEAK_DISTANCE, before=kept(before),
                after=kept(after))


# --- the cache ------------------------------------------------------------------------------

def cache_path(seed, instances, scripts=None):
    """cache_home()/maml-from-scratch/glyphs-v<VERSION>-<hash>.npz; the hash
    covers what changes the images: seed, instances, this module's settings, the fonts."""
    fonts = [(face, os.path.getsize(os.path.join(font_folder(), face))) for face in FACES]
    settings = (VERSION, seed, instances, scripts, SIZE, BOX, ROTATION_DEGREES, SCALE_RANGE,
                SHEAR, SHIFT, DUPLICATE_DISTANCE, LEAK_DISTANCE, SCRIPTS, fonts,
                matplotlib.__version__, ft2font.__freetype_version__, Image.__version__,
                unicodedata.unidata_version)
    digest = hashlib.sha256(repr(settings).encode()).hexdigest()[:16]
    return os.path.join(cache_home(), "maml-from-scratch", f"glyphs-v{VERSION}-{digest}.npz")


def cache_home():
    """$XDG_CACHE_HOME if it is an absolute path, else ~/.cache: the XDG Base Directory spec
    says a relative path there is invalid and must be ignored (it would name a folder of
    whatever the current directory is), and an empty one means unset."""
    root = os.environ.get("XDG_CACHE_HOME", "")
    return root if os.path.isabs(root) else os.path.join(os.path.expanduser("~"), ".cache")


MAX_CACHE_BYTES = 256 * 2 ** 20  # a cache file's arrays, inflated (the full set: ~ 21 MB)
MAX_NAME_CHARS = 200             # a script or character name in the cache


def cache_bytes(glyphs):
    """The .npz bytes of uint8 glyphs, as write_cache writes them: their arrays and `digest`,
    the sha256 of them (cache_digest)."""
    buffer = io.BytesIO()
    numpy.savez(buffer, **glyphs._asdict(), digest=cache_digest(glyphs))
    return buffer.getvalue()


def cache_digest(glyphs):
    """The sha256 of every array of glyphs, its name, dtype and shape with its bytes: (32,)
    uint8. A cache whose arrays were changed, even to other valid ones, no longer matches."""
    digest = hashlib.sha256()
    for name in Glyphs._fields:
        array = numpy.ascontiguousarray(getattr(glyphs, name))
        digest.update(repr((name, array.dtype.str, array.shape)).encode())
        digest.update(array.tobytes())
    return numpy.frombuffer(digest.digest(), numpy.uint8)


def write_cache(path, glyphs):
    """Save uint8 glyphs to `path` atomically (files.commit: a reader sees the old file or the
    new, never half of one), once they pass the checks read_cache makes."""
    check_cache(glyphs, glyphs.images.shape[1] if glyphs.images.ndim == 4 else 0)
    folder, name = os.path.split(os.path.abspath(path))
    files.commit(folder, {name: cache_bytes(glyphs)})


def _cache_expected(name, shape, dtype):
    """None if a glyph cache may hold this array, else what was expected (files.read_npz)."""
    wanted = {"images": ("u", 1, 4), "script": ("U", 4 * MAX_NAME_CHARS, 1),
              "char": ("U", 4 * MAX_NAME_CHARS, 1), "background": ("iu", 8, 1),
              "evaluation": ("iu", 8, 1), "digest": ("u", 1, 1)}.get(name)
    if wanted is None:
        return f"only the arrays {', '.join(Glyphs._fields)}, digest"
    kinds, widest, ndim = wanted
    if dtype.kind not in kinds or dtype.itemsize > widest or len(shape) != ndim:
        return f"a {ndim}-d array of {'uint8' if kinds == 'u' else 'text' if kinds == 'U' else 'ints'}"
    return None


def read_cache(path, instances):
    """uint8 Glyphs from `path`, or a ValueError naming what is wrong with the file. The file
    is read within budgets (files.read_npz: a regular file, MAX_CACHE_BYTES inflated), its
    arrays checked against the digest stored with them (cache_digest) and their content like
    a checkpoint's (check_cache)."""
    arrays = files.read_npz(path, _cache_expected, MAX_CACHE_BYTES, max_members=10)
    if "digest" not in arrays:
        raise ValueError("it holds no digest of its arrays")
    if sorted(arrays) != sorted([*Glyphs._fields, "digest"]):
        raise ValueError(f"holds {sorted(arrays)}, expected {sorted([*Glyphs._fields, 'digest'])}")
    digest = arrays.pop("digest")
    glyphs = Glyphs(**arrays)
    if not numpy.array_equal(digest, cache_digest(glyphs)):
        raise ValueError("its arrays do not match their digest")
    check_cache(glyphs, instances)
    return glyphs


def check_cache(glyphs, instances):
    """Raise a ValueError unless uint8 glyphs are what generate() makes: images (C, instances,
    28, 28) uint8, each with full ink (255); C script and character names; background and
    evaluation non-empty, disjoint, covering the classes, split by script."""
    n = len(glyphs.images)
    if glyphs.images.dtype != numpy.uint8 or glyphs.images.shape != (n, instances, SIZE, SIZE):
        raise ValueError(f"images are {glyphs.images.dtype} {glyphs.images.shape}, expected "
                         f"uint8 (C, {instances}, {SIZE}, {SIZE})")
    if n == 0:
        raise ValueError("it holds no classes")
    for name in ("script", "char"):
        value = getattr(glyphs, name)
        if value.shape != (n,) or value.dtype.kind != "U":
            raise ValueError(f"{name} is not {n} strings")
    if (glyphs.images.max(axis=(2, 3)) != 255).any():
        raise ValueError("some images have no full-ink pixel, as every generated one has")
    for name in ("background", "evaluation"):
        part = getattr(glyphs, name)
        if part.ndim != 1 or part.dtype.kind not in "iu" or len(part) == 0:
            raise ValueError(f"its {name} split is empty or not a list of classes")
    both = numpy.concatenate([glyphs.background, glyphs.evaluation])
    if not numpy.array_equal(numpy.sort(both), numpy.arange(n)):
        raise ValueError("background and evaluation do not split the classes")
    if set(glyphs.script[glyphs.background]) & set(glyphs.script[glyphs.evaluation]):
        raise ValueError("a script is in both splits")


@checked
def load_glyphs(seed=0, instances=20, cache=True, scripts=None):
    """The glyph set for a seed: Glyphs with images (C, instances, 28, 28) float32 in [0, 1].

    The same seed (and fonts) gives the same images. With cache=True the set is read from
    cache_path(seed, instances) if a valid file is there, else generated (a few seconds) and
    written there. The cache is optional: a file that cannot be read or trusted, or a cache
    folder that cannot be written, means the set is made in memory, with one warning
    (UserWarning, one line) saying why, never an error. scripts: names of SCRIPTS to keep (default all).
    """
    checks.count("seed", seed, low=0)
    checks.count("instances", instances, low=1, high=10_000)
    known = [name for name, _, _ in SCRIPTS]
    if scripts is not None:
        unknown = [name for name in scripts if name not in known] if not isinstance(
            scripts, str) else [scripts]
        if unknown or not scripts:
            raise ValueError(f"scripts must be a non-empty list of names among {known}, "
                             f"got {scripts!r}")
        scripts = tuple(name for name in known if name in scripts)
    glyphs, warned = None, False
    path = cache_path(seed, instances, scripts)
    if cache and os.path.lexists(path):
        try:
            glyphs = read_cache(path, instances)
        except Exception as e:  # noqa: BLE001 -- the cache is optional: any failure, rebuild
            reason = _reason(e).replace(files.shown(path), "it")
            warnings.warn(_cut(f"glyph cache not used ({reason}); rebuilding it"), stacklevel=2)
            warned = True  # said at once, before the seconds of rendering; one line only
    if glyphs is None:
        glyphs = generate(seed, instances, scripts)
        if cache:
            try:
                write_cache(path, glyphs)
            except Exception as e:  # noqa: BLE001 -- an unwritable cache is no error
                if not warned:
                    warnings.warn(_cut(f"glyph cache not written ({_reason(e)}); the glyphs "
                                       "were made in memory"), stacklevel=2)
    return glyphs._replace(images=glyphs.images.astype(numpy.float32) / 255)


def _cut(text, width=73):
    """One warning line of at most `width` characters (a demo's prefix takes 27 of 100)."""
    return text if len(text) <= width else text[:width - 3] + "..."


def _reason(error):
    """Why a cache could not be used, in few words: an OSError's reason and file name."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {files.shown(error.filename or '', 40)}"
    return _first_line(error)


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


# --- real Omniglot --------------------------------------------------------------------------

def printable(name, limit=60):
    """A folder or member name as printable text for tables and figures: bytes that are not
    UTF-8 as \\xNN, other unprintable characters escaped, cut to `limit` characters."""
    if isinstance(name, str):
        name = os.fsencode(name) if any("\udc80" <= c <= "\udcff" for c in name) else name
    if isinstance(name, bytes):
        name = name.decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in name)
    return text if len(text) <= limit else text[:limit - 1] + "…"


MAX_OMNIGLOT_PIXELS = 2_000_000_000  # decoded in one load_omniglot (Omniglot: 358 million)


@checked
def decode_drawing(data, where, pixels=None):
    """One Omniglot drawing, 28×28 float32 with ink = 1, from PNG bytes (data: bytes or
    bytearray; where: a str, at most 1,000 characters): its size read from
    the PNG header and checked before decoding (files.png_size), then resized with Lanczos
    resampling (as in the MAML paper's code) and inverted. Raises files.Refused naming
    `where` (the file, or the archive and member) for anything that is not such an image.
    pixels: a files.Budget the image's pixels are taken from, if given."""
    width, height = files.png_size(data, where)
    if pixels is not None:
        pixels.take(width * height)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
                small = image.convert("L").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    except Exception as e:  # noqa: BLE001 -- Pillow raises many kinds for a broken image
        raise files.Refused(f"{where} is not a readable PNG image ({_first_line(e)})") from None
    return 1 - numpy.asarray(small, numpy.float32) / 255


def omniglot_split(path, part):
    """{(alphabet, character): [28×28 drawings]} of one Omniglot part ('images_background' or
    'images_evaluation'), from the folder path/part or the zip path/part.zip, read within the
    budgets of files.py (regular files only, entries, depth, inflated bytes, image sizes)."""
    folder, archive = os.path.join(path, part), os.path.join(path, part + ".zip")
    found = {}
    pixels = files.Budget(MAX_OMNIGLOT_PIXELS, f"{part} in {files.shown(path, 60)}",
                          "holds images of", "pixels")
    if os.path.isdir(folder):
        for parts, file in files.walk(folder, lambda name: name.endswith(".png")):
            if len(parts) == 2:
                check_class_names(parts, files.shown(file, 60))
                data = files.read_regular(file, folder, files.MAX_MEMBER_BYTES)
                found.setdefault(parts, []).append(decode_drawing(data, files.shown(file),
                                                                  pixels))
    elif os.path.lexists(archive):
        z = files.open_zip(archive)
        try:
            budget = files.Budget(files.MAX_INFLATED_BYTES, files.shown(archive))
            members = sorted(z.infolist(), key=lambda i: i.filename)
            for info, after in zip(members, members[1:] + [None]):
                parts = info.filename.split("/")
                if info.filename.endswith(".png") and len(parts) == 4 and parts[0] == part:
                    where = (f"{files.shown(archive, 40)}: the member "
                             f"{files.shown(info.filename, 50)}")
                    if after is not None and after.filename == info.filename:
                        raise files.Refused(f"{where} appears twice (which is the drawing?)")
                    check_class_names(parts[1:3], where)
                    data = files.read_member(z, info, archive, budget=budget)
                    found.setdefault(tuple(parts[1:3]), []).append(
                        decode_drawing(data, where, pixels))
        finally:
            files.close_zip(z)
    else:
        raise FileNotFoundError(f"no Omniglot {part}/ folder or {part}.zip in {path!r}")
    if not found:
        raise ValueError(f"{part} in {path!r} holds no alphabet/character/*.png images")
    return found


def check_class_names(names, where):
    """Refuse (files.Refused, naming `where`: the file or the archive and member) an alphabet
    and character, names = (alphabet, character), either of which is not one plain folder
    name: empty, '.', '..', or holding a path separator, NUL, another control character or a
    line break. A zip member's name can hold any of these; each would have become a class."""
    for kind, name in zip(("alphabet", "character"), names):
        if name in ("", ".", "..") or any(  # NUL and the other controls: category Cc
                c in ("/", os.sep, os.altsep) or unicodedata.category(c) in ("Cc", "Zl", "Zp")
                for c in name):
            raise files.Refused(f"{where}: its {kind} {files.shown(name, 30)} is not a plain "
                                "folder name (no separators or control characters, not . or ..)")


@checked
def load_omniglot(path, min_drawings=1):
    """Real Omniglot (Lake et al. 2015) as Glyphs, with its standard split: background = the
    30 alphabets of images_background, evaluation = the 20 of images_evaluation.

    path: a folder holding images_background and images_evaluation, as folders or as the
    official zips. Each 105×105 black-on-white drawing is resized to 28×28 with Lanczos
    resampling (as in the MAML paper's code) and inverted: ink = 1. A character with more
    drawings than the fewest any character has keeps its first ones (Omniglot has 20 each);
    a character with fewer than `min_drawings` is refused (ValueError naming it). Alphabet
    names are made printable (printable()). Everything is read within files.py's budgets:
    files.Refused (a ValueError) names the file for anything beyond them.
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no Omniglot folder at {os.fspath(path)!r}")
    names = ("images_background", "images_evaluation")
    parts = [omniglot_split(path, part) for part in names]
    for name, part in zip(names, parts):
        for (alphabet, character), drawings in sorted(part.items()):
            if len(drawings) < min_drawings:
                raise ValueError(f"{name}/{printable(alphabet)}/{printable(character)} has "
                                 f"{len(drawings)} drawing{'s' * (len(drawings) != 1)}, fewer "
                                 f"than the {min_drawings} needed")
    keys = [key for part in parts for key in sorted(part)]
    drawings = [part[key] for part in parts for key in sorted(part)]
    instances = min(len(d) for d in drawings)
    images = numpy.stack([numpy.stack(d[:instances]) for d in drawings])
    n_background = len(parts[0])
    return Glyphs(numpy.clip(images, 0, 1), numpy.array([printable(a) for a, _ in keys]),
                  numpy.array([f"{printable(a)}/{printable(c)}" for a, c in keys]),
                  numpy.arange(n_background), numpy.arange(n_background, len(keys)))


# --- episodes -------------------------------------------------------------------------------

@checked
def sample_episodes(images, classes, n_way, k_shot, n_query, n_episodes, rng):
    """n_episodes N-way K-shot episodes from the given classes of images (C, I, 28, 28).

    Each episode: N classes drawn without replacement, then K + Q distinct instances of each;
    label n goes to classes[t, n], an order that is random per episode. Points are grouped by
    label (label 0's K supports first). Returns Episodes (shapes in its docstring). Episodes
    that would not fit in memory (checks.episodes_bytes, checks.fits) are refused up front.
    """
    images = numpy.asarray(images)
    if images.ndim != 4 or min(images.shape) < 1 or images.dtype.kind != "f":
        raise ValueError(f"images must be a float array (classes C, instances I, height, "
                         f"width), got an array of shape {images.shape} and dtype {images.dtype}")
    classes = numpy.asarray(classes)
    if classes.ndim != 1 or classes.dtype.kind not in "iu" or not (
            (0 <= classes) & (classes < len(images))).all() or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct whole numbers from 0 to {len(images) - 1} "
                         f"(rows of images), got {str(classes.tolist())[:60]}")
    checks.rng(rng)
    checks.count("n_way", n_way, low=1, high=len(classes))
    checks.count("k_shot", k_shot, low=1)
    checks.count("n_query", n_query, low=1)
    checks.count("n_episodes", n_episodes, high=10_000_000)
    if k_shot + n_query > images.shape[1]:
        raise ValueError(f"k_shot + n_query = {k_shot + n_query} is more than the "
                         f"{images.shape[1]} instances of each class")
    # a random permutation per row, cut short: N distinct classes, then the instances
    chosen = classes[numpy.argsort(rng.random((n_episodes, len(classes))), axis=1)[:, :n_way]]
    return episodes_of(images, chosen, k_shot, n_query, rng)


def episodes_of(images, chosen, k_shot, n_query, rng):
    """Episodes of the classes chosen (T, N): K + Q distinct instances of each class drawn at
    random, label n for chosen[t, n]; points grouped by label (label 0's K supports first)."""
    n_episodes, n_way = chosen.shape
    instance = numpy.argsort(rng.random((n_episodes, n_way, images.shape[1])),
                             axis=2)[:, :, :k_shot + n_query]
    x = images[chosen[:, :, None], instance].reshape(n_episodes, n_way, k_shot + n_query, -1)
    labels = numpy.eye(n_way, dtype=numpy.float32)

    def one_hot(k):  # (T, N*k, N): label 0 k times, label 1 k times, ...
        return numpy.broadcast_to(numpy.repeat(labels, k, axis=0), (n_episodes, n_way * k, n_way))

    return Episodes(x[:, :, :k_shot].reshape(n_episodes, n_way * k_shot, -1), one_hot(k_shot),
                    x[:, :, k_shot:].reshape(n_episodes, n_way * n_query, -1), one_hot(n_query),
                    chosen)


@checked
def sample_within_script(images, classes, script, n_way, k_shot, n_query, n_episodes, rng):
    """Like sample_episodes, but the N classes of an episode all come from one script (one
    alphabet, as in Lake et al.'s within-alphabet tests): the script is drawn uniformly among
    those with at least n_way of the given classes, then n_way of its classes.

    script: (C,) the script of every class (Glyphs.script). Returns Episodes."""
    images = numpy.asarray(images)
    sample_episodes(images, classes, n_way, k_shot, n_query, 1, numpy.random.default_rng(0))
    classes, script = numpy.asarray(classes), numpy.asarray(script)
    if script.shape != (len(images),):
        raise ValueError(f"script must name the script of each of the {len(images)} classes, "
                         f"got shape {script.shape}")
    checks.rng(rng)
    groups = [classes[script[classes] == name] for name in sorted(set(script[classes]))]
    groups = [g for g in groups if len(g) >= n_way]
    if not groups:
        raise ValueError(f"no script has n_way = {n_way} of the given classes")
    which = rng.integers(0, len(groups), size=n_episodes)
    chosen = numpy.empty((n_episodes, n_way), classes.dtype)
    for g, group in enumerate(groups):
        rows = numpy.flatnonzero(which == g)
        order = numpy.argsort(rng.random((len(rows), len(group))), axis=1)[:, :n_way]
        chosen[rows] = group[order]
    return episodes_of(images, chosen, k_shot, n_query, rng)




@checked
def validation_split(glyphs):
    """(training classes, validation classes), both from the background split: the classes
    of VALIDATION_SCRIPTS (for Omniglot, which has other alphabets: its last sixth of
    background alphabets) are held out of training, to choose step sizes, numbers of steps
    and read-out settings on scripts no method trained on, as the evaluation scripts are."""
    background = numpy.asarray(glyphs.background)
    scripts = glyphs.script[background]
    held = numpy.isin(scripts, VALIDATION_SCRIPTS)
    if not held.any():
        names = list(dict.fromkeys(scripts))
        held = numpy.isin(scripts, names[len(names) - max(1, len(names) // 6):])
    if held.all():
        raise ValueError("the background split has a single script: nothing left to train on")
    return background[~held], background[held]


@checked
def episode_sampler(images, classes, n_way, n_query=None):
    """sample(meta_batch, k_support, k_query, rng) -> Episodes, the signature maml.train asks
    for: meta_batch episodes of n_way classes with k_support shots each and n_query (if
    given, else k_query) queries per class. images: (C, I, 28, 28) or Glyphs."""
    if isinstance(images, Glyphs):
        images = images.images

    def sample(meta_batch, k_support, k_query, rng):
        return sample_episodes(images, classes, n_way, k_support, n_query or k_query,
                               meta_batch, rng)

    return sample


@checked
def nearest_neighbour_accuracy(episodes):
    """The plain baseline: each query takes the label of its nearest support image in pixel
    (Euclidean) distance. Returns the accuracy of each episode, (T,)."""
    xs, xq = episodes.x_support.astype(numpy.float64), episodes.x_query.astype(numpy.float64)
    distance = (numpy.sum(xq ** 2, axis=2)[:, :, None] + numpy.sum(xs ** 2, axis=2)[:, None, :]
                - 2 * xq @ xs.transpose(0, 2, 1))  # (T, N*Q, N*K), up to ‖xq‖² which ties
    nearest = numpy.argmin(distance, axis=2)
    predicted = numpy.take_along_axis(episodes.y_support.argmax(axis=2), nearest, axis=1)
    return numpy.mean(predicted == episodes.y_query.argmax(axis=2), axis=1)
