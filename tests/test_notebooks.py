"""Static checks of the lessons: pairs in sync, no pasted helpers, clean committed outputs.

Executing the notebooks is nbval's job (``make test`` passes ``--nbval-lax``).
"""

import ast
import base64
import importlib
import pkgutil
import re

import jupytext
import nbformat
import pytest
from conftest import LESSON_NOTEBOOKS, LESSON_SCRIPTS, PAGES_WITHOUT_EXERCISES, ROOT

import course_utils
from course_utils import plotting

IDS = [path.stem for path in LESSON_NOTEBOOKS]


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def helper_names() -> set[str]:
    """Every public name of every course_utils module."""
    names = set(course_utils.__all__)
    for module_info in pkgutil.iter_modules(course_utils.__path__):
        module = importlib.import_module(f"course_utils.{module_info.name}")
        names |= set(getattr(module, "__all__", []))
    return names


def test_every_lesson_has_both_halves_of_its_pair():
    assert LESSON_NOTEBOOKS, "no lesson notebooks found"
    assert [p.stem for p in LESSON_NOTEBOOKS] == [p.stem for p in LESSON_SCRIPTS]


@pytest.mark.parametrize("notebook_path", LESSON_NOTEBOOKS, ids=IDS)
def test_notebook_and_its_py_twin_are_in_sync(notebook_path):
    from_notebook = jupytext.read(notebook_path)
    from_script = jupytext.read(notebook_path.with_suffix(".py"))
    assert len(from_notebook.cells) == len(from_script.cells), (
        "the pair has a different number of cells: run `jupytext --sync`"
    )
    for notebook_cell, script_cell in zip(from_notebook.cells, from_script.cells, strict=True):
        assert notebook_cell.cell_type == script_cell.cell_type
        assert notebook_cell.source == script_cell.source, (
            f"cell differs: run `jupytext --sync`\n{script_cell.source[:200]}"
        )
        assert notebook_cell.metadata.get("tags", []) == script_cell.metadata.get("tags", [])


@pytest.mark.parametrize("script_path", LESSON_SCRIPTS, ids=[p.stem for p in LESSON_SCRIPTS])
def test_lessons_do_not_redefine_course_utils_helpers(script_path):
    tree = ast.parse(jupytext.writes(jupytext.read(script_path), fmt="py:percent"))
    defined = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
    }
    assigned = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Lambda)
    }
    clashes = (defined | assigned) & helper_names()
    assert not clashes, (
        f"{script_path.name} defines {sorted(clashes)}, which course_utils provides: "
        "import it instead"
    )


def test_the_redefinition_check_catches_a_pasted_helper(tmp_path):
    pasted = tmp_path / "99_pasted.py"
    pasted.write_text("# %%\ndef to_device(data, device):\n    return data.to(device)\n")
    with pytest.raises(AssertionError, match="to_device"):
        test_lessons_do_not_redefine_course_utils_helpers(pasted)


