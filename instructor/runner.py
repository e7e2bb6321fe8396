"""Execute lesson notebooks top to bottom and summarise what each reached.

Behind ``make run`` (full size, into ``build/run/``) and ``make solutions``
(``--in-place`` refreshes the committed outputs). For each notebook it prints a
progress bar over its cells, then a table: lesson, status, seconds, peak memory (PSS) of
the kernel (with any worker processes) and the headline figures the lesson recorded
with ``course_utils.report.record_result``. A failing notebook is saved with its
outputs up to the error, and the run goes on with the next lesson.

A lesson that runs to the end gets a "last verified" stamp, a markdown cell under its
title (tagged ``last-verified``) that says when it ran, on which PyTorch and device, for
how long and with what peak memory; ``--in-place`` writes the same cell into the paired
jupytext ``.py``. The stamp is written only here, from the run that made the outputs, so
it cannot drift from them; a failed run removes it.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm.auto import tqdm
from traitlets.config import Config

from course_utils.report import RESULTS_ENV, format_result
from course_utils.settings import SMOKE_ENV, smoke_mode

__all__ = [
    "DEFAULT_CELL_TIMEOUT",
    "HASH_KEY",
    "STAMP_TAG",
    "LessonRun",
    "format_table",
    "inputs_hash",
    "lesson_modules",
    "main",
    "run_notebook",
    "stamp",
    "strip_progress_bars",
    "write_atomically",
]

ROOT = Path(__file__).resolve().parents[1]
HASH_KEY = "course_inputs_sha256"
# What, besides a lesson's own code, decides its outputs: the helpers it imports and
# the exact versions of everything installed.
PACKAGE = "course_utils"
# Stands for every name the package offers (``import course_utils``; ``import *``).
EVERY_NAME = "*"
LESSON_MODULES = ROOT / PACKAGE
CONSTRAINTS = ROOT / "constraints.txt"
# Scripts a lesson runs in other processes (lesson 06's torchrun scripts).
LESSON_SCRIPTS = ROOT / "notebooks" / "scripts"
# The longest cell of a lesson (lesson 05's ResNet training) takes about 5 minutes on
# 2 CPU cores; three times that means something is stuck.
DEFAULT_CELL_TIMEOUT = 900
# The "last verified" stamp: its cell's tag, and its facts in the notebook's metadata.
STAMP_TAG = "last-verified"
STAMP_KEY = "course_last_verified"
# What the lessons ran on, asked in a process of its own after a lesson has run: the
# runner itself never imports torch, so it holds no GPU memory while lessons run.
DEVICE_PROBE = """
import json, torch
from course_utils.device import get_default_device
from course_utils.doctor import cpu_name
device = get_default_device()
if device.type == "cuda":
    name = f"CUDA GPU ({torch.cuda.get_device_name(device)})"
elif device.type == "mps":
    name = "Apple GPU (MPS)"
else:
    name = f"CPU ({cpu_name()}, {torch.get_num_threads()} threads)"
print(json.dumps({"torch": torch.__version__, "device": name}))
"""


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
    # CPU time the runner itself (the client and the memory sampler) spent meanwhile.
    runner_cpu_seconds: float = 0.0


def _rss(process: psutil.Process) -> int:
    """Bytes of a process's resident set (RSS): cheap to read, and never below its PSS."""
    return process.memory_info().rss


def _pss(process: psutil.Process) -> int:
    """Bytes of memory a process uses, counting pages it shares with others only in part.

    The proportional set size (PSS) splits each shared page between the processes
    that map it, so summing it over a kernel and its worker processes (torchrun's,
    say, which all load PyTorch) counts the shared libraries once, as the machine
    does. Where the system does not report it, the resident set size (RSS).
    """
    try:
        return process.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):
        return _rss(process)


