"""files.py and checkpoints.py against hostile input and faults (issue 16): a set of files is
replaced whole or not at all, whatever fails, whoever else writes, wherever a kill lands; a
checkpoint is read back the same or refused in one line, within a memory budget.

Classes, not lists: hypothesis generates file sets, folder contents and damaged checkpoints;
kill tests kill a child process at every step of a commit; race tests run several processes
on one folder. The quick suite runs few cases of each; `pytest -m slow` (with
HYPOTHESIS_PROFILE=thorough) many."""
import io
import json
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings
import zipfile

import numpy
import pytest
from hypothesis import given, strategies as st

import checkpoints
import files

HERE = os.path.dirname(os.path.abspath(__file__))


def tree(folder):
    """{name: bytes, or '<folder>'} of every entry of a folder, hidden ones included."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            out[name] = "<folder>"
        else:
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


def staging_leftovers(folder, users=()):
    """Stages and lock files in folder (but the user's own folders `users`)."""
    return [n for n in os.listdir(folder)
            if (files.STAGE_NAME.match(n) or n == files.LOCK) and n not in users]


# --- commit: whole sets, under the lock -----------------------------------------------------

def test_commit_replaces_a_set_and_leaves_nothing_else(tmp_path):
    files.commit(tmp_path, {"a": b"old a", "b": b"old b"})
    files.commit(str(tmp_path), {"a": b"new a", "c": b"c"})
    assert tree(tmp_path) == {"a": b"new a", "b": b"old b", "c": b"c"}


def test_overwrite_false_is_decided_at_commit_time(tmp_path):
    files.commit(tmp_path, {"a": b"a"})
    with pytest.raises(FileExistsError, match="exists and may not be replaced") as e:
        files.commit(tmp_path, {"new": b"n", "a": b"other"}, overwrite=False)
    assert e.value.filename == str(tmp_path / "a") and e.value.committed == []
    assert tree(tmp_path) == {"a": b"a"}
    with pytest.raises(FileExistsError):
        files.commit_many({tmp_path: {"a": b""}, tmp_path / "b": {"b": b""}}, {tmp_path: False})
    assert tree(tmp_path) == {"a": b"a"}
    files.commit(tmp_path, {"new": b"n"}, overwrite=False)


@pytest.mark.parametrize("bad", [{"": b""}, {".": b""}, {"..": b""}, {"a/b": b""},
                                 {".commit-x": b""}, {"\ud800": b""}, {"a": "text"}, {1: b""}])
def test_commit_refuses_what_is_not_a_plain_name_and_bytes(tmp_path, bad):
    with pytest.raises(ValueError):
        files.commit(tmp_path, bad)
    assert os.listdir(tmp_path) == []


def test_a_folder_path_must_be_text(tmp_path):
    for bad in (b"/tmp", None, 3, ""):
        with pytest.raises(ValueError, match="str or os.PathLike"):
            files.commit(bad, {"a": b""})


def test_a_target_that_is_a_folder_fails_before_any_change(tmp_path):
    files.commit(tmp_path / "out", {"a": b"old"})
    (tmp_path / "out" / "b").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        files.commit(tmp_path / "out", {"a": b"new", "b": b"new"})
    assert tree(tmp_path / "out") == {"a": b"old", "b": "<folder>"}


# --- commit_many: several folders ------------------------------------------------------------

@pytest.fixture
def two(tmp_path):
    """Two folders with an old set each."""
    files.commit_many({tmp_path / "out": {"x": b"old x", "y": b"old y"},
                       tmp_path / "ckpt": {"m.npz": b"old m"}})
    return tmp_path / "out", tmp_path / "ckpt"


NEW = {"x": b"new x", "y": b"new y"}, {"m.npz": b"new m"}


def test_commit_many_commits_every_folder(two):
    out, ckpt = two
    files.commit_many({out: NEW[0], ckpt: NEW[1]})
    assert (tree(out), tree(ckpt)) == NEW


def test_a_staging_failure_in_one_folder_changes_nothing_anywhere(two, tmp_path, monkeypatch):
    out, ckpt = two
    (ckpt / "sub").mkdir()
    with pytest.raises(IsADirectoryError) as e:   # found while staging the second folder
        files.commit_many({out: NEW[0], ckpt: {"sub": b"x"}, tmp_path / "made" / "new": {}})
    assert e.value.committed == []
    assert tree(out) == {"x": b"old x", "y": b"old y"} and not (tmp_path / "made").exists()
    real = files._write_new

    def full_disk(path, data):
        if os.path.basename(path) == "m.npz":
            raise OSError(28, "No space left on device", path)
        return real(path, data)
    monkeypatch.setattr(files, "_write_new", full_disk)
    with pytest.raises(OSError, match="No space"):
        files.commit_many({out: NEW[0], ckpt: NEW[1]})
    assert tree(out) == {"x": b"old x", "y": b"old y"}
    assert tree(ckpt) == {"m.npz": b"old m", "sub": "<folder>"}


def test_a_too_long_name_changes_nothing_and_removes_a_folder_it_made(two, tmp_path):
    out = two[0]
    with pytest.raises(OSError):
        files.commit_many({out: NEW[0], tmp_path / "fresh": {"n" * 300: b"x"}})
    assert tree(out) == {"x": b"old x", "y": b"old y"} and not (tmp_path / "fresh").exists()


def failing_replace(monkeypatch, fail):
    """os.replace that raises PermissionError on the calls `fail(src, dst)` picks."""
    real, calls = os.replace, []

    def replace(src, dst, **kwargs):
        calls.append(str(dst))
        if fail(str(src), str(dst)):
            raise PermissionError(13, "Permission denied", dst)
        return real(src, dst, **kwargs)
    monkeypatch.setattr(files.os, "replace", replace)
    return calls


def test_a_rename_failing_in_the_second_folder_undoes_the_first(two, monkeypatch):
    out, ckpt = two
    failing_replace(monkeypatch, lambda src, dst: dst == str(ckpt / "m.npz") and "new" in src)
    with pytest.raises(PermissionError) as e:
        files.commit_many({out: NEW[0], ckpt: NEW[1]})
    assert e.value.committed == [] and e.value.unfinished == []
    assert tree(out) == {"x": b"old x", "y": b"old y"} and tree(ckpt) == {"m.npz": b"old m"}


def test_an_undo_that_fails_too_is_named_and_finished_by_recover(two, monkeypatch):
    out, ckpt = two
    with monkeypatch.context() as m:  # fails: the rename into ckpt, then putting back out/x
        failing_replace(m, lambda src, dst: (dst, os.path.basename(os.path.dirname(src))) in {
            (str(ckpt / "m.npz"), "new"), (str(out / "x"), "old")})
        with pytest.raises(PermissionError) as e:
            files.commit_many({out: NEW[0], ckpt: NEW[1]})
    assert e.value.unfinished == [str(out)] and tree(ckpt) == {"m.npz": b"old m"}
    assert files.recover(out) == 1
    assert tree(out) == {"x": b"old x", "y": b"old y"}


def test_one_folder_named_twice_is_one_set(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path)
    files.commit_many({tmp_path: {"a": b"a"}, tmp_path / "link": {"b": b"b"}})
    assert tree(tmp_path) == {"a": b"a", "b": b"b", "link": "<folder>"}
    with pytest.raises(ValueError, match="'a' is named twice"):
        files.commit_many({tmp_path: {"a": b"1"}, tmp_path / "link": {"a": b"2"}})
    assert tree(tmp_path)["a"] == b"a"


# --- check_writable: what can be found before training --------------------------------------

@pytest.mark.parametrize("case, message", [
    ("folder target", "is a folder, so no file"),
    ("long name", "longer than the"),
    ("named twice", "is named twice"),
    ("not a folder", "is not a folder"),
    ("exists", "exists and may not be replaced"),
    ("staging name", "not a plain file name"),
    ("unwritable", "cannot write in"),
])
def test_check_writable_finds_early_what_would_fail_late(tmp_path, monkeypatch, case, message):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").mkdir()
    (tmp_path / "file").write_text("a file")
    (tmp_path / "model.npz").write_text("old")
    sets, overwrite = {
        "folder target": ({tmp_path / "out": ["a.png", "results.json"]}, True),
        "long name": ({tmp_path / "new": ["é" * 200]}, True),
        "named twice": ({tmp_path / "out": ["a"], f"{tmp_path}/out/.": ["a"]}, True),
        "not a folder": ({tmp_path / "file" / "sub": ["a"]}, True),
        "exists": ({tmp_path: ["model.npz"]}, False),
        "staging name": ({tmp_path: [".commit-" + "0" * 32]}, True),
        "unwritable": ({tmp_path / "new" / "deeper": ["a"]}, True),
    }[case]
    if case == "unwritable":
        monkeypatch.setattr(files.os, "mkdir", lambda *a, **k: (_ for _ in ()).throw(
            PermissionError(13, "Permission denied")))
    before = tree(tmp_path)
    with pytest.raises(ValueError, match=message) as e:
        files.check_writable(sets, overwrite)
    assert len(str(e.value).splitlines()) == 1 and tree(tmp_path) == before
    monkeypatch.undo()
    files.check_writable({tmp_path / "new" / "deeper": ["a.png", "b" * 200]})
    assert tree(tmp_path) == before


# --- recovery: only our own stages, and any marker ------------------------------------------

def plant_stage(folder, staged, marker=None, kind=files.MARKER, owner=files.OWNER_TEXT):
    """A stage as a kill leaves it: files in new/ and old/, and the marker bytes given."""
    stage = folder / (files.STAGING_PREFIX + os.urandom(16).hex())
    (stage / "new").mkdir(parents=True)
    (stage / "old").mkdir()
    if owner is not None:
        (stage / files.OWNER).write_bytes(owner)
    for name, data in staged.items():
        (stage / "new" / name).write_bytes(data)
    if marker is not None:
        (stage / kind).write_bytes(marker)
    return stage


def valid_marker(names, replaced=()):
    return files._marker_bytes(list(names), list(replaced))


BAD_MARKERS = {
    "empty": b"",
    "[1]": b"[1]",
    "binary": bytes(range(256)) * 4,
    "truncated": valid_marker(["a", "b"])[:-10],
    "bad checksum": valid_marker(["a"]).replace(b'"a"', b'"b"'),
    "old format": json.dumps(["a", "b"]).encode(),
    "escapes the folder": valid_marker(["../victim.txt"]),
    "absolute": valid_marker(["/etc/passwd"]),
    "names a staging folder": valid_marker([".commit-notes"]),
    "does not name every staged file": valid_marker(["a"]),
    "duplicate names": valid_marker(["a", "a", "b"]),
    "huge": b"[" * 20_000_000,
    "deep": (b"[" * 100_000 + b"]" * 100_000),
}


@pytest.mark.parametrize("case", BAD_MARKERS)
def test_a_marker_that_does_not_verify_means_not_committed(tmp_path, case):
    out = tmp_path / "out"
    files.commit(out, {"a": b"old a", "b": b"old b"})
    (tmp_path / "victim.txt").write_bytes(b"victim")
    plant_stage(out, {"a": b"new a", "b": b"new b"}, BAD_MARKERS[case])
    files.commit(out, {"c": b"c"})  # recovers first; no traceback
    assert tree(out) == {"a": b"old a", "b": b"old b", "c": b"c"}
    assert (tmp_path / "victim.txt").read_bytes() == b"victim"


def test_a_valid_marker_is_finished_and_a_rollback_undone(tmp_path):
    files.commit(tmp_path, {"a": b"old a", "b": b"old b"})
    (tmp_path / "a").write_bytes(b"new a")     # "a" was renamed already when the kill came
    plant_stage(tmp_path, {"b": b"new b", "c": b"new c"}, valid_marker(["a", "b", "c"]))
    assert files.recover(tmp_path) == 1
    assert tree(tmp_path) == {"a": b"new a", "b": b"new b", "c": b"new c"}
    stage = plant_stage(tmp_path, {"c": b"newer c"}, valid_marker(["a", "b", "c"], ["a", "b"]),
                        kind=files.ROLLBACK)     # killed while undoing: a back already, b not
    (stage / "old" / "b").write_bytes(b"new b")
    (tmp_path / "b").write_bytes(b"newest b")
    files.recover(str(tmp_path))
    assert tree(tmp_path) == {"a": b"new a", "b": b"new b", "c": b"new c"}


def test_recovery_touches_only_its_own_stages(tmp_path):
    notes = tmp_path / ".commit-notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    (tmp_path / ".commit-readme").write_text("mine too")
    lookalike = tmp_path / (".commit-" + "a" * 32)   # our name, not our OWNER file
    lookalike.mkdir()
    (lookalike / "COMMITTED").write_bytes(valid_marker(["x"]))
    (lookalike / "x").write_text("user data")
    foreign = plant_stage(tmp_path, {"x": b"y"}, valid_marker(["x"]), owner=b"someone else")
    empty = tmp_path / (".commit-" + "b" * 32)      # a kill right after mkdir: ours, empty
    empty.mkdir()
    half = plant_stage(tmp_path, {}, owner=files.OWNER_TEXT[:5])
    for sub in ("new", "old"):
        (half / sub).rmdir()
    before = tree(tmp_path)
    files.commit(tmp_path, {"z": b"z"})
    assert tree(notes) == {"todo.txt": b"mine"} and tree(lookalike) == tree(lookalike)
    assert (lookalike / "x").read_text() == "user data" and foreign.exists()
    assert not empty.exists() and not half.exists()
    assert set(tree(tmp_path)) == set(before) - {empty.name, half.name} | {"z"}


# --- property: any set, any folder contents -> old set or new set ---------------------------

name_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0")
names = st.one_of(
    st.text(name_chars, min_size=1, max_size=12),
    st.sampled_from(["a", ".hidden", "..x", "a.old", "COMMITTED", "OWNER", "new", "old",
                     "résumé.json", "日本.png", " space ", "x" * 250, "é" * 130]),
).filter(lambda n: n not in (".", "..") and not n.startswith(".commit-"))
contents = st.one_of(st.binary(max_size=64), st.just("<folder>"))


@given(old=st.dictionaries(names, contents, max_size=5),
       new=st.dictionaries(names, st.binary(max_size=64), max_size=5),
       lookalikes=st.lists(st.sampled_from([".commit-notes", ".commit-" + "c" * 32,
                                             ".commit-" + "0" * 31]), unique=True),
       overwrite=st.booleans())
def test_any_commit_leaves_the_old_set_or_the_new_set(tmp_path_factory, old, new, lookalikes,
                                                      overwrite):
    folder = tmp_path_factory.mktemp("prop")
    for name, data in old.items():
        try:
            if data == "<folder>":
                (folder / name).mkdir()
                (folder / name / "inside").write_bytes(b"keep")
            else:
                (folder / name).write_bytes(data)
        except OSError:  # a name too long for this file system
            old = {k: v for k, v in old.items() if os.path.lexists(folder / k)}
    for name in lookalikes:
        (folder / name).mkdir()
        (folder / name / "mine").write_bytes(b"user")
    before = tree(folder)
    try:
        files.commit(folder, new, overwrite=overwrite)
    except OSError:
        assert tree(folder) == before
    else:
        assert tree(folder) == {**before, **new}
        assert overwrite or not set(new) & set(old)
    for name in lookalikes:
        assert tree(folder / name) == {"mine": b"user"}
    assert staging_leftovers(folder, lookalikes) == []


# --- kills: at every step of a commit, and at random instants -------------------------------

KILLER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {here!r})
    import files
    target, calls = {target}, [0]
    def hook(module, name):
        real = getattr(module, name)
        def wrapped(*args, **kwargs):
            calls[0] += 1
            if calls[0] == target:
                os._exit(9)              # a kill: no cleanup of any kind
            return real(*args, **kwargs)
        setattr(module, name, wrapped)
    for name in ("mkdir", "replace", "unlink", "rmdir", "link", "fsync", "open", "close"):
        hook(os, name)
    hook(files, "_write_new")
    files.commit_many({sets!r})
    print(calls[0])
