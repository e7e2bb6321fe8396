"""Run every lesson on this machine's accelerator and write one table: ``make device-check``.

Instructor tooling; no lesson imports it. Each lesson runs top to bottom at full size
(``--smoke``: the quick run CI uses on a CPU) on the device the lessons pick
(``get_default_device``: CUDA, then Apple MPS, then the CPU), through the same runner
as ``make run``. One cell is added at the end of each executed copy, never to the
lesson itself: it records the device's name and its peak memory, read in the lesson's
own kernel. The table (``build/device-check/RESULTS.md``) has the device, the PyTorch
version and the date, then per lesson its time, peak host memory, peak device memory
and headline figures: ready to paste into ``benchmarks/RESULTS.md``.

Peak device memory is what PyTorch's allocator held in the notebook's own process
(``torch.cuda.max_memory_allocated``); lesson 06's torchrun workers are other processes
and are not counted. Apple's MPS reports only the memory held at the end.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

from course_utils.report import format_result
from instructor.runner import DEFAULT_CELL_TIMEOUT, LessonRun, run_notebook
from instructor.runner import ROOT as RUNNER_ROOT

DEVICE_CELL = """\
# Added by instructor/device_check.py to the executed copy only: the device and its memory.
import platform as _platform

import torch as _torch

from course_utils.device import get_default_device as _get_default_device
from course_utils.report import record_result as _record

_device = _get_default_device()
if _device.type == "cuda":
    _record("device name", _torch.cuda.get_device_name(_device))
    _record("peak device memory (MB)", round(_torch.cuda.max_memory_allocated(_device) / 2**20))
elif _device.type == "mps":
    _record("device name", f"Apple MPS ({_platform.machine()})")
    _record("device memory at the end (MB)", round(_torch.mps.driver_allocated_memory() / 2**20))
else:
    _cpu = _platform.processor() or _platform.machine()
    try:  # Linux names the processor model here
        with open("/proc/cpuinfo") as _info:
            _cpu = next(l.split(":", 1)[1].strip() for l in _info if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    _record("device name", f"CPU ({_cpu}, {_torch.get_num_threads()} threads)")
_record("PyTorch", _torch.__version__)
"""

DEVICE_FIGURES = ("device name", "peak device memory (MB)", "device memory at the end (MB)")


def with_device_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with the device cell appended."""
    copy = nbformat.from_dict(notebook)
    copy.cells.append(nbformat.v4.new_code_cell(DEVICE_CELL))
    return copy


def _figure(run: LessonRun, name: str) -> str:
    for result in run.results:
        if result["name"] == name:
            return str(result["value"])
    return "-"


def format_device_table(runs: Sequence[LessonRun], smoke: bool) -> str:
    """The Markdown table of ``runs``: a heading line, then one row per lesson."""
    devices = sorted({_figure(run, "device name") for run in runs} - {"-"})
    versions = sorted({_figure(run, "PyTorch") for run in runs} - {"-"})
    heading = (
        f"Device: {', '.join(devices) or 'unknown'}; PyTorch {', '.join(versions) or '?'}; "
        f"{'smoke mode' if smoke else 'full size'}; {datetime.date.today().isoformat()}"
    )
    rows = [
        heading,
        "",
        "| lesson | status | seconds | peak host memory (MB, PSS) | peak device memory (MB) "
        "| headline figures |",
        "|---|---|---:|---:|---:|---|",
    ]
    for run in runs:
        device_memory = _figure(run, "peak device memory (MB)")
        if device_memory == "-":
            device_memory = _figure(run, "device memory at the end (MB)")
        figures = "; ".join(
            format_result(result["name"], result["value"], result.get("unit", ""))
            for result in run.results
            if result["name"] not in (*DEVICE_FIGURES, "PyTorch")
        )
        status = "ok" if run.ok else f"FAILED: {run.error}"
        rows.append(
            f"| {run.lesson} | {status} | {run.seconds:.1f} | {run.peak_mb:.0f} | "
            f"{device_memory} | {figures or '-'} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=RUNNER_ROOT / "build" / "device-check")
    parser.add_argument("--smoke", action="store_true", help="the quick run CI uses")
    parser.add_argument(
        "--timeout", type=int, default=DEFAULT_CELL_TIMEOUT, help="seconds per cell (0: none)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for source in args.notebooks:
        notebook = with_device_cell(nbformat.read(source, as_version=4))
        run = run_notebook(
            source,
            args.out / source.name,
            smoke=args.smoke,
            timeout=args.timeout or None,
            notebook=notebook,
        )
        print(f"{run.lesson}: {'ok' if run.ok else 'FAILED'} in {run.seconds:.1f} s", flush=True)
        runs.append(run)
    table = format_device_table(runs, args.smoke)
    (args.out / "RESULTS.md").write_text(table + "\n")
    print("\n" + table + f"\n\nTable and executed copies in {args.out}/")
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