class PeakMemory:
    """Sample, in a thread, the summed memory (``_pss``) of this process's children.

    Reading a process's PSS walks its whole memory map (about 20 ms for a kernel
    holding 1.6 GB), so doing it 20 times a second would cost the runner a third of
    a core, taken from the lesson it times. Reading the resident size (RSS) costs a
    thousandth of that, and PSS is never above RSS, so each sample sums the RSS and
    reads PSS only when the RSS sum could hold a new peak: above the highest PSS sum
    seen, and more than ``tolerance`` above the RSS sum at the last PSS reading. The
    peak is low by at most that fraction. Child processes are looked up every
    ``rescan`` seconds (a lesson's workers live far longer).
    """

    def __init__(self, interval: float = 0.05, rescan: float = 0.5, tolerance: float = 0.01):
        self.interval, self.rescan, self.tolerance = interval, rescan, tolerance
        self.peak_bytes = 0
        self.samples = self.pss_readings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        children: list[psutil.Process] = []
        looked_up = -math.inf
        rss_at_reading = 0
        while not self._stop.is_set():
            if time.monotonic() - looked_up >= self.rescan:
                children, looked_up = me.children(recursive=True), time.monotonic()
            rss = _summed(children, _rss)
            self.samples += 1
            # A child caught between fork and exec (a kernel's launch) shows its parent's
            # resident size for an instant: kept as the bar for the next PSS reading, it hid
            # the kernel's whole growth (a peak of 0 MB). So the bar is the lower of the RSS
            # sums just before and just after a reading, and it follows a fall to under half
            # (small dips keep it, or every wiggle would read PSS again).
            if rss < rss_at_reading / 2:
                rss_at_reading = rss
            if rss > self.peak_bytes and rss > rss_at_reading * (1 + self.tolerance):
                self.peak_bytes = max(self.peak_bytes, _summed(children, _pss))
                self.pss_readings += 1
                after = _summed(children, _rss)
                rss_at_reading = min(rss, after)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def _summed(processes: Sequence[psutil.Process], measure) -> int:
    total = 0
    for process in processes:
        try:
            total += measure(process)
        except psutil.Error:
            pass  # a worker that just exited
    return total


