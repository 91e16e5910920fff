"""Hostile files for every reader of files from outside (files.py's reader, glyphs.py's Omniglot
reader and cache, checkpoints.py's schemas): each is refused in one line naming the file, or
(the optional glyph cache) rebuilt in memory with one warning; never a traceback, never a hang,
never a run that trains first and fails after. Every file is made here, in tmp_path."""
import copy
import io
import json
import os
import signal
import stat
import warnings
import zipfile
from contextlib import contextmanager

import numpy
import pytest
from hypothesis import event, given, settings, strategies as st
from PIL import Image, ImageDraw

import checkpoints
import checks
import cli
import demo_fewshot
import demo_sinusoid
import demo_variants
import fewshot
import figures
import files
import glyphs
import maml
import protonets

SMALL = ("Coptic", "Ogham")
SHORT = ["--iterations", "1", "--eval-episodes", "2", "--speed-iterations", "0", "--quiet"]


@contextmanager
def deadline(seconds):
    """Fail (instead of hanging the suite) if the block takes longer than `seconds`: a FIFO
    opened for reading would wait forever for a writer."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a hang")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def drawing(seed, size=105):
    """A black-on-white PNG of a random thick line, Omniglot's format."""
    rng = numpy.random.default_rng(seed)
    image = Image.new("1", (size, size), 1)
    ImageDraw.Draw(image).line([tuple(p) for p in rng.integers(10, size - 10, size=(3, 2))],
                               0, 8)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def png_claiming(width, height):
    """A PNG signature and an IHDR header claiming width × height, then nothing decodable."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return (files.PNG_SIGNATURE + len(ihdr).to_bytes(4, "big") + b"IHDR" + ihdr + b"\0" * 4
            + b"\0\0\0\x10IDAT" + b"\0" * 20)


def layout(alphabets=None, drawings=10):
    """{relative path: PNG bytes} of an Omniglot-like set: 6 characters per split, 10
    drawings each (enough for the demo's 5-way 5-shot episodes), unless told otherwise."""
    alphabets = alphabets or {"images_background": {"Alpha": 3, "Beta": 3},
                              "images_evaluation": {"Gamma": 3, "Delta": 3}}
    made = {}
    for part, counts in alphabets.items():
        for alphabet, n_chars in counts.items():
            for c in range(1, n_chars + 1):
                for d in range(1, drawings + 1):
                    made[f"{part}/{alphabet}/character{c:02}/{c:02}{d:02}.png"] = drawing(
                        len(made))
    return made


def write_folders(root, made):
    for name, data in made.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_zips(root, made, patch=None):
    """One zip per part; patch(bytes) -> bytes may damage the first part's archive."""
    root.mkdir(exist_ok=True)
    for part in ("images_background", "images_evaluation"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in made.items():
                if name.startswith(part + "/"):
                    z.writestr(name, data)
        data = buffer.getvalue()
        if patch is not None and part == "images_background":
            data = patch(data)
        (root / f"{part}.zip").write_bytes(data)
    return root


def patch_headers(data, local_offset, central_offset, value, mask=None):
    """Set a 2-byte field of every local and central zip header (method: offsets 8 and 10;
    flag bits: 6 and 8), as an encrypting or exotic zip tool would have written it."""
    data = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        i = data.find(signature)
        while i >= 0:
            old = int.from_bytes(data[i + offset:i + offset + 2], "little")
            new = old | value if mask else value
            data[i + offset:i + offset + 2] = new.to_bytes(2, "little")
            i = data.find(signature, i + 4)
    return bytes(data)


def run_fewshot(capsys, *argv):
    """demo_fewshot.main: (exit status, stderr lines)."""
    status = demo_fewshot.main([*SHORT, *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err.strip().splitlines()


def refused(capsys, root, tmp_path, *words):
    """The few-shot demo refuses --omniglot root in one line, exit 2, naming each of words."""
    with deadline(60):
        status, lines = run_fewshot(capsys, "--omniglot", str(root), "--out",
                                    str(tmp_path / "out"))
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith("demo_fewshot.py: error: --omniglot"), lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not (tmp_path / "out").exists()
    return lines[0]


# --- Omniglot: every hostile file is one line naming it ----------------------------------------

def test_a_valid_small_omniglot_runs_from_folders_and_zips_alike(tmp_path):
    made = layout()
    a = glyphs.load_omniglot(write_folders(tmp_path / "f", made), min_drawings=10)
    b = glyphs.load_omniglot(write_zips(tmp_path / "z", made), min_drawings=10)
    assert a.images.shape == (12, 10, 28, 28)
    for field in glyphs.Glyphs._fields:
        assert numpy.array_equal(getattr(a, field), getattr(b, field)), field


ENTRY_NAMES = {"..": "'..'", ".": "'.'", "": "''", "a\nb": "'a\\nb'",
               "\x1b[31mred": "'\\x1b[31mred'", "del\x7f": "'del\\x7f'",
               "line\u2028break": "'line\\u2028break'"}  # name: as the message shows it
ON_DISK = ("a\nb", "\x1b[31mred", "del\x7f", "line\u2028break")  # what a folder can be named


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "folders"])
@pytest.mark.parametrize("kind", ["alphabet", "character"])
@pytest.mark.parametrize("name", ENTRY_NAMES, ids=repr)
def test_an_entry_that_is_not_a_plain_name_is_never_a_class(tmp_path, zipped, kind, name):
    """A zip member images_background/../c/x.png made an alphabet '..' (and '.', '', a name
    with a line break or an escape sequence made one too): refused, the name escaped."""
    if not zipped and name not in ON_DISK:
        pytest.skip("no folder can have this name")
    made = layout()
    path = (f"images_background/{name}/character01/0101.png" if kind == "alphabet" else
            f"images_background/Alpha/{name}/0101.png")
    made[path] = drawing(0)
    root = write_zips(tmp_path / "z", made) if zipped else write_folders(tmp_path / "f", made)
    with pytest.raises(files.Refused) as caught:
        glyphs.load_omniglot(root)
    line = str(caught.value)
    assert "\n" not in line and line.isprintable(), line
    assert f"its {kind} {ENTRY_NAMES[name]} is not a plain folder name" in line, line
    assert ("background.zip': the member" if zipped else "0101.png") in line, line


def test_a_zip_member_named_twice_is_refused(tmp_path, capsys):
    """Two members of one name were two drawings of the character (the second an extra
    instance, support and query alike): which one the archive means is not known."""
    made = layout()
    root = write_zips(tmp_path / "z", made)
    twice = "images_background/Beta/character02/0203.png"
    with zipfile.ZipFile(root / "images_background.zip", "a") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
        z.writestr(twice, drawing(99))
    with pytest.raises(files.Refused, match=f"the member '{twice}' appears twice"):
        glyphs.load_omniglot(root)
    refused(capsys, root, tmp_path, "background.zip", "character02/0203.png' appears "
            "twice")


def test_a_bad_entry_name_is_one_line_at_the_command_line(tmp_path, capsys):
    made = layout()
    made["images_background/../character01/0101.png"] = drawing(0)
    refused(capsys, write_zips(tmp_path / "z", made), tmp_path,
            "background.zip", "its alphabet '..' is not a plain folder name")


@pytest.mark.parametrize("case, words", [
    ("encrypted member", ["is encrypted", "character01/0101.png"]),
    ("compression method 99", ["compression method 99", "character01/0101.png"]),
    ("png header claiming 30000 x 30000", ["30,000 × 30,000", "Alpha"]),
    ("zip bomb member", ["inflates to", "bomb.png"]),
    ("not a zip", ["not a readable zip archive", "images_background.zip"]),
    ("a broken png", ["not a readable PNG image", "character01/0101.png"]),
])
def test_hostile_zips_are_one_line_naming_the_member(tmp_path, capsys, case, words):
    made, patch = layout(), None
    if case == "encrypted member":
        patch = lambda data: patch_headers(data, 6, 8, 0x1, mask=True)  # noqa: E731
    elif case == "compression method 99":
        patch = lambda data: patch_headers(data, 8, 10, 99)  # noqa: E731
    elif case == "png header claiming 30000 x 30000":
        made["images_background/Alpha/character01/0101.png"] = png_claiming(30000, 30000)
    elif case == "zip bomb member":  # 65 MB of zeros, deflated to ~ 64 KB
        made["images_background/Alpha/character01/bomb.png"] = bytes(files.MAX_MEMBER_BYTES + 1)
    elif case == "not a zip":
        patch = lambda data: b"PK\x03\x04 but not a zip at all" * 10  # noqa: E731
    elif case == "a broken png":
        good = made["images_background/Alpha/character01/0101.png"]
        made["images_background/Alpha/character01/0101.png"] = good[:40]
    root = write_zips(tmp_path / "omniglot", made, patch)
    refused(capsys, root, tmp_path, *words)


def hostile_folder(root, case):
    made = layout()
    write_folders(root, made)
    character = root / "images_background" / "Alpha" / "character01"
    if case == "fifo named x.png":
        os.mkfifo(character / "x.png")
    elif case == "symlink to /dev/zero":
        os.symlink("/dev/zero", character / "zero.png")
    elif case == "symlink out of the tree":
        (root / "outside.png").write_bytes(drawing(0))
        os.symlink(root / "outside.png", character / "out.png")
    elif case == "1,500 nested folders":  # os.makedirs would recurse too deep to make them
        fd = os.open(character, os.O_RDONLY)
        for _ in range(1500):
            os.mkdir("d", dir_fd=fd)
            fd, old = os.open("d", os.O_RDONLY, dir_fd=fd), fd
            os.close(old)
        os.close(fd)
    elif case == "png header claiming 30000 x 30000":
        (character / "0101.png").write_bytes(png_claiming(30000, 30000))
    elif case == "not an image":
        (character / "0101.png").write_bytes(b"GIF89a, not a PNG")
    return character


@pytest.mark.parametrize("case, words", [
    ("fifo named x.png", ["FIFO", "x.png"]),
    ("symlink to /dev/zero", ["zero.png", "symbolic link to '/dev/zero'", "outside"]),
    ("symlink out of the tree", ["outside", "out.png"]),
    ("1,500 nested folders", ["deeper than 32 levels"]),
    ("png header claiming 30000 x 30000", ["30,000 × 30,000", "0101.png"]),
    ("not an image", ["not a PNG image", "0101.png"]),
])
def test_hostile_folders_are_one_line_naming_the_file(tmp_path, capsys, case, words):
    root = tmp_path / "omniglot"
    character = hostile_folder(root, case)
    refused(capsys, root, tmp_path, *words)
    if case == "1,500 nested folders":  # shutil.rmtree would recurse too deep to remove them
        os.rename(character / "d", tmp_path / "deep")
        while os.path.isdir(tmp_path / "deep" / "d"):
            os.rename(tmp_path / "deep" / "d", tmp_path / "up")
            os.rmdir(tmp_path / "deep")
            os.rename(tmp_path / "up", tmp_path / "deep")
        os.rmdir(tmp_path / "deep")


def test_the_readers_never_open_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with deadline(10):
        for read in (files.read_regular, files.open_regular, files.open_zip,
                     checkpoints.load_models,
                     lambda p: files.read_npz(p, lambda *a: None, 1000)):
            with pytest.raises(ValueError, match="FIFO"):
                read(str(tmp_path / "pipe"))


def test_budgets_on_entries_bytes_and_pixels(tmp_path, monkeypatch):
    root = write_folders(tmp_path / "omniglot", layout())
    monkeypatch.setattr(files, "MAX_ENTRIES", 50)
    with pytest.raises(files.Refused, match="more than 50 files and folders"):
        glyphs.load_omniglot(root)
    monkeypatch.setattr(files, "MAX_ENTRIES", 100_000)
    (tmp_path / "big").write_bytes(b"x" * 2000)
    with pytest.raises(files.Refused, match="holds 2,000 bytes, more than the 1,000"):
        files.read_regular(tmp_path / "big", limit=1000)
    for width, height in ((4097, 1), (1, 4097), (3000, 3000), (0, 5)):
        with pytest.raises(files.Refused, match="its header claims"):
            files.png_size(png_claiming(width, height), "x.png")
    assert files.png_size(drawing(0), "x.png") == (105, 105)


def test_a_member_whose_directory_entry_lies_is_capped_while_inflating(tmp_path):
    made = layout()
    made["images_background/Alpha/character01/bomb.png"] = bytes(files.MAX_MEMBER_BYTES + 1)
    size = (files.MAX_MEMBER_BYTES + 1).to_bytes(4, "little")

    def lie(data):  # the central directory says 100 bytes
        return data.replace(size, (100).to_bytes(4, "little"))
    root = write_zips(tmp_path / "omniglot", made, lie)
    with pytest.raises(files.Refused, match="bomb.png' (inflates to more than|cannot be read)"):
        glyphs.load_omniglot(root)


def test_the_inflated_total_of_a_zip_is_capped_while_reading(tmp_path, monkeypatch):
    root = write_zips(tmp_path / "omniglot", layout())
    monkeypatch.setattr(files, "MAX_INFLATED_BYTES", 5_000)
    with pytest.raises(files.Refused, match="inflates to more than 5,000 bytes in all"):
        glyphs.load_omniglot(root)


# --- what the data must hold is checked before the first iteration ------------------------------

def test_an_omniglot_path_that_is_a_file_is_not_a_folder(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    status, lines = run_fewshot(capsys, "--omniglot", str(tmp_path / "afile"))
    assert status == 2 and lines == [f"demo_fewshot.py: error: --omniglot "
                                     f"{cli.shown(str(tmp_path / 'afile'))}: not a folder"]


def test_too_few_classes_or_drawings_are_refused_before_training(tmp_path, capsys):
    few = layout({"images_background": {"Alpha": 6}, "images_evaluation": {"Gamma": 4}})
    line = refused(capsys, write_folders(tmp_path / "few", few), tmp_path,
                   "images_evaluation holds 4 characters", "5-way")
    assert "training" not in line
    seven = write_folders(tmp_path / "seven", layout(drawings=7))
    refused(capsys, seven, tmp_path, "Alpha/character01 has 7 drawings", "10 needed")


def alphabets(background, evaluation):
    """layout()'s argument: alphabets A, B, ... of the background (the last one held out for
    validation, as glyphs.validation_split holds out the last sixth) and V, W, ... of the
    evaluation, with the numbers of characters given."""
    return {"images_background": {chr(65 + i): n for i, n in enumerate(background)},
            "images_evaluation": {chr(86 + i): n for i, n in enumerate(evaluation)}}


class Trained(Exception):
    """Raised by a train_one monkeypatched in: the checks before training let the run on."""


@pytest.mark.parametrize("background, evaluation, flags, words", [
    ([3] * 7, [3] * 3, [], ["images_evaluation have at most 3 characters each",
                            "the within-a-script test needs one with 5"]),
    ([3] * 6 + [5], [5], [], ["images_background leaves 18 characters to train on",
                              "the 20 each 20-way episode of protonets-20way"]),
    ([3] * 7, [5], [], ["the validation alphabets held out of images_background ('G')",
                        "hold 3 characters, fewer than the 5"]),
    ([8], [5], [], ["images_background holds a single alphabet"]),
    ([4, 4, 5], [5], ["--methods", "maml"], None),                       # 8 to train on: enough
    ([4, 4, 5], [3], ["--methods", "maml", "--train-only"], None),     # evaluates nothing
    ([4, 4, 5], [5], ["--methods", "maml,protonets-20way"], ["8 characters to train on"]),
])
def test_what_the_methods_and_splits_need_is_checked_before_training(
        tmp_path, capsys, monkeypatch, background, evaluation, flags, words):
    """A small Omniglot trained fully, then failed in the within-a-script column or in
    protonets-20way's sampler (the pre-check counted all background characters), and
    --methods maml was refused for want of the 20 characters only protonets-20way draws."""
    def train_one(*args):
        raise Trained
    monkeypatch.setattr(demo_fewshot, "train_one", train_one)
    root = write_folders(tmp_path / "o", layout(alphabets(background, evaluation)))
    argv = ["--omniglot", str(root), *flags, "--out", str(tmp_path / "out")]
    if "--train-only" in flags:
        argv += ["--save", str(tmp_path / "ck")]
    if words is None:
        with pytest.raises(Trained):
            run_fewshot(capsys, *argv)
        return
    status, lines = run_fewshot(capsys, *argv)
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"demo_fewshot.py: error: --omniglot {cli.shown(str(root))}: ")
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_the_glyph_set_is_checked_by_the_same_code(tmp_path, capsys, monkeypatch):
    scripts = ["Latin"] * 10 + ["Lisu"] * 5 + ["Hebrew"] * 3 + ["Lao"] * 4
    fake = glyphs.Glyphs(numpy.zeros((22, 10, 28, 28), numpy.float32), numpy.array(scripts),
                         numpy.array([f"c{i}" for i in range(22)]), numpy.arange(15),
                         numpy.arange(15, 22))
    monkeypatch.setattr(glyphs, "load_glyphs", lambda seed: fake)
    one_line_refusal(capsys, demo_fewshot.main, [*SHORT, "--out", str(tmp_path / "out")],
                     "error: the glyph set: the scripts of its evaluation split have at most "
                     "4 characters each; the within-a-script test needs one with 5")


ODD_NAMES = {"images_background": {"$\\bogus$": 5, "Beta": 5},  # 5 to train on, 5 to validate
             "images_evaluation": {"Gamma": 5, "Delta": 3}}


def odd_omniglot(root):
    """An Omniglot whose alphabets are named '$\\bogus$' (mathtext to matplotlib) and
    b'caf\\xe9' (not UTF-8)."""
    write_folders(root, layout(ODD_NAMES))
    odd = os.path.join(os.fsencode(root / "images_evaluation"), b"caf\xe9")
    os.rename(os.fsencode(root / "images_evaluation" / "Delta"), odd)
    return root


def test_odd_alphabet_names_are_printable_and_drawn_as_written(tmp_path):
    data = glyphs.load_omniglot(odd_omniglot(tmp_path / "omniglot"))
    assert set(data.script) == {"$\\bogus$", "Beta", "Gamma", "caf\\xe9"}
    assert all(name.isprintable() for name in data.char)
    figure = figures.glyph_scripts(data, numpy.random.default_rng(0))
    assert cli.png_bytes(figure).startswith(files.PNG_SIGNATURE)
    labels = [ax.get_ylabel().split("\n")[0] for ax in figure.axes]
    assert labels == ["\\$\\bogus\\$", "Beta", "Gamma", "caf\\xe9"]
    assert figures.label_text("日本\x00" + "x" * 50) == "\\u65e5\\u672c\\x00" + "x" * 23 + "…"


@pytest.mark.slow
def test_odd_alphabet_names_whole_run(tmp_path, capsys):
    status, lines = run_fewshot(capsys, "--omniglot", str(odd_omniglot(tmp_path / "o")),
                                "--methods", "maml", "--out", str(tmp_path / "out"))
    assert status == 0, lines
    report = json.loads((tmp_path / "out" / "fewshot.json").read_text())
    assert report["data"]["evaluation_classes"] == 8


def many_scripts(n=1500):
    rng = numpy.random.default_rng(0)
    return glyphs.Glyphs(rng.random((n, 3, 28, 28), dtype=numpy.float32),
                         numpy.array([f"a{i}" for i in range(n)]),
                         numpy.array([f"a{i}/c" for i in range(n)]),
                         numpy.arange(900), numpy.arange(900, n))


def test_the_scripts_figure_of_1500_alphabets_draws_a_few_rows(monkeypatch):
    monkeypatch.setattr(figures, "MAX_SCRIPT_ROWS", 6)
    with deadline(30):
        figure = figures.glyph_scripts(many_scripts(), numpy.random.default_rng(0))
    labels = [ax.get_ylabel() for ax in figure.axes]
    assert [label.split("\n")[0] for label in labels] == ["a0", "a1", "a2", "a900", "a901",
                                                           "a902"]
    assert "1,500 scripts (6 shown)" in figure._suptitle.get_text()


@pytest.mark.slow
def test_the_scripts_figure_of_1500_alphabets_is_quick():
    with deadline(60):
        figure = figures.glyph_scripts(many_scripts(), numpy.random.default_rng(0))
        assert cli.png_bytes(figure).startswith(files.PNG_SIGNATURE)
    assert len(figure.axes) == figures.MAX_SCRIPT_ROWS


# --- the glyph cache: optional by construction --------------------------------------------------

@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def small_made():
    return glyphs.generate(seed=1, instances=3, scripts=SMALL)


def load_small():
    """load_glyphs of the small set: (glyphs, the warnings it gave)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with deadline(120):
            made = glyphs.load_glyphs(seed=1, instances=3, scripts=SMALL)
    return made, [str(w.message) for w in caught]


def save_with_digest(path, made):
    """A cache file of glyphs `made`, its digest theirs: only the content checks can refuse it."""
    with open(path, "wb") as f:
        numpy.savez(f, **made._asdict(), digest=glyphs.cache_digest(made))


def damage_cache(path, case, made):
    folder = os.path.dirname(path)
    if case == "XDG_CACHE_HOME is a file":
        with open(os.path.dirname(folder), "w") as f:
            f.write("a file")
        return
    os.makedirs(folder, exist_ok=True)
    if case == "a folder at the cache path":
        os.mkdir(path)
    elif case == "a FIFO at the cache path":
        os.mkfifo(path)
    elif case == "a symlink to /dev/zero":
        os.symlink("/dev/zero", path)
    elif case == "empty background split":
        arrays = made._asdict()
        arrays["evaluation"] = numpy.arange(len(made.char))
        arrays["background"] = numpy.arange(0)
        save_with_digest(path, glyphs.Glyphs(**arrays))
    elif case == "wrong dtype":
        save_with_digest(path, made._replace(images=made.images.astype(numpy.float64)))
    elif case == "blank images":
        save_with_digest(path, made._replace(images=numpy.zeros_like(made.images)))
    elif case in ("other pixels", "other labels", "other splits", "no digest",
                  "another set's digest"):
        tampered = {"other pixels": made._replace(images=made.images[::-1]),
                    "other labels": made._replace(char=made.char[::-1]),
                    "other splits": made._replace(background=made.background[::-1])}
        arrays = tampered.get(case, made)._asdict()
        if case != "no digest":  # the digest of the set as written, the arrays then changed
            arrays["digest"] = glyphs.cache_digest(
                made._replace(images=made.images[:, ::-1]) if case == "another set's digest"
                else made)
        with open(path, "wb") as f:
            numpy.savez(f, **arrays)
    elif case == "a 4 MB file claiming 4 GB":
        header = {"descr": "|u1", "fortran_order": False, "shape": (200_000, 20, 28, 28)}
        buffer = io.BytesIO()
        numpy.lib.format.write_array_header_1_0(buffer, header)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("images.npy", buffer.getvalue() + bytes(4_000_000))
    elif case == "an unreadable file":
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04" + os.urandom(2000))


CACHE_CASES = {
    "XDG_CACHE_HOME is a file": "not written",
    "a folder at the cache path": "is a folder",
    "a FIFO at the cache path": "FIFO",
    "a symlink to /dev/zero": "character device",
    "empty background split": "background split is empty",
    "wrong dtype": "images: holds float64",
    "blank images": "no full-ink pixel",
    "a 4 MB file claiming 4 GB": "header claims",
    "an unreadable file": "not used",
    "other pixels": "do not match their digest",   # valid-looking, tampered: shapes and
    "other labels": "do not match their digest",   # dtypes right, values changed
    "other splits": "do not match their digest",
    "another set's digest": "do not match their digest",
    "no digest": "holds no digest",
}


@pytest.mark.parametrize("case", CACHE_CASES)
def test_a_cache_that_cannot_be_read_written_or_trusted_is_one_warning(cache_home, small_made,
                                                                        case):
    path = glyphs.cache_path(1, 3, tuple(SMALL))
    damage_cache(path, case, small_made)
    made, caught = load_small()
    assert len(caught) == 1 and CACHE_CASES[case] in caught[0], caught
    assert "\n" not in caught[0] and caught[0].startswith("glyph cache ")
    assert len(caught[0]) <= 73
    for field in glyphs.Glyphs._fields:
        expected = getattr(small_made, field)
        expected = expected.astype(numpy.float32) / 255 if field == "images" else expected
        assert numpy.array_equal(getattr(made, field), expected), field


def test_an_unwritable_cache_home_is_one_warning(monkeypatch, small_made):
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/self/no-cache-here")  # nobody can write here
    made, caught = load_small()
    assert len(caught) == 1 and "not written" in caught[0], caught
    assert made.images.shape == small_made.images.shape


def test_a_cache_read_fine_gives_no_warning_and_the_demo_prints_warnings_in_one_line(
        cache_home, capsys):
    load_small()
    made, caught = load_small()
    assert caught == []
    show = cli.one_line_warning("demo_fewshot.py")
    show(UserWarning("glyph cache not written (Not a directory: '/x')\nsecond line"),
         UserWarning, "glyphs.py", 1)
    assert capsys.readouterr().err == (
        "demo_fewshot.py: warning: glyph cache not written (Not a directory: '/x')\n")


# --- checkpoints: a schema per demo, shapes checked against the task ------------------------------

def resave(source, target, change, model=None):
    """Copy a committed checkpoint with its metadata changed by change(metadata) (written with
    json.dumps as is: a file another program could have written)."""
    arrays = checkpoints.read_npz(source)
    metadata = json.loads(str(arrays.pop("metadata")))
    change(metadata)
    if model is not None:
        arrays = model(arrays)
    arrays["metadata"] = numpy.array(json.dumps(metadata))
    with open(target, "wb") as f:
        numpy.savez(f, **arrays)


def copy_folder(source, target, method, change, model=None):
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(source):
        path = os.path.join(target, name)
        if name == f"{method}.npz":
            resave(os.path.join(source, name), path, change, model)
        else:
            with open(os.path.join(source, name), "rb") as f, open(path, "wb") as g:
                g.write(f.read())


def one_line_refusal(capsys, main, argv, *words):
    status = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("change, words", [
    (lambda m: m["training"].pop("shots"), ["fomaml.npz", "lacks the key shots"]),
    (lambda m: m["training"].update(alpha="0.4"), ["training setting alpha", "from 0 to 100"]),
    (lambda m: m["training"].update(seed=None), ["training setting seed", "null"]),
    (lambda m: m["training"].update(iterations=10 ** 30), ["iterations", "10,000,000"]),
    (lambda m: m["training"].update(data="x\ny"), ["training setting data", "printable"]),
    (lambda m: m["training"].update(extra=1), ["unexpected key 'extra'"]),
    (lambda m: m.update(losses=[1.0, -5.0]), ["losses must be"]),
    (lambda m: m.update(training=[1, 2]), ["must be a JSON object"]),
])
def test_fewshot_load_refuses_bad_metadata_in_one_line_naming_file_and_key(
        tmp_path, capsys, change, words):
    copy_folder("checkpoints/fewshot", tmp_path / "ck", "fomaml", change)
    one_line_refusal(capsys, demo_fewshot.main, ["--load", str(tmp_path / "ck"), *SHORT[2:],
                                                 "--out", str(tmp_path / "out")], *words)
    assert not (tmp_path / "out").exists()


def test_fewshot_load_checks_each_network_against_the_task(tmp_path, capsys):
    def three_way(arrays):  # MAML's output layer cut to 3 classes
        return dict(arrays, W3=arrays["W3"][:, :3].copy(), b3=arrays["b3"][:3].copy())
    copy_folder("checkpoints/fewshot", tmp_path / "ck", "maml", lambda m: None, three_way)
    one_line_refusal(capsys, demo_fewshot.main, ["--load", str(tmp_path / "ck"), *SHORT[2:],
                                                 "--out", str(tmp_path / "out")],
                     "maml.npz", "layers [784, 128, 64, 64, 3]", "5-way")


def step_sizes_per_array(arrays):
    """Meta-SGD's step sizes replaced by one per array (what metasgd-layer learns)."""
    return {k: (numpy.full((1, 1) if ".W" in k else (1,), 0.4) if k.startswith("step_sizes.")
                else v) for k, v in arrays.items()}


def step_sizes_per_weight(arrays):
    """metasgd-layer's step sizes replaced by one per weight (what Meta-SGD learns)."""
    return {k: (numpy.full(arrays[k.split(".", 1)[1]].shape, 0.4)
                if k.startswith("step_sizes.") else v) for k, v in arrays.items()}


def step_sizes_cut(arrays):
    """Meta-SGD's step sizes for the first three layers only (zip would drop the fourth)."""
    return {k: v for k, v in arrays.items() if k not in ("step_sizes.W3", "step_sizes.b3")}


@pytest.mark.parametrize("method, change, model, words", [
    ("maml", lambda m: m["training"].update(n_way=7), None,
     ["n_way is 7", "output layer has 5 units"]),
    ("anil", lambda m: m["training"].update(n_way=20), None,
     ["n_way is 20", "output layer has 5 units"]),
    ("pretrained", lambda m: m["training"].update(training_classes=1000), None,
     ["training_classes is 1000", "output layer has 1056 units"]),
    ("protonets-20way", lambda m: m["training"].update(n_way=5), None,
     ["n_way is 5", "protonets-20way trains 20-way"]),
    ("protonets", lambda m: m["training"].update(body=[784, 256, 64]), None,
     ["body is [784, 256, 64]", "its body has layers [784, 128, 64, 64]"]),
    ("fomaml", lambda m: m["training"].update(shots=5), None,
     ["shots is 5", "fomaml trains 1-shot"]),
    ("metasgd", lambda m: None, step_sizes_per_array,
     ["step sizes are one per array", "metasgd learns one per weight"]),
    ("metasgd-layer", lambda m: None, step_sizes_per_weight,
     ["step sizes are one per weight", "metasgd-layer learns one per array"]),
    ("metasgd", lambda m: None, step_sizes_cut, ["step sizes are 3 pairs", "one per weight"]),
])
def test_fewshot_metadata_that_contradicts_the_arrays_is_refused(tmp_path, method, change,
                                                                  model, words):
    """A 5-way network whose metadata says n_way 7 (and the like) was evaluated as it was:
    every setting the arrays or the method's name fix must agree with them."""
    copy_folder("checkpoints/fewshot", tmp_path / "ck", method, change, model)
    with pytest.raises(cli.UsageError) as caught:
        demo_fewshot.load_all(str(tmp_path / "ck"), [method])
    line = str(caught.value)
    assert "\n" not in line and f"{method}.npz" in line, line
    for word in words:
        assert word in line, (word, line)


def test_a_contradiction_is_one_line_and_exit_2_at_the_command_line(tmp_path, capsys):
    copy_folder("checkpoints/fewshot", tmp_path / "ck", "maml",
                lambda m: m["training"].update(n_way=7))
    one_line_refusal(capsys, demo_fewshot.main, ["--load", str(tmp_path / "ck"), *SHORT[2:],
                                                 "--out", str(tmp_path / "out")],
                     "maml.npz", "n_way is 7, but its output layer has 5 units")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("method, steps", [("maml-3", 1), ("maml-1", 5), ("pretrained", 1),
                                           ("reptile", 1)])
def test_variants_inner_steps_must_be_the_methods(tmp_path, method, steps):
    """inner_steps is fixed by the method's name: a maml-3.npz saying 1 contradicts it (the
    sinusoid demo evaluates a variants file with the steps its metadata names)."""
    copy_folder("checkpoints/variants", tmp_path / "ck", method,
                lambda m: m.update(inner_steps=steps))
    args = demo_variants.parse_args(["--load", str(tmp_path / "ck"), "--methods", method,
                                     "--out", str(tmp_path / "out")])
    with pytest.raises(cli.UsageError, match=f"{method}.npz': its inner_steps is {steps}, but "
                                             f"a '{method}' model has"):
        demo_variants.load_all(args)
    with pytest.raises(cli.UsageError, match=f"inner_steps is {steps}"):
        demo_sinusoid.load(str(tmp_path / "ck" / f"{method}.npz"))


@pytest.mark.parametrize("change, words", [
    (lambda m: m["config"].update(layers=[1, 20, 1]),
     "its layers is [1, 20, 1], but its models have layers [1, 40, 40, 1]"),
    (lambda m: m["config"].update(layers=[1, 40, 40, 2]), "its layers is [1, 40, 40, 2]"),
    (lambda m: m["losses"].update(reptile=[1.0]), "its losses name the model 'reptile'"),
])
@pytest.mark.parametrize("source", ["checkpoints/sinusoid.npz", "checkpoints/best.npz"])
def test_sinusoid_metadata_that_contradicts_the_models_is_refused(tmp_path, change, words,
                                                                   source):
    """The layers a file's config named were dropped for the models' own, silently."""
    resave(source, tmp_path / "bad.npz", change)
    with pytest.raises(cli.UsageError) as caught:
        demo_sinusoid.load(str(tmp_path / "bad.npz"))
    assert "bad.npz" in str(caught.value) and words in str(caught.value), str(caught.value)


def test_every_committed_checkpoint_still_loads_as_before():
    fewshot_models = demo_fewshot.load_all("checkpoints/fewshot")
    assert sorted(fewshot_models) == sorted(demo_fewshot.METHODS)
    for method, model in fewshot_models.items():
        assert (model["step_sizes"] is not None) == method.startswith("metasgd")
        assert model["training"]["n_way"] == demo_fewshot.METHODS[method][1]
    args = demo_variants.parse_args(["--load", "checkpoints/variants", "--out", "unused"])
    assert sorted(demo_variants.load_all(args)[0]) == sorted(demo_variants.variants.METHODS)
    for path in ["checkpoints/sinusoid.npz", "checkpoints/best.npz",
                 "checkpoints/variants/maml-3.npz", "checkpoints/variants/reptile.npz"]:
        models, config = demo_sinusoid.load(path)
        assert config["layers"] == [1, 40, 40, 1], path
    assert demo_sinusoid.load("checkpoints/variants/maml-3.npz")[1]["inner_steps"] == 3


def test_a_nan_in_metadata_is_refused_at_load(tmp_path):
    arrays = checkpoints.read_npz("checkpoints/sinusoid.npz")
    arrays["metadata"] = numpy.array(str(arrays["metadata"]).replace('"alpha": 0.01',
                                                                     '"alpha": NaN'))
    with open(tmp_path / "nan.npz", "wb") as f:
        numpy.savez(f, **arrays)
    with pytest.raises(ValueError, match="nan.npz.*NaN is not a finite number"):
        checkpoints.load_trained(tmp_path / "nan.npz")


def test_a_sine_network_with_three_outputs_is_the_files_fault(tmp_path, capsys):
    def three_outputs(arrays):
        return {k: (numpy.repeat(v, 3, axis=-1) if k.endswith(("W2", "b2")) else v)
                for k, v in arrays.items()}
    resave("checkpoints/sinusoid.npz", tmp_path / "wide.npz", lambda m: None, three_outputs)
    one_line_refusal(capsys, demo_sinusoid.main, ["--load", str(tmp_path / "wide.npz"),
                                                  "--eval-tasks", "2", "--quiet", "--out",
                                                  str(tmp_path / "out")], "wide.npz")


@pytest.mark.parametrize("change, words", [
    (lambda m: m["training"].update(alpha="fast"), ["maml-1.npz", "alpha"]),
    (lambda m: m["training"].update(meta_lr=None), ["maml-1.npz", "meta_lr"]),
    (lambda m: m["training"].pop("k"), ["maml-1.npz", "lacks the key k"]),
])
def test_variants_load_refuses_text_or_null_settings(tmp_path, capsys, change, words):
    copy_folder("checkpoints/variants", tmp_path / "ck", "maml-1", change)
    one_line_refusal(capsys, demo_variants.main, ["--load", str(tmp_path / "ck"),
                                                  "--eval-tasks", "2", "--speed-iterations",
                                                  "0", "--quiet", "--out",
                                                  str(tmp_path / "out")], *words)


def huge(arrays, scale=1e305):
    """A damaged network: finite weights, every output layer overflowing."""
    return {k: (v * scale if k.rsplit(".", 1)[-1] == "W0" else v) for k, v in arrays.items()}


@pytest.mark.parametrize("demo, folder, method", [
    ("fewshot", "checkpoints/fewshot", "maml"), ("fewshot", "checkpoints/fewshot", "metasgd"),
    ("variants", "checkpoints/variants", "maml-1"), ("variants", "checkpoints/variants", "meta-sgd"),
    ("sinusoid", "checkpoints/sinusoid.npz", None), ("sinusoid", "checkpoints/best.npz", None)])
def test_finite_but_huge_weights_are_refused_at_load_in_every_demo(tmp_path, capsys, demo,
                                                                    folder, method):
    """Weights of 1e305 are finite, so they passed: the network's outputs then overflowed to
    NaN, scored as a 20% guess (few-shot) or broke a figure (issue 24)."""
    out = ["--quiet", "--out", str(tmp_path / "out")]
    if demo == "sinusoid":
        resave(folder, tmp_path / "big.npz", lambda m: None, huge)
        one_line_refusal(capsys, demo_sinusoid.main, ["--load", str(tmp_path / "big.npz"),
                                                      "--eval-tasks", "2", *out],
                         "big.npz", "holds a weight of magnitude", "below 10000")
        return
    copy_folder(folder, tmp_path / "ck", method, lambda m: None, huge)
    main, flags = ((demo_fewshot.main, SHORT[2:-1]) if demo == "fewshot" else
                   (demo_variants.main, ["--eval-tasks", "2", "--speed-iterations", "0"]))
    one_line_refusal(capsys, main, ["--load", str(tmp_path / "ck"), *flags, *out],
                     f"{method}.npz", "holds a weight of magnitude", "below 10000")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("alpha", [100.5, 1e308])
def test_a_step_size_above_the_flags_bound_in_a_file_is_refused(tmp_path, capsys, alpha):
    copy_folder("checkpoints/variants", tmp_path / "ck", "maml-1",
                lambda m: m["training"].update(alpha=alpha))
    one_line_refusal(capsys, demo_variants.main, ["--load", str(tmp_path / "ck"),
                                                  "--eval-tasks", "2", "--speed-iterations",
                                                  "0", "--quiet", "--out",
                                                  str(tmp_path / "out")],
                     "maml-1.npz", "alpha must be a number from 0 to 100")


def test_scores_that_are_not_finite_are_wrong_never_a_lucky_guess():
    """argmax of a row of NaN is 0: one class in five would score as right."""
    y = numpy.eye(5)[None].repeat(2, axis=0)                     # 2 episodes, 5 queries
    scores = numpy.where(numpy.eye(5) > 0, 1.0, 0.0)[None].repeat(2, axis=0)
    assert list(fewshot.accuracy(scores, y)) == [1.0, 1.0]
    scores[0, 0, 3] = numpy.nan                                    # one query of episode 0
    scores[1] = numpy.inf                                          # every query of episode 1
    assert list(fewshot.accuracy(scores, y)) == [0.8, 0.0]
    overflowing = [(numpy.full((5, 5), 1e200), numpy.zeros(5))] * 2  # finite weights, inf out
    with numpy.errstate(over="ignore", invalid="ignore"):
        assert list(maml.accuracy(overflowing, numpy.eye(5)[None], y[:1])) == [0.0]
        with pytest.raises(ValueError, match="could overflow"):  # ProtoNets refuses up front
            protonets.accuracy(overflowing, numpy.eye(5)[None], y[:1], numpy.eye(5)[None],
                               y[:1])


@pytest.mark.parametrize("demo", ["fewshot", pytest.param("variants", marks=pytest.mark.slow),
                                  pytest.param("sinusoid", marks=pytest.mark.slow)])
def test_out_and_save_may_name_the_same_folder(tmp_path, capsys, demo):
    """--out X --save X: both sets land in X, in one commit (the few-shot demo used to print
    'wrote the models' and keep only the results), and --force then replaces both."""
    same = tmp_path / "same"
    if demo == "fewshot":
        main, argv = demo_fewshot.main, ["--methods", "protonets", *SHORT[:2], "--eval-episodes",
                                         "2", "--val-episodes", "2", "--quiet"]
        save, saved, outputs = str(same), ["protonets.npz"], demo_fewshot.OUTPUTS
    elif demo == "variants":
        main, argv = demo_variants.main, ["--methods", "maml-1", "--iterations", "2",
                                          "--eval-tasks", "2", "--speed-iterations", "0",
                                          "--quiet"]
        save, saved, outputs = str(same), ["maml-1.npz"], ("variants.json", "variants.png")
    else:
        main, argv = demo_sinusoid.main, ["--iterations", "2", "--eval-tasks", "2", "--quiet"]
        save, saved, outputs = str(same / "model.npz"), ["model.npz"], demo_sinusoid.OUTPUTS
    assert main([*argv, "--out", str(same), "--save", save]) == 0
    assert sorted(os.listdir(same)) == sorted([*saved, *outputs]), capsys.readouterr()
    first = (same / saved[0]).read_bytes()
    capsys.readouterr()
    one_line_refusal(capsys, main, [*argv, "--seed", "1", "--out", str(same), "--save", save],
                     "exists: add --force")  # --out's files are replaceable, --save's are not
    assert (same / saved[0]).read_bytes() == first
    assert main([*argv, "--seed", "1", "--out", str(same), "--save", save, "--force"]) == 0
    assert (same / saved[0]).read_bytes() != first  # --force replaced the model too
    assert sorted(os.listdir(same)) == sorted([*saved, *outputs])


# --- memory: evaluation is estimated before anything is trained or allocated -------------------

def test_too_many_eval_episodes_are_refused_with_the_estimate(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "available_memory", lambda: 4 * 2 ** 30)
    status = demo_fewshot.main(["--load", "checkpoints/fewshot", "--eval-episodes", "100000",
                                "--quiet", "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    assert "--eval-episodes 100,000 would need about" in lines[0]
    assert "the 4.0 GiB this machine has available" in lines[0]
    most = int(lines[0].rsplit("--eval-episodes ", 1)[1].split()[0].replace(",", ""))
    data = glyphs.load_glyphs(0)
    assert (demo_fewshot.evaluation_bytes(data, most, 5) <= 0.8 * 4 * 2 ** 30
            < demo_fewshot.evaluation_bytes(data, most + 1, 5))


def test_a_zip_listing_too_many_entries_is_refused_from_its_end_record(tmp_path, monkeypatch):
    root = write_zips(tmp_path / "omniglot", layout())
    monkeypatch.setattr(files, "MAX_ENTRIES", 20)
    parsed = []
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents",
                        lambda self: parsed.append(self) or None)
    with pytest.raises(files.Refused, match="lists 60 entries"):
        glyphs.load_omniglot(root)
    assert parsed == []  # refused before zipfile read its directory


# --- the property: load refuses in one line, or everything after it works ------------------------

VALUES = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
          | st.sampled_from([0, 1, -1, 2 ** 53, 2 ** 53 + 1, 10 ** 30, 1e308, -1e308, 5e-324])
          | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
          | st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3)
          | st.lists(st.integers(-5, 2000), max_size=6)
          | st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@st.composite
def changed(draw, metadata):
    """The metadata of a committed checkpoint, with one to three keys (top level or inside its
    settings) deleted, set to another JSON value, or added."""
    metadata = copy.deepcopy(metadata)
    for _ in range(draw(st.integers(1, 3))):
        containers = [metadata] + [v for v in metadata.values() if isinstance(v, dict)]
        target = draw(st.sampled_from(containers))
        key = draw(st.sampled_from(sorted(target)) if target and draw(st.booleans())
                   else st.text(max_size=6))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(VALUES)
    return metadata


def committed_metadata(path):
    return json.loads(str(checkpoints.read_npz(path)["metadata"]))


def refuses_in_one_line_or_prints(load, consume):
    """load() raises a ValueError (cli.UsageError included) of one line, or consume(what it
    returned) runs without an exception."""
    try:
        loaded = load()
    except (ValueError, cli.UsageError) as e:
        assert str(e) and "\n" not in str(e), str(e)
        event("refused")
        return
    consume(loaded)
    event("accepted")


def sinusoid_lines(loaded):
    models, config = loaded
    args = demo_sinusoid.parse_args(["--eval-tasks", "2"])
    demo_sinusoid.describe(config)
    json.dumps(demo_sinusoid.results_json({}, config, args), allow_nan=False)
    demo_sinusoid.committed_results(args, config)
    for params, losses, block in models.values():
        numpy.arange(len(losses)) * block  # the training figure's x axis
        assert all(0 <= x <= checkpoints.MAX_LOSS for x in losses)


@given(metadata=changed(committed_metadata("checkpoints/sinusoid.npz")))
def test_sinusoid_metadata_property(tmp_path_factory, metadata):
    path = tmp_path_factory.mktemp("ck") / "sinusoid.npz"
    resave("checkpoints/sinusoid.npz", path, lambda m: (m.clear(), m.update(metadata)))
    refuses_in_one_line_or_prints(lambda: demo_sinusoid.load(str(path)), sinusoid_lines)


def fewshot_lines(loaded):
    trained, config = loaded
    demo_fewshot.describe(config)
    json.dumps(dict(training=config), allow_nan=False)


@given(metadata=changed(committed_metadata("checkpoints/fewshot/protonets.npz")))
def test_fewshot_metadata_property(tmp_path_factory, metadata):
    folder = tmp_path_factory.mktemp("ck")
    for method in ("maml", "fomaml", "pretrained"):  # the same settings in all but one
        resave(f"checkpoints/fewshot/{method}.npz", folder / f"{method}.npz",
               lambda m: m["training"].update(metadata.get("training") or {})
               if isinstance(metadata.get("training"), dict) else None)
    resave("checkpoints/fewshot/protonets.npz", folder / "protonets.npz",
           lambda m: (m.clear(), m.update(metadata)))
    refuses_in_one_line_or_prints(lambda: demo_fewshot.load_all(str(folder)), fewshot_lines)


def variants_lines(loaded):
    trained, protocol = loaded
    demo_variants.describe(protocol)
    json.dumps(dict(training=protocol), allow_nan=False)


@given(metadata=changed(committed_metadata("checkpoints/variants/anil.npz")))
def test_variants_metadata_property(tmp_path_factory, metadata):
    folder = tmp_path_factory.mktemp("ck")
    resave("checkpoints/variants/anil.npz", folder / "anil.npz",
           lambda m: (m.clear(), m.update(metadata)))
    args = demo_variants.parse_args(["--methods", "anil", "--load", str(folder)])
    refuses_in_one_line_or_prints(lambda: demo_variants.load_all(args), variants_lines)


@pytest.mark.slow
@settings(max_examples=8)
@given(metadata=changed(committed_metadata("checkpoints/sinusoid.npz")))
def test_sinusoid_metadata_whole_run(tmp_path_factory, metadata):
    """The property on the whole run: --load refuses in one line (exit 2), or every file is
    written (exit 0)."""
    folder = tmp_path_factory.mktemp("ck")
    resave("checkpoints/sinusoid.npz", folder / "s.npz",
           lambda m: (m.clear(), m.update(metadata)))
    status = demo_sinusoid.main(["--load", str(folder / "s.npz"), "--eval-tasks", "2",
                                 "--quiet", "--out", str(folder / "out")])
    assert status in (0, 2)
    assert (status == 0) == (folder / "out" / "results.json").exists()


@pytest.mark.parametrize("main, flag", [(demo_variants.main, "--eval-tasks"),
                                        (demo_sinusoid.main, "--eval-tasks")])
def test_every_demo_estimates_its_evaluation_before_training(tmp_path, capsys, monkeypatch,
                                                            main, flag):
    monkeypatch.setattr(checks, "machine_memory", lambda: 2 ** 30)
    status = main([flag, "100000", "--quiet", "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "--eval-tasks would need about" in lines[0], lines


def test_the_pixels_decoded_from_one_omniglot_are_capped(tmp_path, monkeypatch):
    root = write_folders(tmp_path / "omniglot", layout())
    monkeypatch.setattr(glyphs, "MAX_OMNIGLOT_PIXELS", 105 * 105 * 20)
    with pytest.raises(files.Refused, match="holds images of more than 220,500 pixels in all"):
        glyphs.load_omniglot(root)


def test_matplotlib_gets_a_quiet_cache_when_xdg_cache_home_is_unusable(tmp_path, monkeypatch):
    monkeypatch.delenv("MPLCONFIGDIR", raising=False)
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    cli.matplotlib_cache()
    assert os.path.isdir(os.environ["MPLCONFIGDIR"])
    monkeypatch.delenv("MPLCONFIGDIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fine"))
    cli.matplotlib_cache()
    assert "MPLCONFIGDIR" not in os.environ and (tmp_path / "fine" / "matplotlib").is_dir()


@pytest.mark.parametrize("flags", [["--seed", str(2 ** 63 - 1)], ["--seed", "0"],
                                   ["--iterations", "10000000", "--seed", "9007199254740993"]])
def test_what_any_run_saves_its_load_accepts(tmp_path, flags):
    """The settings a run writes for any flags --help allows pass the schema --load checks
    (a --seed above 2^53 was saved, then refused by --load)."""
    out = ["--out", str(tmp_path / "o")]
    config = demo_fewshot.config_of(demo_fewshot.parse_args([*flags, *out]))
    checkpoints.check_schema(config, checkpoints.FEWSHOT_TRAINING, "fewshot")
    args = demo_variants.parse_args([*flags, "--alpha", "100", "--meta-lr", "1e-300", *out])
    checkpoints.check_schema(demo_variants.settings(args), checkpoints.VARIANTS_TRAINING, "v")
    args = demo_sinusoid.parse_args([*flags, "--alpha", "0", *out])
    config = {k: v for k, v in demo_sinusoid.config_of(args).items() if k != "layers"}
    checkpoints.check_schema(config, checkpoints.SINUSOID_CONFIG, "sinusoid")


def test_settings_that_differ_between_files_name_both_files_and_the_key(tmp_path, capsys):
    copy_folder("checkpoints/fewshot", tmp_path / "ck", "maml",
                lambda m: m["training"].update(alpha=0.5))
    one_line_refusal(capsys, demo_fewshot.main, ["--load", str(tmp_path / "ck"), *SHORT[2:],
                                                 "--out", str(tmp_path / "out")],
                     "pretrained.npz and maml.npz were trained differently (alpha: 0.4 vs 0.5)")


def test_a_negative_step_size_in_a_file_is_refused(tmp_path, capsys):
    copy_folder("checkpoints/variants", tmp_path / "ck", "maml-1",
                lambda m: m["training"].update(alpha=-0.4))
    one_line_refusal(capsys, demo_variants.main, ["--load", str(tmp_path / "ck"),
                                                  "--eval-tasks", "2", "--speed-iterations",
                                                  "0", "--quiet", "--out",
                                                  str(tmp_path / "out")],
                     "maml-1.npz", "alpha must be a number from 0 to 100")


@pytest.mark.parametrize("demo, folder, method", [
    ("fewshot", "checkpoints/fewshot", "maml"), ("fewshot", "checkpoints/fewshot", "metasgd"),
    ("variants", "checkpoints/variants", "maml-1"), ("sinusoid", "checkpoints/sinusoid.npz", None)])
def test_a_loss_block_beyond_the_figures_bound_is_refused_at_load(tmp_path, capsys, demo,
                                                                 folder, method):
    """loss_block 10**15 passed as a count up to 2^53, and the training figure refused it
    after the evaluation, naming no file: --load refuses it first, naming file and key."""
    def change(m):
        m["loss_block"] = 10 ** 15
    out = ["--quiet", "--out", str(tmp_path / "out")]
    words = ["loss_block must be a whole number from 1 to 100,000,000"]
    if demo == "sinusoid":
        resave(folder, tmp_path / "block.npz", change)
        one_line_refusal(capsys, demo_sinusoid.main, ["--load", str(tmp_path / "block.npz"),
                                                      "--eval-tasks", "2", *out],
                         "block.npz", *words)
        return
    copy_folder(folder, tmp_path / "ck", method, change)
    main, flags = ((demo_fewshot.main, SHORT[2:-1]) if demo == "fewshot" else
                   (demo_variants.main, ["--eval-tasks", "2", "--speed-iterations", "0"]))
    one_line_refusal(capsys, main, ["--load", str(tmp_path / "ck"), *flags, *out],
                     f"{method}.npz", *words)
    assert not (tmp_path / "out").exists()
    assert checkpoints.expect(checks.MAX_COUNT, "loss block", "loss_block") == checks.MAX_COUNT


# --- the split report beside the glyph cache: optional too ---------------------------------------

MEASURED = {"threshold": glyphs.DUPLICATE_DISTANCE, "across": glyphs.LEAK_DISTANCE,
            "before": {"training": 1063, "validation": 92, "evaluation": 201},
            "after": {"training": 1056, "validation": 66, "evaluation": 152}}  # fewshot.json's
KEPT = (1056, 66, 152)


@pytest.fixture
def report_path(cache_home, monkeypatch):
    """The split report's path in a fresh cache folder; glyphs.measure_split counts its calls
    and returns MEASURED (measuring takes 15 s)."""
    calls = []
    monkeypatch.setattr(glyphs, "measure_split", lambda: calls.append(1) or copy.deepcopy(MEASURED))
    path = glyphs.cache_path(0, 1).replace(".npz", "-split-report.json")
    os.makedirs(os.path.dirname(path))
    return path, calls


def split_report_warnings():
    """glyphs.split_report(kept=KEPT): (report, the warnings it gave)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with deadline(20):
            report = glyphs.split_report(kept=KEPT)
    return report, [str(w.message) for w in caught]


def changed_report(**change):
    return json.dumps({**MEASURED, **change})


SPLIT_REPORT_CASES = {
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "200,000 bytes"),
    "nested 2,000 deep": ('{"a": ' + "[" * 2000 + "]" * 2000 + "}", "nests deeper than 50"),
    "a FIFO": (None, "FIFO"),
    "a folder": (None, "is a folder"),
    "a symlink to /dev/zero": (None, "character device"),
    "not UTF-8": (b'{"threshold": "\xff"}', "not UTF-8"),
    "not JSON": ("{'threshold': 0.1}", "not valid JSON"),
    "a list": ("[1, 2]", "must be a JSON object"),
    "counts beyond the data": (changed_report(after={"training": 99999, "validation": 5,
                                                     "evaluation": 123456}),
                               "after [99999, 5, 123456] > letters"),
    "the tester's nulls": ('{"threshold": -1, "across": "x", "before": null, "after": {}}',
                           "threshold -1"),
    "a wrong across": (changed_report(across="x"), "across x"),
    "a true threshold": (changed_report(threshold=True), "threshold True"),
    "counts that are floats": (changed_report(after={"training": 1056.0, "validation": 66,
                                                     "evaluation": 152}),
                               "after is not 3 counts"),
    "a negative count": (changed_report(after={"training": -1, "validation": 66,
                                               "evaluation": 152}), "after is not 3 counts"),
    "the old report's two parts": (changed_report(after={"background": 1143, "evaluation": 152}),
                                   "after is not 3 counts"),
    "an extra key": (changed_report(more=1), "keys"),
    "more before than letters": (changed_report(before={"training": 10 ** 12, "validation": 92,
                                                        "evaluation": 201}), "> letters"),
    "true but another glyph set's": (changed_report(after={"training": 1000, "validation": 66,
                                                           "evaluation": 150}),
                                     "after [1000, 66, 150], data [1056, 66, 152]"),
}


@pytest.mark.parametrize("case", SPLIT_REPORT_CASES)
def test_a_split_report_that_cannot_be_read_or_trusted_is_one_warning(report_path, case):
    """Such files used to be a RecursionError after training, a hang (a FIFO) or numbers
    copied into fewshot.json: now one warning, and the report measured again."""
    path, calls = report_path
    content, words = SPLIT_REPORT_CASES[case]
    if case == "a FIFO":
        os.mkfifo(path)
    elif case == "a folder":
        os.mkdir(path)
    elif case == "a symlink to /dev/zero":
        os.symlink("/dev/zero", path)
    else:
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
    report, caught = split_report_warnings()
    assert len(caught) == 1 and words in caught[0], caught
    assert caught[0].startswith("split report not used (") and "\n" not in caught[0]
    assert len(caught[0]) <= 73 and report == MEASURED and len(calls) == 1
    if case not in ("a folder",):  # the measured report replaced the file: read next time
        assert split_report_warnings() == (MEASURED, []) and len(calls) == 1


def test_a_valid_split_report_is_read_without_a_warning(report_path):
    path, calls = report_path
    assert split_report_warnings() == (MEASURED, []) and len(calls) == 1  # measured, written
    assert glyphs.read_split_report(path, KEPT) == MEASURED
    assert split_report_warnings() == (MEASURED, []) and len(calls) == 1  # read back


def test_the_fewshot_demo_reads_the_split_report_before_training(tmp_path, capsys,
                                                                 monkeypatch):
    """A FIFO there used to hang the run after training ("evaluating the split's report"):
    now it is one warning before the first iteration."""
    real, report = glyphs.cache_path, str(tmp_path / "glyphs-split-report.json")
    monkeypatch.setattr(glyphs, "cache_path", lambda seed, instances, scripts=None: (
        report.replace("-split-report.json", ".npz") if (seed, instances) == (0, 1)
        else real(seed, instances, scripts)))
    monkeypatch.setattr(glyphs, "measure_split", lambda: copy.deepcopy(MEASURED))
    os.mkfifo(report)

    def train_one(*args):
        raise Trained
    monkeypatch.setattr(demo_fewshot, "train_one", train_one)
    with deadline(120), pytest.raises(Trained):
        demo_fewshot.main([*SHORT, "--methods", "maml", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert "split report not used" in err and "FIFO" in err, err
