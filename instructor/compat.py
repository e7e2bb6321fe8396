"""Try the course on another PyTorch: a throwaway environment, the unit tests, every lesson.

Instructor tooling behind ``make compat TORCH=2.9.1 TORCHVISION=0.24.1``; no lesson
imports it. It makes a virtual environment in ``build/compat/torch-X_torchvision-Y``,
installs that pair of versions (from PyPI, lifting the machine's pip cap for this one
command), then the course with every other package at the version ``constraints.txt``
pins, and runs what ``make test`` runs, but in that environment: the unit tests and
every lesson in smoke mode (the browser tests, which do not depend on PyTorch, are
left out). One line per run is appended to ``build/compat/results.md``: the versions,
the test counts, the time and the date. CI tests only the pinned versions.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from course_utils.settings import SMOKE_ENV

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
# Packages that come with the PyTorch pair: their versions follow the pair, not our pins.
WITH_TORCH = re.compile(r"^(torch|torchvision|triton|nvidia-[\w-]+|cuda-[\w-]+)==", re.IGNORECASE)
TEST_ENV = {SMOKE_ENV: "1", "COURSE_STRICT_CHECKS": "1", "TQDM_DISABLE": "1"}  # as `make test`
VERSION = re.compile(r"\d+(\.\d+){1,2}")


def version(text: str, what: str) -> str:
    """``text`` if it is a release number such as ``2.9.1``; else exit with a message."""
    if not VERSION.fullmatch(text or ""):
        raise SystemExit(f"{what} must be a release number such as 2.9.1, got {text!r}")
    return text


def run(command: list[str], log, env: dict[str, str] | None = None) -> int:
    """Run ``command``, copying its output to the terminal and to ``log``; return its status."""
    print("$", " ".join(command), flush=True)
    log.write("$ " + " ".join(command) + "\n")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    for line in process.stdout:
        if not line.startswith("WARNING: Location "):  # the pip mirror's noise on this machine
            sys.stdout.write(line)
        log.write(line)
    return process.wait()


def constraints_for(constraints: str, pins: list[str]) -> str:
    """``constraints`` without the PyTorch pair's packages, with ``pins`` in place of theirs."""
    overrides = {}
    for pin in pins:
        name, _, wanted = pin.partition("==")
        if not name or not VERSION.fullmatch(wanted):
            raise SystemExit(f"--pin takes NAME==VERSION, such as numpy==1.26.4; got {pin!r}")
        overrides[name.lower()] = pin
    kept = [
        line
        for line in constraints.splitlines()
        if not WITH_TORCH.match(line) and line.partition("==")[0].lower() not in overrides
    ]
    return "".join(line + "\n" for line in [*kept, *overrides.values()])


def pytest_counts(log_text: str) -> str:
    """pytest's last summary line, such as ``2 failed, 770 passed in 300.1s``."""
    found = re.findall(
        r"^=* ?(\d+ (?:passed|failed|errors?)\b.*? in [\d.]+s)", log_text, re.MULTILINE
    )
    return found[-1] if found else "no pytest summary"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", required=True, help="for example 2.9.1")
    parser.add_argument("--torchvision", required=True, help="for example 0.24.1")
    parser.add_argument("--keep", action="store_true", help="keep the environment afterwards")
    parser.add_argument(
        "--pin",
        action="append",
        default=[],
        metavar="NAME==VERSION",
        help="another version of a pinned package, e.g. numpy==1.26.4 for an older PyTorch",
    )
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest")
    args = parser.parse_args(argv)
    torch_version = version(args.torch, "--torch (TORCH=)")
    vision_version = version(args.torchvision, "--torchvision (TORCHVISION=)")
    folder = ROOT / "build" / "compat"
    venv = folder / f"torch-{torch_version}_torchvision-{vision_version}"
    folder.mkdir(parents=True, exist_ok=True)
    pins = folder / f"{venv.name}.constraints.txt"
    pins.write_text(constraints_for(CONSTRAINTS.read_text(), args.pin))
    python = venv / "bin" / "python"
    log_path = folder / f"{venv.name}.log"
    start = time.perf_counter()
    with log_path.open("w") as log:
        steps = [
            ([sys.executable, "-m", "venv", "--clear", str(venv)], {}),
            (
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    f"torch=={torch_version}",
                    f"torchvision=={vision_version}",
                ],
                {"PIP_CONSTRAINT": "/dev/null"},  # lift this machine's cap on torch
            ),
            (
                # A new venv's setuptools is too old to build a wheel without `wheel`
                # (tests/test_environments.py builds one; .venv's setuptools can).
                [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "setuptools>=70.1"],
                {"PIP_CONSTRAINT": "/dev/null"},
            ),
            (
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "-c",
                    str(pins),
                    "-e",
                    ".[lab,test]",
                ],
                {"PIP_CONSTRAINT": "/dev/null"},
            ),
        ]
        for command, env in steps:
            if run(command, log, env) != 0:
                print(f"compat: set-up failed; see {log_path.relative_to(ROOT)}")
                return 1
        installed = subprocess.run(
            [
                str(python),
                "-c",
                "import torch, torchvision; print(torch.__version__, torchvision.__version__)",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
        set_up = time.perf_counter() - start
        test_start = time.perf_counter()
        status = run(
            [
                str(python),
                "-m",
                "pytest",
                "tests",
                "notebooks",
                "-m",
                "not browser",
                "--nbval-lax",
                "--nbval-current-env",
                "--nbval-sanitize-with",
                "tests/nbval_sanitize.cfg",
                "-p",
                "no:cacheprovider",
                "-q",
                *args.pytest_args,
            ],
            log,
            TEST_ENV,
        )
        tested = time.perf_counter() - test_start
    counts = pytest_counts(log_path.read_text())
    line = (
        f"| {torch_version} | {vision_version}{''.join(', ' + pin for pin in args.pin)} | "
        f"{installed} | {counts} | "
        f"{'pass' if status == 0 else 'FAIL'} | {set_up:.0f} s + {tested:.0f} s | "
        f"{datetime.date.today().isoformat()} |\n"
    )
    results = folder / "results.md"
    if not results.exists():
        results.write_text(
            "| torch | torchvision | installed | tests (unit + lessons in smoke mode) | result "
            "| set-up + tests | date |\n|---|---|---|---|---|---|---|\n"
        )
    with results.open("a") as out:
        out.write(line)
    print(f"\ncompat: {line.strip()}\ncompat: log in {log_path.relative_to(ROOT)}")
    if not args.keep:
        shutil.rmtree(venv, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