def _imported_modules(source: str, package: str | None) -> set[str] | None:
    """Dotted names, relative to course_utils, of what ``source`` imports from it.

    ``"training"``, ``"checks.lesson01"``; ``"__init__"`` for the package itself.
    ``package`` is the package a module of course_utils sits in (``""`` for the top,
    ``"checks"`` for ``checks/lesson01.py``), so that its relative imports resolve;
    ``None`` for a lesson, which has none. Returns ``None`` when the source is not
    plain Python, so its imports cannot be read.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE:
                    found |= {"__init__", EVERY_NAME}  # course_utils.fit, say, may follow
                elif alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name.removeprefix(PACKAGE).strip("."))
        elif isinstance(node, ast.ImportFrom):
            if node.level and package is not None:  # from .training import x; from .. import y
                parts = package.split(".") if package else []
                parent = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            elif node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
                base = node.module.removeprefix(PACKAGE).strip(".")
            else:
                continue
            found.add(base or "__init__")
            # from course_utils.checks import lesson01: a submodule, or a name in __init__
            for alias in node.names:
                if alias.name == "*":
                    found.add(EVERY_NAME if not base else base)
                else:
                    found.add(f"{base}.{alias.name}".strip("."))
    return found


def _defined_in() -> dict[str, str]:
    """The package's ``DEFINED_IN``: each name ``course_utils`` offers, and its module.

    Read from the source, not imported: the package imports a module only when one of
    its names is used, so ``from course_utils import fit`` runs ``training``.
    """
    tree = ast.parse((LESSON_MODULES / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == [
            "DEFINED_IN"
        ]:
            return ast.literal_eval(node.value)
    return {}


def _resolve(names: set[str], defined_in: dict[str, str]) -> set[str]:
    """Modules for names: a name the package offers becomes its module; every name, all."""
    if EVERY_NAME in names:
        names = names | set(defined_in)
    return {defined_in.get(name, name) for name in names}


def _package_modules() -> dict[str, Path]:
    """Every module of course_utils by its dotted name (``"__init__"`` for the top)."""
    modules = {}
    for path in sorted(LESSON_MODULES.rglob("*.py")):
        parts = path.relative_to(LESSON_MODULES).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts) or "__init__"] = path
    return modules


def _with_parents(name: str) -> set[str]:
    """Importing ``checks.lesson01`` also runs ``checks`` and the top ``__init__``."""
    parts = name.split(".") if name != "__init__" else []
    return {"__init__", *(".".join(parts[:end]) for end in range(1, len(parts) + 1))}


def lesson_modules(notebook: nbformat.NotebookNode) -> list[Path]:
    """The ``course_utils`` modules a lesson runs: those its code imports, and theirs in turn.

    Importing any module also runs the package's ``__init__`` (and a subpackage's); a name
    imported from the package runs the module ``DEFINED_IN`` names for it, and a bare
    ``import course_utils`` counts as using every such name. A cell that is not plain
    Python (so its imports cannot be read) counts as importing every module.
    """
    available = _package_modules()
    defined_in = _defined_in()
    wanted: set[str] = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        found = _imported_modules(cell.source, package=None)
        wanted |= set(available) if found is None else _resolve(found, defined_in)
    pending, seen = [name for name in wanted if name in available], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = available[name]
        if path.name == "__init__.py":
            package = "" if name == "__init__" else name
        else:
            package = name.rpartition(".")[0]
        found = _imported_modules(path.read_text(), package=package)
        imports = set(available) if found is None else _resolve(found, defined_in)
        pending += [other for other in imports | _with_parents(name) if other in available]
    return sorted(available[name] for name in seen)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` with the docstring of the module and of every class and function removed."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_of(module: Path) -> bytes:
    """What in a helper module decides what it does: its syntax tree without docstrings.

    Comments, docstrings, blank lines and layout drop out, so editing them re-runs no
    lesson. A file that does not parse counts byte for byte.
    """
    source = module.read_bytes()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    return ast.dump(_without_docstrings(tree), include_attributes=False).encode()


def lesson_scripts(notebook: nbformat.NotebookNode) -> list[Path]:
    """The files of ``notebooks/scripts/`` whose name a code cell of the lesson mentions."""
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return [path for path in sorted(LESSON_SCRIPTS.glob("*.py")) if path.name in code]


def inputs_hash(notebook: nbformat.NotebookNode, smoke: bool = False) -> str:
    """SHA-256 of what decides a notebook's outputs.

    Covers its code cells' sources and tags, the code of the ``course_utils`` modules
    it runs (``lesson_modules``; ``code_of``), the scripts it runs (``lesson_scripts``,
    byte for byte: the lesson shows them), the exact versions in ``constraints.txt``
    and the smoke flag. Prose edits change nothing, and neither do a helper's comments
    and docstrings, nor a helper the lesson never imports.
    """
    digest = hashlib.sha256()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(json.dumps([cell.source, cell.metadata.get("tags", [])]).encode())
    for module in lesson_modules(notebook):
        digest.update(str(module.relative_to(LESSON_MODULES)).encode() + code_of(module))
    for script in lesson_scripts(notebook):
        digest.update(script.name.encode() + script.read_bytes())
    digest.update(b"constraints.txt" + CONSTRAINTS.read_bytes())
    digest.update(f"{SMOKE_ENV}={int(smoke)}".encode())
    return digest.hexdigest()


def write_atomically(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Write ``notebook`` to ``path`` through a temporary file in the same folder.

    A full disk or a crash mid-write leaves the previous file whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            nbformat.write(notebook, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# tqdm's text form of a progress bar: "Training:  40%|####      | 4/10 [00:01<00:02, ...]".
PROGRESS_TEXT = re.compile(r"\d+%\|.*\|\s*\d+/\d+")


def _is_progress(output: nbformat.NotebookNode) -> bool:
    if output.output_type == "display_data" and WIDGET_VIEW in output.get("data", {}):
        return True  # a progress-bar widget; its text fallback is what renderers would show
    return output.output_type == "stream" and bool(PROGRESS_TEXT.search(output.get("text", "")))


def strip_progress_bars(notebook: nbformat.NotebookNode) -> None:
    """Remove progress bars (widgets and their text form) and the widget state from outputs.

    Learners see the bars while a lesson runs; a saved lesson should not show their
    frozen text form on GitHub or any renderer without widgets.
    """
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.outputs if not _is_progress(output)]


def machine_facts() -> dict[str, str]:
    """The PyTorch version and the device the lessons use (``DEVICE_PROBE``); "unknown"
    for what the probe could not tell."""
    try:
        probe = subprocess.run(
            [sys.executable, "-c", DEVICE_PROBE], capture_output=True, text=True, timeout=300
        )
        facts = json.loads(probe.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        facts = {}
    return {"torch": facts.get("torch", "unknown"), "device": facts.get("device", "unknown")}


def stamp_text(facts: dict) -> str:
    """The stamp's markdown, from ``facts`` (date, torch, device, seconds, peak_mb, smoke)."""
    mode = " in smoke mode (a quick, reduced run)" if facts["smoke"] else ""
    text = (
        f"**Last verified** {facts['date']}{mode}: PyTorch {facts['torch']} on "
        f"{facts['device']}; the whole lesson ran in {facts['seconds']:.0f} s with a peak "
        f"memory of {facts['peak_mb']:.0f} MB. The course's runner wrote this line from the "
        "run that produced the worked lesson's outputs."
    )
    # A quote block, in lines short enough for the .py twin's 100 columns.
    return "\n".join(textwrap.wrap(text, width=88, initial_indent="> ", subsequent_indent="> "))


