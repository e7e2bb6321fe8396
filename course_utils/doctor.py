"""Is this environment ready for the course? One line per check, and a block to paste.

    python -m course_utils.doctor          # every check; exit status 1 on any FAIL

or, in a lesson's first cell, the compact form::

    from course_utils.doctor import check_environment; check_environment()

Each check is a small function that returns a ``Check`` (a status, ``OK``, ``WARN`` or
``FAIL``, a message, and what to do); printing is separate (``format_report``,
``paste_block``). Nothing is downloaded or written, and no check raises: a broken
environment (a missing package, an unusable data folder, a half-extracted dataset) gives
a ``FAIL`` line. The module imports only the standard library at import time, so it runs
where PyTorch itself is missing.

Versions are checked against the range the course is tested with, written down once: the
lowest versions are the package's own requirements (``[project] dependencies`` and
``requires-python`` in ``pyproject.toml``, read from the installed package's metadata),
the highest are the pins in ``constraints.txt`` (read when the course runs from a
checkout). README.md's "Tested with" table records each run behind that range.
"""

from __future__ import annotations

import argparse
import getpass
import os
import platform
import re
import shutil
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

__all__ = ["Check", "check_environment", "cpu_name", "format_report", "paste_block", "run_checks"]

OK, WARN, FAIL = "OK", "WARN", "FAIL"
DISTRIBUTION = "course-utils"  # the name pyproject.toml gives the package
GB = 1e9
# The course's memory budget (README.md, first paragraph; `make run` measures each peak):
# each lesson needs less than 1.5 GB, lesson 06's worker processes included.
LESSON_MEMORY = 1.5 * GB
# What each dataset takes on disk, in bytes: the four IDX files of MNIST (and of
# Fashion-MNIST, the same shapes), 54,950,048 bytes in all; CIFAR-10's archive
# (data.CIFAR10.size, 168,168,549 bytes) and its 60,000 extracted images, 247,414,784 bytes
# as `du` counts them on a file system of 4 KiB blocks. About 0.53 GB together.
IDX_DATASET_BYTES = 54_950_048
CIFAR10_EXTRACTED_BYTES = 247_414_784
IDX_DATASETS = {"MNIST": "MNIST", "Fashion-MNIST": "FashionMNIST"}  # label -> folder
PREFETCH_NAMES = {"MNIST": "mnist", "Fashion-MNIST": "fashion-mnist", "CIFAR-10": "cifar10"}
LESSON_OF = {"MNIST": "lesson 03", "Fashion-MNIST": "lesson 03's exercise", "CIFAR-10": "lesson 05"}


@dataclass(frozen=True)
class Check:
    """The result of one check: its ``name``, ``status`` (``OK``, ``WARN`` or ``FAIL``), a
    one-line ``message``, the ``fix`` (what to do; empty when nothing is needed), and
    ``facts``, figures other checks and the summaries use (a dataset's ``state``, say)."""

    name: str
    status: str
    message: str
    fix: str = ""
    facts: Mapping[str, object] = field(default_factory=dict)


# --- versions -----------------------------------------------------------------------------

_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)(?:;(.*))?")
_CLAUSE = re.compile(r"\s*(~=|===|==|!=|<=|>=|<|>)\s*([^\s,]+)\s*")


def release(version: str) -> tuple[int, ...]:
    """Return the release numbers that start ``version``: ``(2, 9, 1)`` for ``2.9.1+cpu``.

    Used by the version checks of ``course_utils.doctor`` (lesson 01)."""
    found = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in found.group().split(".")) if found else ()


def _compare(left: tuple[int, ...], right: tuple[int, ...]) -> int:
    """-1, 0 or 1 as ``left`` is older than, equal to or newer than ``right`` (zero-padded)."""
    width = max(len(left), len(right))
    left, right = left + (0,) * (width - len(left)), right + (0,) * (width - len(right))
    return (left > right) - (left < right)