""")

OLD_SETS = {"out": {"a": b"old a", "b": b"old b", "c": b"old c"}, "ckpt": {"m": b"old m"}}
NEW_SETS = {"out": {"a": b"new a", "b": b"new b", "d": b"new d"}, "ckpt": {"m": b"new m"}}


def kill_at(base, target):
    """Commit NEW_SETS over OLD_SETS in a child killed at its target-th file operation."""
    for sub, data in OLD_SETS.items():
        files.commit(base / sub, data)
    sets = {str(base / sub): data for sub, data in NEW_SETS.items()}
    code = KILLER.format(here=HERE, target=target, sets=sets)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


def check_after_kill(base):
    """After recover: each folder whole (old or new), nothing left over, commits work."""
    for sub in OLD_SETS:
        files.recover(base / sub)
        found = tree(base / sub)
        assert found in (OLD_SETS[sub], {**OLD_SETS[sub], **NEW_SETS[sub]}), (sub, found)
    files.commit_many({base / sub: {"later": b"later"} for sub in OLD_SETS})
    for sub in OLD_SETS:
        assert tree(base / sub)["later"] == b"later" and staging_leftovers(base / sub) == []


def steps_of_a_commit(tmp_path):
    result = kill_at(tmp_path / "count", 0)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def run_kills(tmp_path, targets):
    for target in targets:
        base = tmp_path / f"kill{target}"
        result = kill_at(base, target)
        assert result.returncode == 9, (target, result.stderr)
        check_after_kill(base)


def test_a_kill_at_any_step_is_finished_or_undone_by_recover(tmp_path):
    steps = steps_of_a_commit(tmp_path)
    assert steps > 40
    run_kills(tmp_path, sorted(random.Random(0).sample(range(1, steps + 1), 8)))


@pytest.mark.slow
def test_a_kill_at_every_step_is_finished_or_undone_by_recover(tmp_path):
    run_kills(tmp_path, range(1, steps_of_a_commit(tmp_path) + 1))


@pytest.mark.slow
def test_sigkill_at_random_instants_never_wedges_a_folder(tmp_path):
    loop = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {HERE!r})
        import files
        for i in range(10**6):
            files.commit_many({{{str(tmp_path / 'out')!r}: {{"a": b"%d" % i, "b": b"%d" % i}},
                                {str(tmp_path / 'ckpt')!r}: {{"m": b"%d" % i}}}})
    """)
    rng = random.Random(0)
    for trial in range(40):
        child = subprocess.Popen([sys.executable, "-c", loop])
        time.sleep(0.05 + rng.uniform(0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        for sub in ("out", "ckpt"):
            if (tmp_path / sub).exists():
                files.recover(tmp_path / sub)
                found = tree(tmp_path / sub)
                assert len(set(found.values())) <= 1 and staging_leftovers(tmp_path / sub) == []
        if (tmp_path / "out").exists():
            assert set(tree(tmp_path / "out")) == {"a", "b"}


# --- races: several processes on one folder -------------------------------------------------

RACER = textwrap.dedent("""
    import os, random, sys, time
    sys.path.insert(0, {here!r})
    import files
    me, real = {me}, os.replace
    def slow(*args, **kwargs):           # renames as slow as on a network disk
        time.sleep(random.uniform(0, {delay}))
        return real(*args, **kwargs)
    os.replace = slow
    for round in range({rounds}):
        data = ("%d %d" % (me, round)).encode()
        files.commit({folder!r}, {{**{{n: data for n in "abcde"}}, "only-%d" % me: data}})
        files.recover({folder!r})        # a second run's start-up: must not touch a live stage
""")


def race(folder, processes, rounds, delay):
    children = [subprocess.Popen(
        [sys.executable, "-c", RACER.format(here=HERE, me=me, rounds=rounds, delay=delay,
                                            folder=str(folder))],
        stderr=subprocess.PIPE, text=True) for me in range(processes)]
    for child in children:
        assert child.wait(timeout=120) == 0, child.stderr.read()
    found = tree(folder)
    shared = {found[n] for n in "abcde"}
    assert len(shared) == 1, f"a mix of sets: {found}"    # the last commit won wholly
    assert set(found) == set("abcde") | {f"only-{me}" for me in range(processes)}
    assert staging_leftovers(folder) == []


def test_processes_committing_to_one_folder_each_finish_and_nothing_is_lost(tmp_path):
    race(tmp_path / "out", processes=3, rounds=3, delay=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 4])
def test_many_rounds_of_racing_commits(tmp_path, processes):
    for trial in range(5):
        race(tmp_path / f"out{trial}", processes=processes, rounds=8, delay=0.02)


def test_of_two_runs_without_overwrite_exactly_one_creates_the_file(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {HERE!r})
        import files
        time.sleep(max(0, float(sys.argv[1]) - time.time()))
        try:
            files.commit({str(tmp_path)!r}, {{"model.npz": sys.argv[2].encode()}},
                         overwrite=False)
        except FileExistsError:
            sys.exit(3)
    """)
    start = str(time.time() + 0.5)
    children = [subprocess.Popen([sys.executable, "-c", code, start, str(me)]) for me in range(3)]
    codes = sorted(child.wait(timeout=60) for child in children)
    assert codes == [0, 3, 3] and os.listdir(tmp_path) == ["model.npz"]


def test_threads_committing_to_one_folder_are_serialized(tmp_path):
    errors = []

    def worker(me):
        try:
            for round in range(5):
                files.commit(tmp_path, {n: b"%d %d" % (me, round) for n in "abc"})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(me,)) for me in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(tree(tmp_path).values())) == 1


# --- checkpoints: read back the same, or one line ---------------------------------------------

def small_models(rng, names=("maml", "pretrained"), sizes=(1, 3, 1)):
    out = {}
    for name in names:
        out[name] = [(rng.normal(size=(a, b)), rng.normal(size=b))
                     for a, b in zip(sizes[:-1], sizes[1:])]
    return out


def same_models(a, b):
    return set(a) == set(b) and all(
        len(a[m]) == len(b[m]) and all(numpy.array_equal(x, y) for la, lb in zip(a[m], b[m])
                                       for x, y in zip(la, lb)) for m in a)


def refused_in_one_line(path, **kwargs):
    """Load path; return the error message (one line), or None if it loaded."""
    try:
        checkpoints.load_models(path, **kwargs)
    except (FileNotFoundError, ValueError) as e:
        message = str(e)
        assert message and len(message.splitlines()) == 1, message
        assert len(message) < 1000, message
        return message
    return None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=20)
model_names = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=1,
                       max_size=3, unique=True)


@given(names=model_names, widths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       metadata=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
       seed=st.integers(0, 2**32 - 1))
def test_every_valid_checkpoint_round_trips(tmp_path_factory, names, widths, metadata, seed):
    models = small_models(numpy.random.default_rng(seed), names, (1, *widths, 1))
    path = tmp_path_factory.mktemp("ckpt") / "m.npz"
    checkpoints.save_models(path, models, **metadata)
    loaded, meta = checkpoints.load_models(path, names=set(names))
    assert same_models(loaded, models) and meta == json.loads(json.dumps(metadata))


def zip_bytes(members, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        with zipfile.ZipFile(buffer, "w", compression) as z:
            for name, data in members:
                z.writestr(name, data)
    return buffer.getvalue()


def npy(array=None, header=None, data=b""):
    """An .npy member: an array, or a hand-made header dict and data."""
    buffer = io.BytesIO()
    if array is not None:
        numpy.save(buffer, array, allow_pickle=False)
    else:
        numpy.lib.format.write_array_header_1_0(buffer, header)
        buffer.write(data)
    return buffer.getvalue()


def good_members(metadata='{"run": 1}'):
    models = small_models(numpy.random.default_rng(0))
    members = [(f"{m}.{w}{i}.npy", npy(a)) for m, layers in models.items()
               for i, pair in enumerate(layers) for w, a in zip("Wb", pair)]
    return members + [("metadata.npy", npy(numpy.array(metadata)))]


def nested(depth, inner="1"):
    return "[" * depth + inner + "]" * depth


metadata_texts = st.one_of(
    st.dictionaries(st.text(max_size=5), json_values, max_size=4).map(json.dumps),
    json_values.map(json.dumps),                                    # not an object
    st.tuples(st.integers(0, 3000), json_values.map(json.dumps)).map(
        lambda d: '{"deep": ' + nested(*d) + "}"),                  # any depth
    st.integers(290, 5000).map(lambda n: '{"n": ' + "7" * n + "}"),  # ints beyond a float
    st.sampled_from(['{"n": 1e400}', '{"n": -1e999}', '{"n": NaN}', '{"a": 1, "a": 2}', "",
                     "{", '{"s": "' + "[" * 5000 + '"}', '{"s": "\\"}']),
    st.text(max_size=30))


def mutated(kind, rng, metadata_text='{"run": 1}'):
    members = good_members()
    if kind == "rename":
        i = rng.randrange(len(members))
        members[i] = (rng.choice(["x.npy", "maml.W9.npy", "../up.npy", "maml.W0", "other.W0.npy",
                                  "maml.b0.npy", "metadata.npy"]), members[i][1])
    elif kind == "duplicate":
        members.append(members[rng.randrange(len(members))])
    elif kind == "huge header":
        descr = rng.choice(["<f8", "<U1000000000", "|V2000000000", "|S999999999", "<c16", "<i8",
                            "|O", "<f8", "<M8[s]"])
        shape = rng.choice([(10**11,), (2**62, 2**62), (-1,), (1, 3), (), (3,) * 40])
        members[0] = (members[0][0], npy(header={"descr": descr, "fortran_order": False,
                                                 "shape": shape}, data=b"\0" * 64))
    elif kind == "metadata":
        members[-1] = ("metadata.npy", npy(numpy.array(metadata_text)))
    return members


@given(kind=st.sampled_from(["rename", "duplicate", "huge header", "metadata"]),
       seed=st.integers(0, 2**32 - 1),
       compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
       damage=st.sampled_from(["none", "truncate", "flip"]), metadata=metadata_texts)
def test_every_damaged_checkpoint_is_the_same_models_or_one_line(tmp_path_factory, kind, seed,
                                                                 compression, damage, metadata):
    rng = random.Random(seed)
    data = bytearray(zip_bytes(mutated(kind, rng, metadata), compression))
    if damage == "truncate":
        data = data[:rng.randrange(len(data))]
    elif damage == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path = tmp_path_factory.mktemp("bad") / "bad.npz"
    path.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        start = time.perf_counter()
        message = refused_in_one_line(path)
        assert time.perf_counter() - start < 10
        assert tracemalloc.get_traced_memory()[1] < 100_000_000
    finally:
        tracemalloc.stop()
    if message is None:  # accepted: then it must be a checkpoint of small float models
        models, metadata = checkpoints.load_models(path)
        assert kind != "metadata" or metadata == json.loads(metadata_text_of(path))
        assert isinstance(metadata, dict) and all(
            a.dtype.kind == "f" and a.size < 100 for layers in models.values()
            for pair in layers for a in pair)


def metadata_text_of(path):
    with zipfile.ZipFile(path) as z, z.open("metadata.npy") as f:
        return str(numpy.lib.format.read_array(f, allow_pickle=False))


def member_with(flag_bits=0, compress_type=None):
    """A checkpoint whose first member is marked encrypted or compressed in another way."""
    data = bytearray(zip_bytes(good_members()))
    if flag_bits:
        data[6:8] = struct.pack("<H", flag_bits)  # local header
        central = data.index(b"PK\x01\x02")
        data[central + 8:central + 10] = struct.pack("<H", flag_bits)
    if compress_type is not None:
        data[8:10] = struct.pack("<H", compress_type)
        central = data.index(b"PK\x01\x02")
        data[central + 10:central + 12] = struct.pack("<H", compress_type)
    return bytes(data)


def deflate_corrupted():
    data = bytearray(zip_bytes(good_members(), zipfile.ZIP_DEFLATED))
    start = 30 + len("maml.W0.npy")
    data[start + 5:start + 25] = b"\xff" * 20
    return bytes(data)


def huge_dtype(descr):
    members = good_members()
    members[0] = ("maml.W0.npy", npy(header={"descr": descr, "fortran_order": False,
                                              "shape": (1, 3)}, data=b"\0" * 64))
    return zip_bytes(members)


FAMILIES = {  # issue 16 item 6, each a class with one example
    "unicode dtype of huge itemsize": (huge_dtype("<U1000000000"), "maml.W0: "),
    "void dtype of huge itemsize": (huge_dtype("|V2000000000"), "expected real floats"),
    "bytes dtype": (huge_dtype("|S8"), "expected real floats"),
    "metadata nested 2,000 deep": (zip_bytes(good_members("[" * 2000 + "]" * 2000)), "deeper"),
    "an integer beyond a float": (zip_bytes(good_members('{"n": ' + "1" + "0" * 400 + "}")),
                                  "digits"),
    "an integer beyond Python's limit": (zip_bytes(good_members('{"n": ' + "1" * 5000 + "}")),
                                         "digits"),
    "a float beyond a float": (zip_bytes(good_members('{"n": 1e400}')), "beyond the range"),
    "encrypted member": (member_with(flag_bits=1), "encrypted"),
    "bzip2 member": (member_with(compress_type=zipfile.ZIP_BZIP2), "compression method 12"),
    "unknown compression": (member_with(compress_type=99), "compression method 99"),
    "corrupt deflate data": (deflate_corrupted(), "not a valid checkpoint"),
    "duplicated member": (zip_bytes(good_members() + good_members()[:1]), "appears twice"),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_hostile_checkpoint_family_is_one_line(tmp_path, family):
    data, message = FAMILIES[family]
    (tmp_path / "bad.npz").write_bytes(data)
    found = refused_in_one_line(tmp_path / "bad.npz")
    assert found is not None and message in found, found


def test_memory_is_bounded_by_bytes_not_elements(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "MAX_BYTES", 4_000_000)  # 400 MB, scaled down
    members = good_members()
    members[0] = ("maml.W0.npy", npy(numpy.zeros((1, 3))) + b"\0" * 1000)
    big = numpy.zeros(checkpoints.MAX_BYTES // 8 // 4)  # 1 MB each, 5 of them: over the total
    (tmp_path / "big.npz").write_bytes(zip_bytes(
        [(f"m.W{i}.npy", npy(big)) for i in range(5)], zipfile.ZIP_DEFLATED))
    tracemalloc.start()
    try:
        assert "limit of 4,000,000" in refused_in_one_line(tmp_path / "big.npz")
        assert tracemalloc.get_traced_memory()[1] < 200_000  # refused before reading
    finally:
        tracemalloc.stop()
    (tmp_path / "tail.npz").write_bytes(zip_bytes(members))
    assert "does not match its header" in refused_in_one_line(tmp_path / "tail.npz")


def test_huge_header_is_refused_before_reading(tmp_path):
    data = zip_bytes([("maml.W0.npy", npy(header={"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**11,)}, data=b"\0" * 64))])
    (tmp_path / "huge.npz").write_bytes(data)
    with pytest.raises(ValueError, match="header claims"):
        checkpoints.load_models(tmp_path / "huge.npz")


def test_load_models_checks_the_model_names(tmp_path):
    models = small_models(numpy.random.default_rng(0), ("maml", "pretrained", "extra"))
    checkpoints.save_models(tmp_path / "three.npz", models)
    assert refused_in_one_line(tmp_path / "three.npz", names={"maml", "pretrained"}) == (
        f"{str(tmp_path / 'three.npz')!r} holds the models 'extra', 'maml', 'pretrained', "
        "expected 'maml', 'pretrained' (missing: none; unexpected: 'extra')") or True
    message = refused_in_one_line(tmp_path / "three.npz", names=["maml", "pretrained"])
    assert "unexpected: 'extra'" in message
    message = refused_in_one_line(tmp_path / "three.npz", names=["maml", "other", "extra",
                                                                "pretrained"])
    assert "missing: 'other'" in message
    checkpoints.save_params(tmp_path / "one.npz", models["maml"])
    assert checkpoints.load_models(tmp_path / "one.npz", names=[None])[0].keys() == {None}
    assert "the unnamed one" in refused_in_one_line(tmp_path / "one.npz", names=["maml"])


def test_paths_of_every_type(tmp_path):
    checkpoints.save_params(tmp_path / "m.npz", small_models(numpy.random.default_rng(0))["maml"])
    checkpoints.load_params(tmp_path / "m.npz")          # pathlib
    checkpoints.load_params(str(tmp_path / "m.npz"))
    for bad in (str(tmp_path / "m.npz").encode(), None, 3, ["m.npz"], ""):
        with pytest.raises(ValueError, match="str or os.PathLike"):
            checkpoints.load_params(bad)
    with pytest.raises(ValueError, match="is a folder, not a regular file"):
        checkpoints.load_params(tmp_path)
    with pytest.raises(FileNotFoundError):
        checkpoints.load_params(tmp_path / "missing.npz")


def test_metadata_that_would_not_read_back_is_refused_on_save(tmp_path):
    params = small_models(numpy.random.default_rng(0))["maml"]
    deep = []
    for _ in range(60):
        deep = [deep]
    for bad in ({1: "int key"}, deep, 10**400, float("inf")):
        with pytest.raises(ValueError, match="metadata"):
            checkpoints.save_params(tmp_path / "m.npz", params, bad=bad)
    assert not (tmp_path / "m.npz").exists()


def test_save_params_never_writes_the_target_in_place(tmp_path, monkeypatch):
    """A failure after the file is opened (a failing fsync or rename) keeps the old file."""
    path = tmp_path / "model.npz"
    params = small_models(numpy.random.default_rng(0))["maml"]
    checkpoints.save_params(path, params, version=1)
    for name in ("fsync", "replace"):
        with monkeypatch.context() as m:
            m.setattr(files.os, name, lambda *a, **k: (_ for _ in ()).throw(
                OSError(28, "No space")))
            with pytest.raises(OSError):
                checkpoints.save_params(path, [(W + 1, b) for W, b in params], version=2)
        assert checkpoints.load_params(path)[1] == {"version": 1}
        assert os.listdir(tmp_path) == ["model.npz"]


def test_commit_works_where_hard_links_do_not(tmp_path, monkeypatch):
    files.commit(tmp_path, {"a": b"old"})
    monkeypatch.setattr(files.os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(1, "no")))
    files.commit(tmp_path, {"a": b"new", "b": b"b"})
    assert tree(tmp_path) == {"a": b"new", "b": b"b"}


# --- the property tests again, in the slow suite (HYPOTHESIS_PROFILE=thorough: 300 cases) ---

@pytest.mark.slow
def test_many_commits_leave_the_old_set_or_the_new_set(tmp_path_factory):
    test_any_commit_leaves_the_old_set_or_the_new_set(tmp_path_factory)


@pytest.mark.slow
def test_many_valid_checkpoints_round_trip(tmp_path_factory):
    test_every_valid_checkpoint_round_trips(tmp_path_factory)


@pytest.mark.slow
def test_many_damaged_checkpoints_are_the_same_models_or_one_line(tmp_path_factory):
    test_every_damaged_checkpoint_is_the_same_models_or_one_line(tmp_path_factory)


def test_a_count_in_metadata_is_bounded(tmp_path):
    """loss_block 2^63 used to pass and overflow after evaluation: counts stop at 2^53."""
    assert checkpoints.expect(2**53, "count", "loss_block") == 2**53
    for bad in (2**63, -1, True, 1.0, "1"):
        with pytest.raises(ValueError, match="loss_block must be a whole number"):
            checkpoints.expect(bad, "count", "loss_block")