def stamp(notebook: nbformat.NotebookNode, facts: dict | None) -> None:
    """Put the "last verified" stamp for ``facts`` under the notebook's first cell (or
    update the one there), and the facts into its metadata; ``None`` removes both."""
    cells = notebook.cells
    existing = [i for i, cell in enumerate(cells) if STAMP_TAG in cell.metadata.get("tags", [])]
    for index in reversed(existing[1:] if facts else existing):
        del cells[index]
    if facts is None:
        notebook.metadata.pop(STAMP_KEY, None)
        return
    notebook.metadata[STAMP_KEY] = facts
    if existing:
        cells[existing[0]].source = stamp_text(facts)
    else:
        cell = nbformat.v4.new_markdown_cell(stamp_text(facts), metadata={"tags": [STAMP_TAG]})
        cells.insert(1 if cells else 0, cell)


def stamp_paired_script(source: Path, facts: dict | None) -> None:
    """Write the same stamp into ``source``'s jupytext twin (``.py``), if it has one, so
    that the pair stays in step; the rest of the script is written back as it was."""
    script = source.with_suffix(".py")
    if not script.is_file():
        return
    paired = jupytext.read(script)
    stamp(paired, facts)
    paired.metadata.pop(STAMP_KEY, None)  # the facts live in the .ipynb, not in the script
    text = jupytext.writes(paired, fmt="py:percent")
    if text != script.read_text(encoding="utf-8"):
        script.write_text(text, encoding="utf-8")


