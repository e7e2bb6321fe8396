"""Recording each lesson's headline figures for ``make run``'s summary table."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["record_result", "format_result"]

RESULTS_ENV = "COURSE_RESULTS_FILE"


def format_result(
    name: str, value: float | int | str | bool, unit: str = "", separator: str = " = "
) -> str:
    """Return ``name``, ``value`` (floats to 4 significant digits) and ``unit`` as one line."""
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{name}{separator}{shown}{(' ' + unit) if unit else ''}"


def record_result(name: str, value: float | int | str | bool, unit: str = "") -> None:
    """Print a headline figure of the lesson (returns nothing, so a cell shows it once).

    When ``COURSE_RESULTS_FILE`` is set (``make run`` sets it), the figure is also
    appended to that file as one JSON line, which the course runner reads to
    build its summary table. Introduced in lesson 01.
    """
    if not name:
        raise ValueError("a result needs a name")
    if not isinstance(value, (bool, int, float, str)):
        raise TypeError(f"record_result takes a number, string or bool, got {type(value).__name__}")
    print(format_result(name, value, unit, separator=": "))
    results_file = os.environ.get(RESULTS_ENV)
    if results_file:
        with open(Path(results_file), "a", encoding="utf-8") as out:
            out.write(json.dumps({"name": name, "value": value, "unit": unit}) + "\n")
