"""Hold every figure a lesson's prose quotes to the lesson's own committed outputs.

A figure in the prose that depends on a run is written with the name of the output
line it comes from, in an HTML comment that renderers hide::

    the model reached **96.5%**<!-- output: small model validation accuracy -->

and somewhere in the same notebook a cell prints that line, for example with
``record_result("small model validation accuracy", 0.9653)``, which prints
``small model validation accuracy: 0.9653``. A percentage is compared with the value
times 100 (accuracies are recorded as fractions); any other unit with the value
itself. The figure must equal the value within the rounding it shows.

A figure quoted from elsewhere names its source instead: ``<!-- source: URL -->``.

A verdict in words (which arm won, whether a rule kept an option) is quoted the same
way, in bold, with ``says``: ``bfloat16 was **faster in every round**<!-- says:
bfloat16 verdict -->`` must repeat the text after ``bfloat16 verdict: `` on a printed
line, exactly; ``--fix`` rewrites it too. Write the sentence around it so that every
verdict the code can print reads correctly.
Every other number in the prose with a unit that a run decides (%, s, ms, min,
minutes, seconds, MB, GB) is reported as unchecked.

Instructor tooling: ``tests/instructor/test_figures.py`` runs it on every lesson, and
``python -m instructor.figures --fix notebooks/NN_name.ipynb`` rewrites the figures of
a re-executed lesson from its new outputs (then re-read the sentences around them and
run ``jupytext --sync``).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from instructor.runner import STAMP_TAG, write_atomically

__all__ = [
    "Quote",
    "check_figures",
    "main",
    "printed_values",
    "printed_words",
    "quotes",
    "update_figures",
]

_NUMBER = r"\d(?:[\d,]*\d)?(?:\.\d+)?"
# A quoted figure may carry a sign ("+0.6", "-15.2": not after a letter, digit or point, as
# in a range "5-10") and be in e-notation ("1.1e-09"), as Python prints very small numbers.
_SIGN = r"[-+]?"
_FIGURE = rf"(?<![\w.]){_SIGN}{_NUMBER}(?:[eE][-+]?\d+)?"
# A number, its unit (one word, or %, or x as in "25x"), optional bold markers, then the
# comment that says where it is from.
QUOTE = re.compile(
    rf"(?P<figure>{_FIGURE})(?P<unit>%|x\b|\s*[A-Za-z]+)?\**\s*"
    r"<!--\s*(?P<kind>output|source):\s*(?P<name>.*?)\s*-->"
)
# Every output or says comment, so that one that follows no figure (or no bold words) is
# reported, not skipped: a figure split from its unit by a line break and an indent once was.
TAG = re.compile(r"<!--\s*(?P<kind>output|says):\s*(?P<name>.*?)\s*-->", re.DOTALL)
# Units whose figures only a run can give. (A bare "2x" is too often algebra to flag.)
RUN_DEPENDENT = re.compile(rf"(?<![\w.]){_NUMBER}(?:%|\s?(?:ms|s|seconds|min|minutes|MB|GB)\b)")
# Code spans, link targets and HTML comments are not prose.
NOT_PROSE = re.compile(r"`[^`]*`|\]\([^)]*\)|<!--.*?-->", re.DOTALL)
# A verdict in words: bold text, then the comment naming the printed line it repeats.
SAYS = re.compile(r"\*\*(?P<words>[^*]+)\*\*\s*<!--\s*says:\s*(?P<name>.*?)\s*-->", re.DOTALL)
PRINTED = re.compile(
    r"^(?P<name>[^:\n]+): (?P<value>[-+]?[\d,]*\.?\d+(?:e[-+]?\d+)?)", re.MULTILINE
)


@dataclass(frozen=True)
class Quote:
    """One figure quoted in a markdown cell."""

    figure: str
    unit: str
    kind: str
    name: str

    def matches(self, value: float) -> bool:
        """Whether ``value`` (as printed) rounds to this figure at the precision it shows."""
        shown = float(self.figure.replace(",", ""))
        mantissa, _, exponent = self.figure.lower().partition("e")
        decimals = len(mantissa.partition(".")[2]) - int(exponent or 0)
        return abs(value * self.scale - shown) <= 0.5 * 10**-decimals * (1 + 1e-9)

    @property
    def scale(self) -> int:
        """100 for a percentage quoting a fraction (0.965 as 96.5%); 1 otherwise, also for a
        percentage whose output already prints percent (a name ending in "(%)")."""
        in_percent = self.name.rstrip().endswith("(%)")
        return 100 if self.unit.strip() == "%" and not in_percent else 1


def quotes(markdown: str) -> tuple[list[Quote], list[str]]:
    """The annotated figures of ``markdown``, and the run-dependent figures left unannotated."""
    found = [
        Quote(m["figure"], (m["unit"] or "").strip(), m["kind"], m["name"])
        for m in QUOTE.finditer(markdown)
    ]
    prose = NOT_PROSE.sub(" ", QUOTE.sub(" ", markdown))
    return found, [m.group(0).strip() for m in RUN_DEPENDENT.finditer(prose)]


def _printed_text(notebook: nbformat.NotebookNode):
    """The text of each stdout output of the notebook's cells, in order."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                yield output.get("text", "")


