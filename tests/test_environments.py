"""The package lists of pyproject.toml, constraints.txt, environment.yml and binder/ agree."""

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalise(re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0])


def learner_packages() -> set[str]:
    """What a learner's environment needs: the package's dependencies and its `lab` extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        requirement_name(r)
        for r in project["dependencies"] + project["optional-dependencies"]["lab"]
    }


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            found[normalise(name)] = version.strip()
    return found


def constraints() -> dict[str, str]:
    return pins((ROOT / "constraints.txt").read_text().splitlines())


def conda_pins() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    found = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, str) and entry not in ("pip",) and not entry.startswith("python="):
            name, _, version = entry.partition("=")
            found[normalise(CONDA_NAMES.get(name, name))] = version
    return found


def binder_pins() -> dict[str, str]:
    return pins((ROOT / "binder" / "requirements.txt").read_text().splitlines())


def test_constraints_pin_every_learner_package_and_the_test_tools():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    every = learner_packages() | {
        requirement_name(r) for r in project["optional-dependencies"]["test"]
    }
    assert every - set(constraints()) == set()


def test_the_pinned_pytorch_pair_is_one_the_readme_says_was_tested():
    # constraints.txt's pair is what .venv and CI run: README's "Tested with" table lists it.
    pinned = constraints()
    readme = (ROOT / "README.md").read_text()
    row = rf"^\| {re.escape(pinned['torch'])} \| {re.escape(pinned['torchvision'])} \|.*\| pass \|"
    assert re.search(row, readme, re.MULTILINE), (pinned["torch"], pinned["torchvision"])


@pytest.mark.parametrize("source", [conda_pins, binder_pins], ids=["environment.yml", "binder"])
def test_environment_files_list_the_same_packages_at_the_same_versions(source):
    listed = source()
    assert set(listed) == learner_packages()
    pinned = constraints()
    assert {name: version for name, version in listed.items() if version != pinned[name]} == {}


def test_conda_environment_installs_the_helpers_from_the_checkout():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in environment["channels"]
    pip_section = next(
        entry["pip"] for entry in environment["dependencies"] if isinstance(entry, dict)
    )
    assert "-e ." in pip_section


def test_binder_uses_cpu_only_torch_and_postbuild_installs_the_package():
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "download.pytorch.org/whl/cpu" in requirements
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert text.startswith("#!/bin/bash") and re.search(r"pip install .*-e \.", text)
    assert "jupytext" in text
    assert (ROOT / "binder" / "runtime.txt").read_text().strip().startswith("python-3.")


def python_floor() -> str:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r">=\s*(3\.\d+)", requires)
    assert match, f"requires-python should be a plain floor like '>=3.11', got {requires!r}"
    return match.group(1)


def test_one_python_floor_everywhere():
    floor = python_floor()
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python={floor}" in environment["dependencies"]
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == f"python-{floor}"
    assert f"Python {floor} or newer" in (ROOT / "README.md").read_text()
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["target-version"] == "py" + floor.replace(".", "")


@pytest.mark.slow
def test_the_installed_package_holds_no_instructor_module(tmp_path):
    """Build the wheel that `pip install .` installs, from a copy of the checkout."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("course_utils", "instructor"):
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--quiet",
        "--wheel-dir",
        str(tmp_path / "wheels"),
        str(source),
    ]
    built = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}"
    (wheel,) = (tmp_path / "wheels").glob("course_utils-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "course_utils",
        wheel.name.split("-py")[0] + ".dist-info",
    }
    modules = {Path(name).name for name in names if name.endswith(".py")}
    assert "training.py" in modules and not modules & {"runner.py", "student.py"}


def imported_top_level_names(folder: Path) -> set[str]:
    """The top-level names of every module imported by the files under ``folder``."""
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_module_the_package_imports_is_one_of_its_dependencies():
    # A learner on Colab installs the package with its dependencies and nothing else.
    third_party = imported_top_level_names(ROOT / "course_utils") - set(sys.stdlib_module_names)
    third_party -= {"course_utils"}
    distributions = importlib.metadata.packages_distributions()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {requirement_name(r) for r in project["dependencies"]}
    missing = {
        name: distributions.get(name)
        for name in third_party
        if not {normalise(d) for d in distributions.get(name, [name])} & declared
    }
    assert missing == {}


def test_the_torch_floor_is_a_version_the_readme_says_was_tested():
    # pyproject.toml's floor must be a release that `make compat` ran (README, "Tested with").
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = dict(
        re.fullmatch(r"(torch|torchvision)>=([\d.]+)", requirement).groups()
        for requirement in project["dependencies"]
        if re.match(r"(torch|torchvision)>=", requirement)
    )
    readme = (ROOT / "README.md").read_text()
    tested = re.findall(
        r"^\| (\d+\.\d+)\.\d+ \| (\d+\.\d+)\.\d+[^|]* \|.*\| pass(?:ed)? \|", readme, re.M
    )
    assert (floors["torch"], floors["torchvision"]) in tested