@pytest.mark.parametrize("notebook_path", LESSON_NOTEBOOKS, ids=IDS)
def test_committed_outputs_are_complete_and_clean(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    for cell in code_cells(notebook):
        assert cell.execution_count is not None, (
            f"unexecuted cell (run `make solutions`): {cell.source[:80]}"
        )
        for output in cell.outputs:
            assert output.output_type != "error", f"committed error in: {cell.source[:80]}"
            text = output.get("text", "")
            assert not (output.output_type == "stream" and output.name == "stderr"), (
                f"stderr output: {text[:200]}"
            )
            assert "Warning" not in text, f"warning in output: {text[:200]}"


@pytest.mark.parametrize("notebook_path", LESSON_NOTEBOOKS, ids=IDS)
def test_lesson_structure(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    sources = [cell.source for cell in notebook.cells]
    text = "\n".join(sources)
    assert "By the end of this lesson you can" in sources[0]
    assert any('"google.colab" in sys.modules' in source for source in sources[:3]), (
        "first code cell must install on Colab only"
    )
    assert any("Settings." in source for source in sources), (
        "a settings cell saying what smoke mode changes"
    )
    assert "## Summary" in text
    if notebook_path.stem in PAGES_WITHOUT_EXERCISES:  # the troubleshooting page
        assert "## Exercises" not in text and "### BEGIN SOLUTION" not in text
    else:
        assert "## Exercises" in text
        assert text.count("### BEGIN SOLUTION") == text.count("### END SOLUTION") >= 2
    assert "record_result(" in text, "the lesson records its headline figures for `make run`"
    tagged = [
        cell
        for cell in code_cells(notebook)
        if "nbval-check-output" in cell.metadata.get("tags", [])
    ]
    assert len(tagged) >= 5, "deterministic cells carry the nbval-check-output tag"


@pytest.mark.parametrize("notebook_path", LESSON_NOTEBOOKS, ids=IDS)
def test_badges_point_at_this_notebook(notebook_path):
    first_cell = nbformat.read(notebook_path, as_version=4).cells[0].source
    # a badge is [![alt](image)](link): the link follows ")]("
    links = re.findall(
        r"\)\]\((https://(?:colab\.research\.google\.com|mybinder\.org)[^)]+)\)", first_cell
    )
    assert len(links) == 2
    for link in links:
        assert link.endswith(f"notebooks/{notebook_path.name}"), link


def test_every_readme_link_and_badge_points_at_an_existing_file():
    readme = (ROOT / "README.md").read_text()
    local = re.findall(r"\]\(((?:notebooks|student|benchmarks)/[^)#]*)\)", readme)
    remote = re.findall(
        r"\)\]\(https://(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh)/[^)]*?(notebooks/[\w.]+\.ipynb)\)",
        readme,
    )
    assert len(remote) == 2 * len(LESSON_NOTEBOOKS), "a Colab and a Binder badge per lesson"
    missing = [path for path in local + remote if not (ROOT / path).exists()]
    assert missing == []


PROGRESS_TEXT = re.compile(r"\d+%\|.*\|\s*\d+/\d+")
# An absolute path of the machine that ran the lesson: /home/..., /tmp/..., C:\...
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:home|root|tmp|work|Users|var|opt|mnt)/|[A-Z]:\\\\")
MAX_PNG_BYTES = 100_000


def output_texts(output) -> list[str]:
    texts = [output.get("text", "")]
    texts += [value for key, value in output.get("data", {}).items() if key.startswith("text/")]
    return [text if isinstance(text, str) else "".join(text) for text in texts]


@pytest.mark.parametrize("notebook_path", LESSON_NOTEBOOKS, ids=IDS)
def test_committed_outputs_hold_no_progress_bars_widgets_or_machine_paths(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    assert "widgets" not in notebook.metadata, "widget state saved: re-run with `make solutions`"
    for cell in code_cells(notebook):
        for output in cell.outputs:
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {})
            for text in output_texts(output):
                assert not PROGRESS_TEXT.search(text), f"progress bar in output: {text[:120]}"
                assert not ABSOLUTE_PATH.search(text), f"a path of this machine: {text[:200]}"


@pytest.mark.parametrize("notebook_path", LESSON_NOTEBOOKS, ids=IDS)
def test_committed_figures_are_small(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    for cell in code_cells(notebook):
        for output in cell.outputs:
            png = output.get("data", {}).get("image/png")
            if png:
                size = len(base64.b64decode(png))
                assert size < MAX_PNG_BYTES, f"{size:,}-byte figure from: {cell.source[:80]}"


# A statement at a cell's top level that draws: one of course_utils.plotting's drawing
# helpers, or plt.show(). A helper returns its figure, so a line after it in the same cell
# leaves the figure undisplayed (lesson 05 lost one that way).
DRAWING_HELPERS = [name for name in plotting.__all__ if name.startswith(("plot_", "show_"))]
DRAWS = re.compile(rf"^(?:{'|'.join(DRAWING_HELPERS)}|plt\.show)\(", re.MULTILINE)


def cells_that_draw_nothing(notebook) -> list[str]:
    """The source of each code cell with a top-level drawing call but no image output."""
    return [
        cell.source[:80]
        for cell in code_cells(notebook)
        if DRAWS.search(cell.source)
        and not any("image/png" in output.get("data", {}) for output in cell.outputs)
    ]


@pytest.mark.parametrize("notebook_path", LESSON_NOTEBOOKS, ids=IDS)
def test_every_cell_that_draws_shows_its_figure(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    assert cells_that_draw_nothing(notebook) == []


def test_a_figure_hidden_by_a_later_line_is_caught():
    drawn = nbformat.v4.new_code_cell('plot_lrs(history, title="schedule")')
    drawn.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})]
    hidden = nbformat.v4.new_code_cell('plot_lrs(history, title="schedule")\nprint("checked")')
    hidden.outputs = [nbformat.v4.new_output("stream", text="checked\n")]
    notebook = nbformat.v4.new_notebook(cells=[drawn, hidden])
    assert cells_that_draw_nothing(notebook) == [hidden.source[:80]]


def test_the_clean_output_checks_catch_what_they_look_for():
    assert PROGRESS_TEXT.search("Training:   0%|          | 0/2346 [00:00<?, ?it/s]")
    assert ABSOLUTE_PATH.search("Dataset ImageFolder\n    Root location: /work/main/data/cifar10")
    assert ABSOLUTE_PATH.search("saved to /tmp/lesson03-x1/resume.pt")
    assert not ABSOLUTE_PATH.search("1/2 of the images, 3/4 done, cifar10/train/cat")