def _clear_outputs(notebook: nbformat.NotebookNode) -> None:
    """Forget the previous run, so a failure leaves no stale output after the error."""
    notebook.metadata.pop(HASH_KEY, None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def _kernel_config(scratch: Path) -> Config:
    """The kernel talks to the runner over Unix sockets in ``scratch`` where there are some:
    nothing leaves the machine, and ipykernel does not warn, as it does over TCP, that
    anyone on the network could listen in."""
    if os.name != "posix":
        return Config()
    # An absolute path: the kernel starts in the lesson's folder, not the runner's.
    return Config({"KernelManager": {"transport": "ipc", "ip": str(scratch / "kernel")}})


def run_notebook(
    source: Path,
    output: Path,
    smoke: bool = False,
    timeout: int | None = DEFAULT_CELL_TIMEOUT,
    show_progress: bool = True,
    notebook: nbformat.NotebookNode | None = None,
) -> LessonRun:
    """Execute ``source`` in its own folder and write the executed copy to ``output``.

    ``timeout`` is the most seconds one cell may run (``None``: no limit). Returns a
    ``LessonRun``. ``output`` may equal ``source`` (refresh in place): the file is
    replaced atomically, and a failed run keeps no output after the error and no
    inputs hash, so ``--changed-only`` runs it again. Pass ``notebook`` when ``source``
    has already been read.
    """
    if notebook is None:
        notebook = nbformat.read(source, as_version=4)
    _clear_outputs(notebook)
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    with tempfile.TemporaryDirectory() as scratch:
        results_file = Path(scratch) / "results.jsonl"
        env = dict(os.environ)
        env.update(
            {RESULTS_ENV: str(results_file), "TQDM_DISABLE": "1", SMOKE_ENV: "1" if smoke else "0"}
        )
        # torch.compile keeps the kernels it built on disk and reuses them in the next run;
        # an empty cache per run makes a lesson's compiling cost that of a first run, each time.
        env["TORCHINDUCTOR_CACHE_DIR"] = str(Path(scratch) / "torchinductor")
        progress = tqdm(
            total=code_cells, desc=source.stem, unit="cell", disable=not show_progress, leave=False
        )
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(source.parent.resolve())}},
            record_timing=False,
            config=_kernel_config(Path(scratch)),
            on_cell_executed=lambda cell, **_: (
                progress.update() if cell.cell_type == "code" else None
            ),
        )
        error = ""
        start, runner_start = time.perf_counter(), time.process_time()
        with PeakMemory() as memory:
            try:
                client.execute(env=env)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as failure:
                error = _first_line(failure)
        seconds = time.perf_counter() - start
        runner_cpu = time.process_time() - runner_start
        progress.close()
        results = []
        if results_file.exists():
            results = [json.loads(line) for line in results_file.read_text().splitlines()]
    strip_progress_bars(notebook)
    peak_mb = memory.peak_bytes / 2**20
    facts = None
    if not error:
        notebook.metadata[HASH_KEY] = inputs_hash(notebook, smoke)
        facts = {
            "date": datetime.date.today().isoformat(),
            **machine_facts(),
            "seconds": round(seconds, 1),
            "peak_mb": round(peak_mb),
            "smoke": smoke,
        }
    stamp(notebook, facts)
    write_atomically(notebook, output)
    if output.resolve() == source.resolve():
        stamp_paired_script(source, facts)
    return LessonRun(source.stem, not error, seconds, peak_mb, results, error, output, runner_cpu)


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
    rows = [
        "| lesson | status | seconds | peak memory (MB, PSS) | headline figures |",
        "|---|---|---:|---:|---|",
    ]
    for run in runs:
        status = "ok" if run.ok else f"FAILED: {run.error}"
        figures = "; ".join(
            format_result(result["name"], result["value"], result.get("unit", ""))
            for result in run.results
        )
        cells = [run.lesson, status, f"{run.seconds:.1f}", f"{run.peak_mb:.0f}", figures or "-"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _read(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook at ``path`` and an empty string, or ``None`` and why it cannot be read."""
    try:
        return nbformat.read(path, as_version=4), ""
    except (OSError, ValueError, nbformat.ValidationError) as error:  # JSON errors are ValueErrors
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:150]}"
        return None, f"cannot read {path}: {reason}"


def _is_current(notebook: nbformat.NotebookNode, smoke: bool) -> bool:
    return notebook.metadata.get(HASH_KEY) == inputs_hash(notebook, smoke)


def _unchanged(source: Path, smoke: bool) -> bool:
    return _is_current(nbformat.read(source, as_version=4), smoke)


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m instructor.runner", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build/run"), help="folder for the copies")
    parser.add_argument(
        "--in-place", action="store_true", help="overwrite each notebook with its executed copy"
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"run in smoke mode (also when {SMOKE_ENV} is true)"
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_CELL_TIMEOUT,
        help=f"seconds allowed per cell (default {DEFAULT_CELL_TIMEOUT}; 0: no limit)",
    )
    parser.add_argument(
        "--changed-only",
        action="store_true",
        help="skip notebooks whose inputs are unchanged since their last successful run",
    )
    args = parser.parse_args(argv)
    try:
        args.smoke = args.smoke or smoke_mode()
    except ValueError as error:
        parser.error(str(error))
    if args.in_place and args.smoke:
        parser.error(
            "refusing to write smoke-mode outputs in place: the committed notebooks must hold "
            f"full-size results. Unset {SMOKE_ENV} (and drop --smoke), or use --out for a "
            "smoke run."
        )
    missing = [str(path) for path in args.notebooks if not path.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_arguments(argv)
    runs = []
    for source in args.notebooks:
        notebook, problem = _read(source)  # read once: checked, hashed and executed
        if notebook is None:
            print(f"{source.stem}: FAILED: {problem}", file=sys.stderr, flush=True)
            runs.append(LessonRun(source.stem, False, 0.0, 0.0, error=problem))
            continue
        if args.changed_only and _is_current(notebook, args.smoke):
            print(f"{source.stem}: unchanged since its last run, not re-executed")
            continue
        output = source if args.in_place else args.out / source.name
        run = run_notebook(
            source, output, smoke=args.smoke, timeout=args.timeout or None, notebook=notebook
        )
        status = "ok" if run.ok else "FAILED"
        print(
            f"{run.lesson}: {status} in {run.seconds:.1f} s, peak {run.peak_mb:.0f} MB"
            f" -> {run.output} (the runner itself used {run.runner_cpu_seconds:.1f} s of CPU)",
            flush=True,
        )
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