def printed_values(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """Every ``name: number`` line the notebook's cells printed (the last one wins)."""
    return {
        match["name"].strip(): float(match["value"].replace(",", ""))
        for text in _printed_text(notebook)
        for match in PRINTED.finditer(text)
    }


def printed_words(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """Every ``name: text`` line the notebook's cells printed, as text (the last one wins)."""
    lines = {}
    for text in _printed_text(notebook):
        for line in text.splitlines():
            name, colon, words = line.partition(": ")
            if colon and name.strip():
                lines[name.strip()] = words.strip()
    return lines


def _said(words: str) -> str:
    """Quoted words as a line would print them: markdown's line breaks are spaces."""
    return " ".join(words.split())


def check_figures(notebook: nbformat.NotebookNode) -> list[str]:
    """Return one line per figure in the prose that its outputs do not back (empty: none)."""
    values = printed_values(notebook)
    lines = printed_words(notebook)
    problems = []
    for cell in notebook.cells:
        # The runner's stamp states the run's own time and memory (instructor.runner.stamp).
        if cell.cell_type != "markdown" or STAMP_TAG in cell.metadata.get("tags", []):
            continue
        for match in SAYS.finditer(cell.source):
            name, words = match["name"], _said(match["words"])
            if name not in lines:
                problems.append(f"'{words}' repeats '{name}', which no cell printed")
            elif words != lines[name]:
                problems.append(f"'{words}' repeats '{name}', but the output says '{lines[name]}'")
        found, unannotated = quotes(cell.source)
        # Each output or says comment must close a figure or bold words that it checks.
        taken = {
            m.start("name") for m in (*QUOTE.finditer(cell.source), *SAYS.finditer(cell.source))
        }
        for tag in TAG.finditer(cell.source):
            if tag.start("name") not in taken:
                problems.append(
                    f"'<!-- {tag['kind']}: {tag['name']} -->' follows no figure or bold "
                    "words it could check: put the figure (or **words**) right before it"
                )
        for figure in unannotated:
            problems.append(
                f"'{figure}' depends on a run but names no output: add <!-- output: NAME -->"
            )
        for quote in found:
            spacing = "" if quote.unit in ("", "%", "x") else " "
            text = f"{quote.figure}{spacing}{quote.unit}"
            if quote.kind == "source":
                if not quote.name:
                    problems.append(f"'{text}' names an empty source")
                continue
            if quote.name not in values:
                problems.append(f"'{text}' quotes '{quote.name}', which no cell printed")
            elif not quote.matches(values[quote.name]):
                problems.append(
                    f"'{text}' quotes '{quote.name}', but the output says {values[quote.name]:g}"
                )
    return problems


def _rewritten(match: re.Match, values: dict[str, float], changes: list[str]) -> str:
    quote = Quote(match["figure"], (match["unit"] or "").strip(), match["kind"], match["name"])
    if quote.kind != "output" or quote.name not in values or quote.matches(values[quote.name]):
        return match.group(0)
    value = values[quote.name] * quote.scale
    mantissa, e, _ = quote.figure.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    sign = "+" if quote.figure.startswith("+") else ""  # keep a written plus sign
    figure = f"{value:{sign}{',' if ',' in quote.figure else ''}.{decimals}{e or 'f'}}"
    changes.append(f"'{quote.figure}' -> '{figure}' ({quote.name})")
    return match.group(0).replace(quote.figure, figure, 1)


def update_figures(notebook: nbformat.NotebookNode) -> list[str]:
    """Rewrite, in place, each quoted figure that its output contradicts; return the changes.

    A figure keeps the precision it shows. Only the number changes: read the sentence
    around it again, since the words may no longer fit the new figure.
    """
    values = printed_values(notebook)
    lines = printed_words(notebook)
    changes: list[str] = []

    def reworded(match: re.Match) -> str:
        name, words = match["name"], _said(match["words"])
        if name not in lines or words == lines[name]:
            return match.group(0)
        changes.append(f"'{words}' -> '{lines[name]}' ({name})")
        return match.group(0).replace(match["words"], lines[name], 1)

    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = QUOTE.sub(lambda match: _rewritten(match, values, changes), cell.source)
            cell.source = SAYS.sub(reworded, cell.source)
    return changes


def main(argv: list[str] | None = None) -> int:
    """``python -m instructor.figures [--fix] NOTEBOOK...``: report (or fix) quoted figures."""
    parser = argparse.ArgumentParser(prog="python -m instructor.figures", description=__doc__)
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--fix", action="store_true", help="rewrite figures from the outputs")
    args = parser.parse_args(argv)
    problems = 0
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        if args.fix:
            for change in update_figures(notebook):
                print(f"{path}: {change}")
            write_atomically(notebook, Path(path))
        for problem in check_figures(notebook):
            problems += 1
            print(f"{path}: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