def satisfies(version: str, specifier: str) -> bool:
    """Return whether ``version`` meets ``specifier`` (``>=1.0``, ``>=1.0,<3``): release
    numbers only, enough for the course's own requirements. Used by ``check_package``."""
    have = release(version)
    for clause in filter(str.strip, specifier.split(",")):
        if not (found := _CLAUSE.fullmatch(clause)):
            continue  # not a comparison this check knows: not held against the package
        operator, wanted = found.groups()
        if wanted.endswith(".*"):
            prefix = release(wanted[:-2])
            same = have[: len(prefix)] == prefix
            if (operator == "==") != same:
                return False
            continue
        order = _compare(have, release(wanted))
        if operator == "~=":
            prefix = release(wanted)[:-1]
            if order < 0 or have[: len(prefix)] != prefix:
                return False
        elif not {
            "==": order == 0,
            "===": order == 0,
            "!=": order != 0,
            ">=": order >= 0,
            "<=": order <= 0,
            ">": order > 0,
            "<": order < 0,
        }[operator]:
            return False
    return True


def checkout_root() -> Path | None:
    """Return the checkout this ``course_utils`` sits in, or None for an installed package.

    The same rule as ``data.data_dir()``: the folder above the package holds
    ``pyproject.toml`` and ``notebooks/``. Used by ``course_utils.doctor`` (lesson 01)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir():
        return root
    return None


def course_requirements() -> tuple[str, list[str], str]:
    """Return the course's ``requires-python``, its requirements (``"example>=1.0"``; the
    extras left out) and where they were read: the installed package's metadata, or the
    checkout's ``pyproject.toml`` when the package is not installed. Raises ``LookupError``
    when neither has them. Used by ``run_checks`` (lesson 01)."""
    try:
        python = metadata.metadata(DISTRIBUTION).get("Requires-Python") or ""
        listed = metadata.requires(DISTRIBUTION) or []
        where = f"the installed {DISTRIBUTION} package (its pyproject.toml)"
    except metadata.PackageNotFoundError:
        root = checkout_root()
        if root is None:
            raise LookupError(f"{DISTRIBUTION} is not installed") from None
        import tomllib

        project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
        python, listed = project.get("requires-python", ""), project.get("dependencies", [])
        where = "pyproject.toml (course_utils is not installed)"
    plain = [text for text in listed if "extra" not in (_REQUIREMENT.fullmatch(text)[3] or "")]
    return python, plain, where


def pinned_versions(constraints: Path | None) -> dict[str, str]:
    """Return ``{normalised name: version}`` from the ``name==version`` lines of
    ``constraints`` (the checkout's ``constraints.txt``); empty when there is none, as in an
    installed package. Used by ``run_checks`` (lesson 01)."""
    try:
        lines = constraints.read_text().splitlines() if constraints else []
    except OSError:
        return {}
    pins = {}
    for line in lines:
        name, separator, version = line.split("#")[0].strip().partition("==")
        if separator and name:
            pins[_normalise(name)] = version.strip()
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_python(requires_python: str, version: str | None = None) -> Check:
    """Check the running Python (or ``version``) against ``requires_python`` (``>=3.11``);
    the message names the interpreter. Returns a ``Check``. Introduced in lesson 01."""
    version = version or platform.python_version()
    where = sys.executable + (" (a virtual environment)" if sys.prefix != sys.base_prefix else "")
    if not requires_python or satisfies(version, requires_python):
        return Check("Python", OK, f"{version} at {where}; the course needs {requires_python}")
    return Check(
        "Python",
        FAIL,
        f"{version} at {where} is too old: the course needs {requires_python}",
        f"install Python {requires_python.lstrip('>=~')} or newer and make a new environment",
        {"version": version},
    )


def check_package(requirement: str, pins: Mapping[str, str]) -> Check:
    """Check one requirement (``"example>=1.0"``) against the installed version, read with
    ``importlib.metadata.version``, and its pin in ``pins`` (from ``constraints.txt``):
    FAIL when missing or older than the lowest tested version, WARN when newer than the
    pinned one, OK in between. Returns a ``Check``. Introduced in lesson 01."""
    name, specifier = _REQUIREMENT.fullmatch(requirement).group(1, 2)
    specifier, pin = specifier.strip().strip("()"), pins.get(_normalise(name))
    lowest = specifier.removeprefix(">=") if specifier else "any version"
    tested = f"tested: {lowest} to {pin}" if pin else f"needs {specifier or lowest}"
    install = f'pip install "{name}=={pin}"' if pin else f'pip install "{name}{specifier}"'
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        return Check(name, FAIL, f"not installed; the course needs {name}{specifier}", install)
    facts = {"version": version}
    if specifier and not satisfies(version, specifier):
        message = f"{version} is older than the course supports ({tested})"
        return Check(name, FAIL, message, install, facts)
    if pin and _compare(release(version), release(pin)) > 0:
        message = f"{version} is newer than the course was tested with ({tested})"
        fix = f"if a lesson fails, {install}"
        return Check(name, WARN, message, fix, facts)
    return Check(name, OK, f"{version} ({tested})", "", facts)


# --- the device, memory and disk ---------------------------------------------------------


def cpu_name() -> str:
    """The CPU's model name where the system says it (Linux), else the machine type."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return " ".join(line.partition(":")[2].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def check_device(on_colab: bool = False) -> Check:
    """Report the device the lessons will use, ``course_utils.device.get_default_device()``
    (CUDA, then MPS, then the CPU): its name, memory, whether it has fast bfloat16
    (``device.bfloat16_support``) and PyTorch's CPU threads. WARN on Colab without a GPU,
    or when PyTorch warned while looking for one. Returns a ``Check``. Introduced in
    lesson 01."""
    try:
        import torch

        import course_utils.device as device_module
    except Exception as error:  # a missing package, or a PyTorch whose libraries fail to load
        return Check(
            "device",
            FAIL,
            f"cannot tell: PyTorch does not import ({type(error).__name__}: {error})",
            "fix the torch line above (pip install torch), then run this again",
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        device = device_module.get_default_device()
        fast, reason = device_module.bfloat16_support(device)
    threads = f"{torch.get_num_threads()} CPU threads for PyTorch ({os.cpu_count()} cores seen)"
    if device.type == "cuda":
        index = torch.cuda.current_device()
        properties = torch.cuda.get_device_properties(index)
        count = torch.cuda.device_count()
        name = f"{properties.name}, {properties.total_memory / GB:.1f} GB"
        name += f"; {count} GPUs" if count > 1 else ""
    elif device.type == "mps":
        recommended = getattr(getattr(torch, "mps", None), "recommended_max_memory", None)
        memory = f", up to {recommended() / GB:.1f} GB" if recommended else ""
        name = f"Apple GPU (MPS){memory}, sharing the Mac's memory"
    else:
        name = cpu_name()
    message = f"{device.type}: {name}; fast bfloat16: {'yes' if fast else 'no'} ({reason}); "
    message += threads
    facts = {"device": device.type, "bfloat16": fast, "threads": torch.get_num_threads()}
    if caught:
        said = " ".join(str(caught[0].message).split())[:200]
        fix = "if it names CUDA or the driver, check the GPU with nvidia-smi; else ignore it"
        return Check("device", WARN, f"{message}; PyTorch warned: {said}", fix, facts)
    if on_colab and device.type == "cpu":
        fix = "for lessons 04 and 05 choose Runtime > Change runtime type > GPU"
        return Check("device", WARN, f"{message}; this Colab runtime has no GPU", fix, facts)
    return Check("device", OK, message, "", facts)


def _cgroup_memory() -> tuple[float, float] | None:
    """The container's memory limit and use in bytes (cgroup v2, then v1), or None.

    Binder and Docker limit a container's memory below what the machine reports."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = float(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # "max", or v1's huge "no limit"
            return float(limit), usage
    return None


def memory_figures() -> tuple[float, float]:
    """Return ``(available, total)`` memory in bytes, the container's limit taken into
    account (psutil, else the system's page counts). Used by ``check_memory`` (lesson 01)."""
    try:
        import psutil

        memory = psutil.virtual_memory()
        available, total = float(memory.available), float(memory.total)
    except Exception:  # no psutil: its FAIL line says so; the system's counts do here
        page = os.sysconf("SC_PAGE_SIZE")
        total = float(os.sysconf("SC_PHYS_PAGES") * page)
        available = float(os.sysconf("SC_AVPHYS_PAGES") * page)
    if limited := _cgroup_memory():
        limit, used = limited
        total, available = min(total, limit), min(available, max(limit - used, 0.0))
    return available, total


def check_memory(available: float, total: float) -> Check:
    """Check ``available`` and ``total`` memory (bytes) against the course's budget: 1.5 GB
    a lesson. FAIL when the machine has less than a lesson needs in all, WARN when too
    little is free now. Returns a ``Check``. Introduced in lesson 01."""
    figures = f"{available / GB:.1f} GB available of {total / GB:.1f} GB"
    budget = f"a lesson needs up to {LESSON_MEMORY / GB:.1f} GB"
    facts = {"available": available, "total": total}
    if total < LESSON_MEMORY:
        fix = "use a machine with more memory, or Colab"
        return Check("memory", FAIL, f"{figures}: {budget}", fix, facts)
    if available < LESSON_MEMORY:
        fix = "close other programs and notebooks (Kernel > Shut Down Kernel), then run again"
        return Check("memory", WARN, f"{figures}: {budget}", fix, facts)
    return Check("memory", OK, f"{figures} ({budget})", "", facts)


def _existing(folder: Path) -> Path:
    """``folder``, or the nearest folder above it that exists."""
    for candidate in (folder, *folder.parents):
        try:
            if candidate.is_dir():
                return candidate
        except OSError:
            continue
    return Path(folder.anchor or ".")


def check_disk(folder: Path, still_needed: int, in_all: int) -> Check:
    """Check the free disk space where the data folder ``folder`` is (or would be) against
    ``still_needed``, the bytes the datasets not yet ready will take (``in_all``: what they
    take together, about 0.53 GB). Returns a ``Check``. Introduced in lesson 01."""
    where = _existing(Path(folder))
    free = shutil.disk_usage(where).free
    message = f"{free / GB:.1f} GB free at {where}; the datasets take {in_all / GB:.2f} GB in all"
    message += f", {still_needed / GB:.2f} GB of it still to come" if still_needed else ", all here"
    facts = {"free": free, "needed": still_needed}
    if free < still_needed:
        fix = "free some disk space, or set COURSE_DATA_DIR to a folder on a larger disk"
        return Check("disk", FAIL, message, fix, facts)
    return Check("disk", OK, message, "", facts)


# --- the data folder and its datasets -----------------------------------------------------


def check_data_folder(folder: Path, configured: bool) -> Check:
    """Check the data folder ``folder`` (``data.data_dir()``; ``configured`` when
    ``COURSE_DATA_DIR`` chose it): FAIL when it is not a folder, cannot be read, or is
    missing and cannot be made. ``facts`` says whether it is ``usable`` and ``writable``.
    Returns a ``Check``. Introduced in lesson 01."""
    said = f"{folder} ({'COURSE_DATA_DIR' if configured else 'the default; COURSE_DATA_DIR unset'})"
    elsewhere = "set COURSE_DATA_DIR to a folder you can write to"
    try:
        if not os.path.lexists(folder):
            parent = _existing(folder)
            if os.access(parent, os.W_OK | os.X_OK):
                message = f"{said} does not exist yet; the first lesson that needs data makes it"
                return Check("data folder", OK, message, "", {"usable": True, "writable": True})
            message = f"{said} does not exist and cannot be made: {parent} is not writable"
            return Check("data folder", FAIL, message, elsewhere, {"usable": False})
        if not folder.is_dir():
            kind = "a file" if folder.is_file() else "not a folder"
            message = f"{said} is {kind}, not a folder"
            fix = f"move {folder} out of the way, or {elsewhere}"
            return Check("data folder", FAIL, message, fix, {"usable": False})
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError as error:
        message = f"{said} cannot be read ({error.strerror or error})"
        fix = f"make it readable (chmod u+rwx {folder}), or {elsewhere}"
        return Check("data folder", FAIL, message, fix, {"usable": False})
    if os.access(folder, os.W_OK | os.X_OK):
        return Check("data folder", OK, f"{said}, readable and writable", "", {"usable": True})
    message = f"{said} is read-only: fine once every dataset is ready (prefetched)"
    return Check("data folder", OK, message, "", {"usable": True, "writable": False})


def _data_module():
    """``course_utils.data``, whose checks judge the datasets (it imports PyTorch), imported
    here so that a missing package is a FAIL line, not an error at import."""
    import course_utils.data as data

    return data


def _unusable(name: str, why: str, fix: str, size: int) -> Check:
    """A FAIL for a dataset that could not be checked; the disk check counts it as to come."""
    facts = {"state": "unknown", "to_fetch": size, "size": size}
    return Check(name, FAIL, f"not checked: {why}", fix, facts)


def idx_dataset_state(raw: Path) -> tuple[str, str]:
    """Return the state of MNIST's or Fashion-MNIST's ``raw`` folder, ``absent``,
    ``incomplete`` or ``ready``, with what was found, judged by ``data.check_idx_files``
    (sizes and headers; nothing is decompressed or downloaded). Used by
    ``check_idx_dataset`` (lesson 01)."""
    data = _data_module()
    plain = [name for name in data.IDX_FILES if (raw / name).is_file()]
    packed = [name for name in data.IDX_FILES if (raw / f"{name}.gz").is_file()]
    if not plain and not packed:
        return "absent", f"{raw} holds none of its files"
    if missing := [name for name in data.IDX_FILES if name not in plain and name not in packed]:
        return "incomplete", f"{raw} lacks {', '.join(missing)}"
    if len(plain) < len(data.IDX_FILES):
        return "ready", f"{raw} holds every file, some as .gz (decompressed on first use)"
    try:
        counts = data.check_idx_files(raw)
    except data.DatasetError as error:
        return "incomplete", str(error).split(". ")[0]
    return "ready", f"{counts['train']:,} training and {counts['t10k']:,} test images, checked"


def check_idx_dataset(label: str, root: Path, folder_check: Check) -> Check:
    """Check MNIST or Fashion-MNIST (``label``) in the data folder ``root``: OK when ready,
    or absent while the folder is writable (the lesson downloads it); FAIL when incomplete
    or unobtainable. ``facts`` holds ``state``, ``size`` and ``to_fetch`` (bytes). Returns
    a ``Check``. Introduced in lesson 01."""
    command = f"python -m course_utils.prefetch --only {PREFETCH_NAMES[label]}"
    size = IDX_DATASET_BYTES
    if not folder_check.facts.get("usable"):
        return _unusable(label, "the data folder cannot be used", "fix the data folder", size)
    try:
        state, detail = idx_dataset_state(Path(root) / IDX_DATASETS[label] / "raw")
    except Exception as error:
        why = f"course_utils.data does not import ({error})"
        return _unusable(label, why, "fix the FAIL lines above first", size)
    facts = {"state": state, "size": size, "to_fetch": 0 if state == "ready" else size}
    if state == "ready":
        return Check(label, OK, f"ready: {detail}", "", facts)
    if state == "absent" and folder_check.facts.get("writable", True):
        message = f"absent: {LESSON_OF[label]} downloads it ({IDX_DATASET_BYTES / 1e6:.0f} MB)"
        return Check(label, OK, message, "", facts)
    if state == "absent":
        why = "absent, and the data folder is read-only, so no lesson can download it"
        fix = f"run `{command}` on a machine with internet access and copy the data folder"
        return Check(label, FAIL, why, fix, facts)
    fix = f"delete the files named and run `{command}`, or copy good ones in"
    return Check(label, FAIL, f"incomplete: {detail}", fix, facts)


def check_cifar10(root: Path, folder_check: Check) -> Check:
    """Check CIFAR-10 in the data folder ``root`` with ``data.dataset_problem`` (marked
    complete, every class folder holding its images; they are counted, not opened):
    ``ready``, ``absent`` (OK when the folder is writable: lesson 05 fetches it) or
    ``incomplete`` (FAIL, a half-extracted folder for one). ``facts`` holds ``state``,
    ``size`` and ``to_fetch`` (bytes). Returns a ``Check``. Introduced in lesson 01."""
    command = f"python -m course_utils.prefetch --only {PREFETCH_NAMES['CIFAR-10']}"
    try:
        data = _data_module()
    except Exception as error:
        why = f"course_utils.data does not import ({error})"
        return _unusable("CIFAR-10", why, "fix the FAIL lines above first", 0)
    size = data.CIFAR10.size + CIFAR10_EXTRACTED_BYTES
    if not folder_check.facts.get("usable"):
        why = "the data folder cannot be used"
        return _unusable("CIFAR-10", why, "fix the data folder", size)
    folder, archive = Path(root) / data.CIFAR10.top_folder, Path(root) / data.CIFAR10.name
    problem = data.dataset_problem(folder, data.CIFAR10)
    has_archive = archive.is_file()
    to_fetch = 0 if has_archive else data.CIFAR10.size
    if problem is None:
        count = {split: n * len(data.CIFAR10.classes) for split, n in data.CIFAR10.splits}
        message = f"ready: {count['train']:,} training and {count['test']:,} test images"
        return Check("CIFAR-10", OK, message, "", {"state": "ready", "size": size, "to_fetch": 0})
    facts = {"size": size, "to_fetch": to_fetch + CIFAR10_EXTRACTED_BYTES}
    if not os.path.lexists(folder):
        facts["state"] = "absent"
        how = "extracts the archive that is here" if has_archive else "downloads it (168 MB)"
        if folder_check.facts.get("writable", True):
            return Check("CIFAR-10", OK, f"absent: {LESSON_OF['CIFAR-10']} {how}", "", facts)
        why = "absent, and the data folder is read-only, so lesson 05 cannot fetch it"
        fix = f"run `{command}` on a machine with internet access and copy the data folder"
        return Check("CIFAR-10", FAIL, why, fix, facts)
    facts["state"] = "incomplete"
    source = f"extracts {archive.name} again" if has_archive else "downloads it and extracts it"
    fix = f"run `{command}`: it {source}"
    if not folder_check.facts.get("writable", True):
        fix = f"the data folder is read-only: {fix} where it is writable, and copy it"
    return Check("CIFAR-10", FAIL, f"incomplete: {folder}: {problem}", fix, facts)


# --- where it runs ------------------------------------------------------------------------


def where_it_runs(environ: Mapping[str, str] | None = None) -> str:
    """Return where the course runs: ``colab``, ``binder``, ``checkout`` (course_utils
    imported from a clone of the repository) or ``installed`` (an installed package).
    Used by ``check_where`` and ``check_device`` (lesson 01)."""
    environ = os.environ if environ is None else environ
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in environ:
        return "colab"
    if any(key in environ for key in ("BINDER_LAUNCH_HOST", "BINDER_REQUEST", "BINDER_REPO_URL")):
        return "binder"
    return "checkout" if checkout_root() else "installed"


def check_where(kind: str) -> Check:
    """Say where the course runs (``kind`` from ``where_it_runs``), where course_utils
    comes from, and whether in a Jupyter kernel. WARN when the package is not installed.
    Returns a ``Check``. Introduced in lesson 01."""
    names = {
        "colab": "Google Colab",
        "binder": "Binder",
        "checkout": "a checkout",
        "installed": "an installed package",
    }
    package = Path(__file__).resolve().parent
    source = f"course_utils from {checkout_root() or package}"
    shell = "in a Jupyter kernel" if "ipykernel" in sys.modules else "in a terminal"
    message = f"{names[kind]}; {source}; {shell}"
    try:
        metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        fix = "pip install -e . in the checkout (or `make install`)"
        return Check("where", WARN, f"{message}; {DISTRIBUTION} is not installed", fix)
    return Check("where", OK, message, "", {"kind": kind})


# --- running and printing -----------------------------------------------------------------


def _guarded(name: str, function: Callable[..., Check], *args) -> Check:
    """``function(*args)``, or a FAIL line if the check itself raised: never a traceback."""
    try:
        return function(*args)
    except Exception as error:
        message = f"the check could not run ({type(error).__name__}: {error})"
        return Check(name, FAIL, message, "paste the block below into a question")


def run_checks(data_folder: Path | None = None, environ: Mapping[str, str] | None = None):
    """Run every check and return the list of ``Check`` results, in the report's order:
    Python and each package, the device, memory, the data folder (``data_folder``, default
    ``data.data_dir()``) and each dataset, disk, and where it runs. Never raises.
    Introduced in lesson 01."""
    environ = os.environ if environ is None else environ
    checks = []
    try:
        python, requirements, source = course_requirements()
    except Exception as error:
        python, requirements = "", []
        message = f"cannot read the course's requirements ({error})"
        fix = "pip install -e . in the checkout, or reinstall course_utils"
        checks.append(Check("requirements", FAIL, message, fix))
    else:
        checks.append(Check("requirements", OK, f"read from {source}"))
    root = checkout_root()
    pins = pinned_versions(root / "constraints.txt" if root else None)
    checks.append(_guarded("Python", check_python, python))
    for requirement in requirements:
        name = (_REQUIREMENT.fullmatch(requirement) or [requirement, requirement])[1]
        checks.append(_guarded(name, check_package, requirement, pins))
    kind = where_it_runs(environ)
    checks.append(_guarded("device", check_device, kind == "colab"))
    checks.append(_guarded("memory", lambda: check_memory(*memory_figures())))
    if data_folder is None:
        try:
            data_folder = _data_module().data_dir()
        except Exception as error:
            data_folder = None
            message = f"cannot tell where it is: course_utils.data does not import ({error})"
            checks.append(Check("data folder", FAIL, message, "fix the FAIL lines above first"))
    if data_folder is not None:
        data_folder = Path(data_folder)
        configured = bool(environ.get("COURSE_DATA_DIR"))
        folder_check = _guarded("data folder", check_data_folder, data_folder, configured)
        datasets = [
            _guarded("MNIST", check_idx_dataset, "MNIST", data_folder, folder_check),
            _guarded(
                "Fashion-MNIST", check_idx_dataset, "Fashion-MNIST", data_folder, folder_check
            ),
            _guarded("CIFAR-10", check_cifar10, data_folder, folder_check),
        ]
        needed = sum(int(check.facts.get("to_fetch", 0)) for check in datasets)
        in_all = sum(int(check.facts.get("size", 0)) for check in datasets)
        disk = _guarded("disk", check_disk, data_folder, needed, in_all)
        checks += [folder_check, *datasets, disk]
    checks.append(_guarded("where", check_where, kind))
    return checks


def _line(check: Check, width: int = 14) -> str:
    fix = f". Fix: {check.fix}" if check.fix and check.status != OK else ""
    return f"{check.status:<5} {check.name:<{width}} {check.message}{fix}"


def _summary(checks: Sequence[Check]) -> str:
    count = {status: sum(check.status == status for check in checks) for status in (WARN, FAIL)}
    if not any(count.values()):
        return f"All {len(checks)} checks OK."
    first = " Fix the FAIL lines first." if count[FAIL] else ""
    return f"{len(checks)} checks: {count[FAIL]} FAIL, {count[WARN]} WARN.{first}"


def format_report(checks: Sequence[Check]) -> str:
    """Return the full report: one line per check (status, name, message and, unless OK,
    the fix), a summary line, then ``paste_block``. Introduced in lesson 01."""
    width = max((len(check.name) for check in checks), default=0) + 1
    lines = [
        "Checking this environment for the course (nothing is downloaded or changed).",
        "Versions: from the lowest the course is tested with (pyproject.toml) to the "
        "pinned ones (constraints.txt); README.md, 'Tested with', lists each run.",
        "",
        *(_line(check, width) for check in checks),
        "",
        _summary(checks),
        "",
        paste_block(checks),
    ]
    return "\n".join(lines)


def private_names(environ: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Return the home folder's spellings (as given and resolved) and the user's names
    (``getpass.getuser()``, ``USER``, ``LOGNAME``, ``USERNAME``, the home folder's name),
    which ``paste_block`` keeps out of what it prints. Introduced in lesson 01."""
    environ = os.environ if environ is None else environ
    homes, users = [], []
    home = environ.get("HOME") or environ.get("USERPROFILE") or ""
    for spelling in (home, str(Path(home).resolve()) if home else ""):
        if len(spelling.rstrip("/\\")) > 1 and spelling.rstrip("/\\") not in homes:
            homes.append(spelling.rstrip("/\\"))
    try:
        users.append(getpass.getuser())
    except Exception:  # no user name to be found: nothing to hide
        pass
    users += [environ.get(key, "") for key in ("USER", "LOGNAME", "USERNAME")]
    users += [Path(spelling).name for spelling in homes]
    return homes, sorted({user for user in users if user}, key=len, reverse=True)


def scrub(text: str, homes: Sequence[str], users: Sequence[str]) -> str:
    """Return ``text`` with each home folder written ``~`` and each user name as
    ``<user>`` (whole words only). Used by ``paste_block`` (lesson 01)."""
    for home in sorted(homes, key=len, reverse=True):
        text = re.sub(re.escape(home) + r"(?=[/\\]|\b|$)", "~", text)
    for user in users:
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(user)}(?![A-Za-z0-9])", "<user>", text)
    return text


def paste_block(checks: Sequence[Check], environ: Mapping[str, str] | None = None) -> str:
    """Return the block to paste into a question: the platform, each check's status and
    message, and the summary, with the home folder written ``~`` and no user name
    (``scrub``). Introduced in lesson 01."""
    body = [
        f"platform: {platform.platform()}, Python {platform.python_version()}",
        *(f"{check.status} {check.name}: {check.message}" for check in checks),
        _summary(checks),
    ]
    text = scrub("\n".join(body), *private_names(environ))
    rule = "-" * 20
    return f"{rule} paste from here into your question {rule}\n{text}\n{rule} end {rule}"


def check_environment(data_folder: Path | None = None) -> bool:
    """Run every check and print a compact report: one summary line with the versions,
    device and datasets, then any WARN or FAIL line with its fix. Returns True when no
    check failed; never raises. The full report: ``python -m course_utils.doctor``.
    Introduced in lesson 01, in its first cell."""
    try:
        checks = run_checks(data_folder)
        facts = {check.name: check for check in checks}
        parts = [f"Python {platform.python_version()}"]
        parts += [
            f"{name} {facts[name].facts['version']}"
            for name in ("torch", "torchvision")
            if name in facts and "version" in facts[name].facts
        ]
        if "device" in facts and "device" in facts["device"].facts:
            parts.append(f"device {facts['device'].facts['device']}")
        datasets = [
            f"{name} {facts[name].facts.get('state', 'unknown')}"
            for name in ("MNIST", "Fashion-MNIST", "CIFAR-10")
            if name in facts
        ]
        print(f"Environment: {_summary(checks)} {', '.join(parts)}; {', '.join(datasets)}.")
        for check in checks:
            if check.status != OK:
                print(_line(check))
        if any(check.status != OK for check in checks):
            print("Details, and a block to paste into a question: python -m course_utils.doctor")
        return not any(check.status == FAIL for check in checks)
    except Exception as error:  # the compact form never stops a lesson
        print(f"Environment: the check could not run ({type(error).__name__}: {error}).")
        print("Run `python -m course_utils.doctor` in a terminal for details.")
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Print the full report; return the exit status: 1 on any FAIL, else 0."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.doctor", description=__doc__.splitlines()[0]
    )
    parser.parse_args(argv)
    try:
        checks = run_checks()
        print(format_report(checks))
    except Exception as error:  # run_checks guards each check: this is a last resort
        print(f"FAIL  doctor  could not run ({type(error).__name__}: {error})")
        return 1
    return 1 if any(check.status == FAIL for check in checks) else 0


if __name__ == "__main__":
    raise SystemExit(main())
