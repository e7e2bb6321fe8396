"""Figures quoted in the lessons' prose agree with the lessons' committed outputs."""

import copy
import re

import nbformat
import pytest
from conftest import LESSON_NOTEBOOKS
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from instructor.figures import Quote, check_figures, main, printed_values, quotes, update_figures
from instructor.runner import stamp


def notebook_with(markdown: str, printed: str) -> nbformat.NotebookNode:
    cell = new_code_cell("...")
    cell.outputs = [new_output("stream", name="stdout", text=printed)]
    return new_notebook(cells=[cell, new_markdown_cell(markdown)])


@pytest.mark.parametrize(
    "figure, unit, value, ok",
    [
        ("96.5", "%", 0.9653, True),
        ("96.5", "%", 0.9646, True),
        ("96.5", "%", 0.9644, False),
        ("97", "%", 0.9653, True),
        ("82", "s", 82.4, True),
        ("82", "s", 82.6, False),
        ("8.6", "billion", 8.59, True),
        ("25.4", "x", 25.38, True),
        ("1,374", "MB", 1374.0, True),
        ("1.1e-09", "", 1.14e-09, True),
        ("1.1e-09", "", 1.16e-09, False),
        ("1.1e-09", "", 1.1e-08, False),
        ("2.9e-13", "", 1.1e-13, False),
        ("1.1E-09", "", 1.1e-09, True),
        ("-15.2", "", -15.2, True),
        ("+0.6", "", 0.6, True),
        ("-0.6", "", 0.6, False),
    ],
)
def test_a_figure_matches_within_the_rounding_it_shows(figure, unit, value, ok):
    assert Quote(figure, unit, "output", "name").matches(value) is ok


def test_quotes_finds_annotated_figures_and_flags_the_rest():
    markdown = (
        "reached **96.5%**<!-- output: val acc --> after 82 s<!-- output: seconds -->; "
        "about 90%<!-- source: https://example.org --> elsewhere, but 54% here, "
        "`0.5 s` in code and [a link](https://x.org/12s) do not count; 7.4 s does."
    )
    found, unannotated = quotes(markdown)
    assert [(q.figure, q.unit, q.kind, q.name) for q in found] == [
        ("96.5", "%", "output", "val acc"),
        ("82", "s", "output", "seconds"),
        ("90", "%", "source", "https://example.org"),
    ]
    assert unannotated == ["54%", "7.4 s"]


def test_printed_values_reads_name_value_lines():
    notebook = notebook_with(
        "", "small CNN test accuracy: 0.7048\nnoise\nspeed-up: 25.4 x\ngain: +0.8\nratio: 1.1e-09\n"
    )
    assert printed_values(notebook) == {
        "small CNN test accuracy": 0.7048,
        "speed-up": 25.4,
        "gain": 0.8,
        "ratio": 1.1e-09,
    }


def test_check_figures_reports_drift_missing_outputs_and_unannotated_figures():
    notebook = notebook_with(
        "It reached **97.0%**<!-- output: acc -->, took 3 s<!-- output: time -->, "
        "and 12% of something.",
        "acc: 0.9653\n",
    )
    assert check_figures(notebook) == [
        "'12%' depends on a run but names no output: add <!-- output: NAME -->",
        "'97.0%' quotes 'acc', but the output says 0.9653",
        "'3 s' quotes 'time', which no cell printed",
    ]


def test_the_runners_stamp_is_the_runs_own_record_and_is_not_checked():
    notebook = notebook_with("It took 3 s.", "")
    stamp(
        notebook,
        {"date": "2026-12-02", "torch": "2.14.1", "device": "CPU (x, 2 threads)"}
        | {"seconds": 81.2, "peak_mb": 1395, "smoke": False},
    )
    assert "81 s" in notebook.cells[1].source
    assert check_figures(notebook) == [
        "'3 s' depends on a run but names no output: add <!-- output: NAME -->"
    ]


@pytest.mark.parametrize("lesson", LESSON_NOTEBOOKS, ids=[path.stem for path in LESSON_NOTEBOOKS])
def test_every_figure_in_a_lesson_matches_its_outputs(lesson):
    assert check_figures(nbformat.read(lesson, as_version=4)) == []


def mutate_first_quoted_figure(notebook: nbformat.NotebookNode) -> tuple[str, str]:
    """Change the last digit of the first figure quoted from an output; return (before, after)."""
    for cell in notebook.cells:
        match = cell.cell_type == "markdown" and re.search(
            r"(\d[\d,.]*)(?=%?\**\s*<!--\s*output:)", cell.source
        )
        if match:
            before = match.group(1)
            after = before[:-1] + str((int(before[-1]) + 3) % 10)
            cell.source = cell.source[: match.start(1)] + after + cell.source[match.end(1) :]
            return before, after
    raise AssertionError("no quoted figure to mutate")


@pytest.mark.parametrize(
    "lesson", LESSON_NOTEBOOKS[2:], ids=[path.stem for path in LESSON_NOTEBOOKS[2:]]
)
def test_editing_a_quoted_figure_in_a_copy_of_a_lesson_fails_the_check(lesson, tmp_path):
    copied = tmp_path / lesson.name
    copied.write_bytes(lesson.read_bytes())
    notebook = nbformat.read(copied, as_version=4)
    original = copy.deepcopy(notebook)
    before, after = mutate_first_quoted_figure(notebook)
    nbformat.write(notebook, copied)
    problems = check_figures(nbformat.read(copied, as_version=4))
    assert check_figures(original) == []
    assert len(problems) == 1 and f"'{after}" in problems[0], (before, after, problems)


