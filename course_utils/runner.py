"""Execute lesson notebooks top to bottom and summarise what each reached.

Used by ``make run`` (full size, into ``build/run/``) and by instructors
(``--in-place`` refreshes the committed outputs); not by a lesson. For each
notebook it prints a progress bar over its cells, then a table: lesson, status,
seconds, peak memory of the kernel (with any worker processes) and the headline
figures the lesson recorded with ``course_utils.report.record_result``.
A failing notebook is saved with its outputs up to the error, and the run goes
on with the next lesson.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm.auto import tqdm

from .report import RESULTS_ENV, format_result

__all__ = ["LessonRun", "run_notebook", "inputs_hash", "format_table", "main"]

HASH_KEY = "course_inputs_sha256"
# Instructor tools that no lesson imports: editing them changes no lesson output.
TOOL_MODULES = {"runner.py", "student.py"}


@dataclass
class LessonRun:
    """What executing one lesson notebook reached."""

    lesson: str
    ok: bool
    seconds: float
    peak_mb: float
    results: list[dict] = field(default_factory=list)
    error: str = ""
    output: Path | None = None


class PeakMemory:
    """Sample, in a thread, the summed RSS of this process's children (the kernel and its workers)."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass  # a worker that just exited
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def inputs_hash(notebook: nbformat.NotebookNode) -> str:
    """SHA-256 of what decides a notebook's outputs: its code cells' sources and tags, and
    the source of every ``course_utils`` module a lesson may import (text edits and the
    instructor tools change nothing)."""
    digest = hashlib.sha256()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(json.dumps([cell.source, cell.metadata.get("tags", [])]).encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        if module.name in TOOL_MODULES:
            continue
        digest.update(module.name.encode() + module.read_bytes())
    return digest.hexdigest()


def run_notebook(
    source: Path,
    output: Path,
    smoke: bool = False,
    timeout: int | None = None,
    show_progress: bool = True,
) -> LessonRun:
    """Execute ``source`` in its own folder, write the executed copy to ``output``.

    Returns a ``LessonRun``. ``output`` may equal ``source`` (refresh in place).
    """
    notebook = nbformat.read(source, as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    with tempfile.TemporaryDirectory() as scratch:
        results_file = Path(scratch) / "results.jsonl"
        env = dict(os.environ)
        env.update({RESULTS_ENV: str(results_file), "TQDM_DISABLE": "1", "COURSE_SMOKE": "1" if smoke else "0"})
        progress = tqdm(total=code_cells, desc=source.stem, unit="cell", disable=not show_progress, leave=False)
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(source.parent.resolve())}},
            record_timing=False,
            on_cell_executed=lambda cell, **_: progress.update() if cell.cell_type == "code" else None,
        )
        error = ""
        start = time.perf_counter()
        with PeakMemory() as memory:
            try:
                client.execute(env=env)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as failure:
                error = _first_line(failure)
        seconds = time.perf_counter() - start
        progress.close()
        results = [json.loads(line) for line in results_file.read_text().splitlines()] if results_file.exists() else []
    if not error:
        notebook.metadata[HASH_KEY] = inputs_hash(notebook)
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output)
    return LessonRun(source.stem, not error, seconds, memory.peak_bytes / 2**20, results, error, output)


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(failure: Exception) -> str:
    """The line of a traceback that names the error, without terminal colours."""
    lines = [line for line in _ANSI_ESCAPE.sub("", str(failure)).splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line.strip()[:200]
    return (lines[-1] if lines else type(failure).__name__)[:200]


def format_table(runs: Sequence[LessonRun]) -> str:
    """Return the summary table (Markdown) of ``runs``."""
    rows = ["| lesson | status | seconds | peak memory (MB) | headline figures |", "|---|---|---:|---:|---|"]
    for run in runs:
        status = "ok" if run.ok else f"FAILED: {run.error}"
        figures = "; ".join(format_result(r["name"], r["value"], r.get("unit", "")) for r in run.results) or "-"
        rows.append(f"| {run.lesson} | {status} | {run.seconds:.1f} | {run.peak_mb:.0f} | {figures} |")
    return "\n".join(rows)


def _unchanged(source: Path) -> bool:
    notebook = nbformat.read(source, as_version=4)
    return notebook.metadata.get(HASH_KEY) == inputs_hash(notebook)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build/run"), help="folder for the executed copies")
    parser.add_argument("--in-place", action="store_true", help="overwrite each notebook with its executed copy")
    parser.add_argument("--smoke", action="store_true", help="run in smoke mode (COURSE_SMOKE=1)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell")
    parser.add_argument(
        "--changed-only", action="store_true",
        help="skip notebooks whose inputs (and course_utils) are unchanged since their last successful run",
    )
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.notebooks if not path.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")

    runs = []
    for source in args.notebooks:
        if args.changed_only and _unchanged(source):
            print(f"{source.stem}: unchanged since its last run, not re-executed")
            continue
        output = source if args.in_place else args.out / source.name
        run = run_notebook(source, output, smoke=args.smoke, timeout=args.timeout)
        print(f"{run.lesson}: {'ok' if run.ok else 'FAILED'} in {run.seconds:.1f} s, peak {run.peak_mb:.0f} MB -> {run.output}", flush=True)
        runs.append(run)
    if not runs:
        return 0
    table = format_table(runs)
    print("\n" + table)
    if not args.in_place:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "summary.md").write_text(table + "\n")
        print(f"\nExecuted notebooks and summary.md are in {args.out}/")
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
