"""Quick checks of the course website's configuration (the browser test is test_site.py)."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import ROOT


def course() -> dict[str, str]:
    with open(ROOT / "site" / "course.toml", "rb") as config:
        return tomllib.load(config)


def test_the_site_links_the_repository_that_the_readme_names():
    repository, branch = course()["repository"], course()["branch"]
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", repository)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"colab.research.google.com/github/{repository}/blob/{branch}/notebooks/" in readme


def test_the_site_tools_are_pinned_apart_from_the_lessons_environment():
    lines = (ROOT / "site" / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    names = {line.split("==")[0].lower() for line in requirements}
    assert {"sphinx", "myst-nb", "sphinx-book-theme", "sphinx-mathjax-offline"} <= names
    assert [line for line in requirements if not re.fullmatch(r"[\w.-]+==[\w.]+", line)] == []


def test_the_pages_workflow_publishes_what_make_site_builds():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    build = workflow["jobs"]["build"]["steps"]
    assert [step["run"] for step in build if "run" in step] == ["make site"]
    upload = next(step for step in build if "upload-pages-artifact" in step.get("uses", ""))
    assert upload["with"]["path"] == "build/site"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any("deploy-pages" in step.get("uses", "") for step in deploy["steps"])
    python = next(step for step in build if "setup-python" in step.get("uses", ""))
    floor = re.search(r'requires-python = ">=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert python["with"]["python-version"] == floor.group(1)


def test_make_site_builds_from_the_committed_notebooks_without_executing_them():
    conf = (ROOT / "site" / "conf.py").read_text()
    assert 'nb_execution_mode = "off"' in conf
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^site: .*\$\(SITE_STAMP\)", makefile, re.MULTILINE)
    assert "-W --keep-going" in makefile
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make test") < ci.index("make site")