def test_update_figures_rewrites_only_contradicted_figures_at_their_precision():
    notebook = notebook_with(
        "reached **97.0%**<!-- output: acc --> in 3 s<!-- output: time --> "
        "over 1,204<!-- output: count --> images, as 96.5%<!-- output: acc --> rounds",
        "acc: 0.9653\ntime: 12.6\ncount: 1250\n",
    )
    changes = update_figures(notebook)
    assert notebook.cells[1].source == (
        "reached **96.5%**<!-- output: acc --> in 13 s<!-- output: time --> "
        "over 1,250<!-- output: count --> images, as 96.5%<!-- output: acc --> rounds"
    )
    assert changes == ["'97.0' -> '96.5' (acc)", "'3' -> '13' (time)", "'1,204' -> '1,250' (count)"]
    assert check_figures(notebook) == []


def test_a_percentage_of_an_output_printed_in_percent_is_not_scaled_again():
    # An output whose name ends in "(%)" prints 38.75 for 38.75%; --fix once wrote 3875.00%.
    notebook = notebook_with(
        "averaged 38.73%<!-- output: mean (%) --> and 97.0%<!-- output: acc -->",
        "mean (%): 38.75\nacc: 0.9653\n",
    )
    assert update_figures(notebook) == ["'38.73' -> '38.75' (mean (%))", "'97.0' -> '96.5' (acc)"]
    assert notebook.cells[1].source == (
        "averaged 38.75%<!-- output: mean (%) --> and 96.5%<!-- output: acc -->"
    )
    assert check_figures(notebook) == []


def test_signed_figures_are_read_with_their_sign_and_a_range_is_not_a_sign():
    notebook = notebook_with(
        "changes of **-15.2**<!-- output: change --> and **+0.6**<!-- output: gain --> "
        "points, over seeds 5-10<!-- output: last seed -->",
        "change: -15.2\ngain: +0.4\nlast seed: 10\n",
    )
    assert check_figures(notebook) == ["'+0.6' quotes 'gain', but the output says 0.4"]
    assert update_figures(notebook) == ["'+0.6' -> '+0.4' (gain)"]


def test_update_figures_rewrites_a_figure_in_e_notation_whole():
    notebook = notebook_with("a ratio of **2.9e-10**<!-- output: ratio -->", "ratio: 1.1e-09\n")
    assert check_figures(notebook) == ["'2.9e-10' quotes 'ratio', but the output says 1.1e-09"]
    assert update_figures(notebook) == ["'2.9e-10' -> '1.1e-09' (ratio)"]
    assert notebook.cells[1].source == "a ratio of **1.1e-09**<!-- output: ratio -->"


def test_the_figures_command_reports_and_fixes(tmp_path, capsys):
    path = tmp_path / "01_demo.ipynb"
    nbformat.write(notebook_with("**97.0%**<!-- output: acc -->", "acc: 0.9653\n"), path)
    assert main([str(path)]) == 1
    assert "'97.0%' quotes 'acc', but the output says 0.9653" in capsys.readouterr().out
    assert main(["--fix", str(path)]) == 0
    assert "**96.5%**" in nbformat.read(path, as_version=4).cells[1].source


def test_a_verdict_in_words_must_repeat_its_printed_line_and_fix_rewrites_it():
    printed = "bfloat16 verdict: faster in every round\nsaving verdict: none\n"
    notebook = notebook_with(
        "bfloat16 was **faster in\nevery round**<!-- says: bfloat16 verdict -->; compiling "
        "saved **a little**<!-- says: saving verdict -->, and **tied**<!-- says: nothing -->",
        printed,
    )
    assert check_figures(notebook) == [
        "'a little' repeats 'saving verdict', but the output says 'none'",
        "'tied' repeats 'nothing', which no cell printed",
    ]
    assert update_figures(notebook) == ["'a little' -> 'none' (saving verdict)"]
    assert "saved **none**<!-- says: saving verdict -->" in notebook.cells[1].source
    assert check_figures(notebook) == ["'tied' repeats 'nothing', which no cell printed"]


def test_a_figure_split_from_its_unit_by_a_line_break_and_an_indent_is_checked_and_fixed():
    # A bullet's second line is indented: "**29.9\n  billion**" once went unchecked, and a
    # lesson's Summary kept an old run's figure.
    notebook = notebook_with(
        "- ran at **29.9\n  billion**<!-- output: rate --> a second", "rate: 30.1\n"
    )
    assert check_figures(notebook) == ["'29.9 billion' quotes 'rate', but the output says 30.1"]
    assert update_figures(notebook) == ["'29.9' -> '30.1' (rate)"]
    assert check_figures(notebook) == []


def test_an_output_or_says_tag_that_follows_nothing_it_can_check_is_reported():
    notebook = notebook_with(
        "about a third<!-- output: share -->, and so<!-- says: verdict -->; a claim"
        "<!-- source: a paper -->",
        "share: 0.33\nverdict: so\n",
    )
    assert check_figures(notebook) == [
        "'<!-- output: share -->' follows no figure or bold words it could check: put the "
        "figure (or **words**) right before it",
        "'<!-- says: verdict -->' follows no figure or bold words it could check: put the "
        "figure (or **words**) right before it",
    ]


def test_an_orphan_tag_is_reported_beside_a_sourced_figure_too():
    # The count of figures once included sourced ones, which hid an orphan in their cell.
    notebook = notebook_with(
        "took 2.3 ms<!-- source: a paper --> and about a third<!-- output: share -->",
        "share: 0.33\n",
    )
    assert check_figures(notebook) == [
        "'<!-- output: share -->' follows no figure or bold words it could check: put the "
        "figure (or **words**) right before it"
    ]
