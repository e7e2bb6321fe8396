"""Data-parallel training with several processes: setting up, printing, launching.

Lesson 06 introduces every helper here. A training script launched by ``torchrun``
wraps its work in ``process_group()``, prints with ``rank_print`` and checks its
data with ``check_world_size``; the notebook that launches the script uses
``run_torchrun``, which also measures the time and memory of the processes.
Every distributed call has a timeout, so a process that waits for a partner that
never comes fails with an error instead of hanging.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psutil
import torch
import torch.distributed as dist

__all__ = [
    "DEFAULT_TIMEOUT",
    "GLOO_SETTLE_SECONDS",
    "GroupInfo",
    "PortInUseError",
    "TorchrunResult",
    "check_port_free",
    "check_world_size",
    "free_port",
    "process_group",
    "rank_print",
    "run_torchrun",
    "torchrun_command",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds a distributed call waits for the other processes before it fails."""

GLOO_SETTLE_SECONDS = 0.5
"""Seconds ``process_group`` waits after leaving a gloo group, before the script goes on.

Why: when a collective call returns, the gloo worker thread that ran it may still
hold it for a moment, and a later barrier keeps a reference to it too. If Python
shuts down before the worker lets go, the worker frees the tensors of that call
after the interpreter is gone and the process aborts with "terminate called without
an active exception" (seen on a busy 2-core machine, at the end of a script that
wraps a model in DistributedDataParallel: DDP keeps the group alive, so destroying
it does not join the worker threads). ``benchmarks/gloo_teardown.py`` measures how
often this happens with and without the pause.
"""

_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class PortInUseError(OSError):
    """A port that a run was asked to use is already taken by another program."""


@dataclass(frozen=True)
class GroupInfo:
    """Where this process stands in its process group (what ``process_group`` yields)."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    """Where this process keeps its model and batches: ``cuda:LOCAL_RANK`` with NCCL, which
    carries only GPU tensors; the CPU with gloo."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that no program is listening on right now.

    The operating system picks it (binding to port 0). Another program could take it
    before you do, so use it at once. Introduced in lesson 06.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise ``PortInUseError`` if ``port`` on ``host`` cannot be used; return ``None`` if it can.

    The message names the port and says what to do. ``ValueError`` for a number that is
    not a port at all. Introduced in lesson 06.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"a port is a whole number from 1 to 65535, got {port!r}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUseError(
                f"port {port} on {host} is already in use (another run, or another program, "
                "holds it): choose another port, for example free_port(), or stop that run "
                "first"
            ) from error


def check_world_size(num_samples: int, batch_size: int, world_size: int) -> int:
    """Check that ``world_size`` processes can share ``num_samples`` in batches of ``batch_size``.

    Returns the number of batches each process takes per epoch (``DistributedSampler``
    gives every process ``ceil(num_samples / world_size)`` samples). Raises
    ``ValueError``, with numbers, when there are more processes than batches: some
    process would then train on padding alone. Introduced in lesson 06.
    """
    for name, value in (
        ("num_samples", num_samples),
        ("batch_size", batch_size),
        ("world_size", world_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    batches = math.ceil(num_samples / batch_size)
    if world_size > batches:
        raise ValueError(
            f"{world_size} processes asked for, but {num_samples:,} samples make only "
            f"{batches} batch{'es' if batches != 1 else ''} of {batch_size}: every process "
            "needs at least one batch of its own. Use fewer processes, smaller batches or "
            "more data."
        )
    return math.ceil(math.ceil(num_samples / world_size) / batch_size)


@contextmanager
def process_group(
    backend: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    settle_seconds: float = GLOO_SETTLE_SECONDS,
) -> Iterator[GroupInfo]:
    """Join the process group that ``torchrun`` set up, and leave it at the end.

    Reads ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` from the
    environment (``torchrun`` sets them), calls ``init_process_group`` with
    ``timeout`` seconds for every collective call, yields a ``GroupInfo`` (rank, world
    size, local rank, backend). When the block ends, it waits for every process to
    get there too (a barrier), then destroys the group; after an error it destroys
    the group at once. With gloo it then pauses ``settle_seconds`` (see
    ``GLOO_SETTLE_SECONDS``). ``backend`` defaults to ``"nccl"`` when CUDA is available
    and to ``"gloo"`` otherwise (Apple's MPS has no backend of its own: a Mac uses gloo).
    The group comes with its device, ``GroupInfo.device``: with NCCL each process takes
    GPU number ``LOCAL_RANK`` (``torch.cuda.set_device``), with gloo the CPU. A script
    moves its model and every batch there, so the same script runs on CPUs and GPUs.
    Raises ``RuntimeError`` when the variables are missing (the script was not launched
    by ``torchrun``), a group already exists, or NCCL is asked for with more processes
    than GPUs. Introduced in lesson 06.
    """
    missing = [name for name in _LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not set: this script must be launched by torchrun, for "
            "example `torchrun --standalone --nproc_per_node=2 script.py`"
        )
    if dist.is_initialized():
        raise RuntimeError("a process group already exists in this process: leave it first")
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if settle_seconds < 0:
        raise ValueError(f"settle_seconds must be 0 or more, got {settle_seconds!r}")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cpu")
    if backend == "nccl":
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if local_rank >= gpus:
            raise RuntimeError(
                f"this process has LOCAL_RANK {local_rank}, but the machine has {gpus} GPU(s): "
                "with NCCL every process needs a GPU of its own. Start at most "
                f"{gpus} process(es) per machine, or run on CPU processes with gloo (hide the "
                "GPUs: CUDA_VISIBLE_DEVICES= torchrun ..., or run_torchrun(..., cpu_only=True))"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout))
    try:
        yield GroupInfo(dist.get_rank(), dist.get_world_size(), local_rank, backend, device)
        # Leave together: a process that tears down its connections while a partner
        # still uses them can abort the partner (gloo's "terminate called ...").
        dist.barrier()
    finally:
        dist.destroy_process_group()
        if backend == "gloo":
            # Give gloo's worker threads time to let go of finished work while Python
            # still runs (see GLOO_SETTLE_SECONDS); time.sleep releases the GIL.
            time.sleep(settle_seconds)


def rank_print(*values: object, all_ranks: bool = False, **print_options) -> None:
    """Print from rank 0 only, or from every rank with a ``[rank N]`` prefix if ``all_ranks``.

    Outside a process group it prints like ``print``. Output is flushed at once, so
    lines from several processes reach a captured log in time. Introduced in lesson 06.
    """
    print_options.setdefault("flush", True)
    if not dist.is_initialized():
        print(*values, **print_options)
    elif all_ranks:
        # One string, one write: lines of several processes do not interleave mid-line.
        separator = print_options.pop("sep", " ")
        text = separator.join(str(value) for value in values)
        print(f"[rank {dist.get_rank()}] {text}", **print_options)
    elif dist.get_rank() == 0:
        print(*values, **print_options)


def torchrun_command(
    script: str | os.PathLike,
    nproc: int,
    args: Sequence[str] = (),
    port: int | None = None,
) -> list[str]:
    """Return the command that runs ``script`` in ``nproc`` processes on this machine.

    It is ``torchrun --standalone --nproc_per_node=N script args...``, spelled
    ``python -m torch.distributed.run`` so that it uses this Python. With ``port``,
    the rendezvous listens on that loopback port instead of one torchrun picks.
    Introduced in lesson 06.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive whole number, got {nproc!r}")
    launcher = [sys.executable, "-m", "torch.distributed.run"]
    if port is None:
        launcher.append("--standalone")
    else:
        launcher += ["--nnodes=1", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}"]
    return [*launcher, f"--nproc_per_node={nproc}", str(script), *map(str, args)]


@dataclass
class TorchrunResult:
    """What ``run_torchrun`` measured: the output, the time and the memory of the run."""

    command: list[str]
    output: str
    seconds: float
    peak_rss_mb: float
    """Highest sum of resident memory of the launcher and its workers, sampled."""
    peak_worker_rss_mb: float
    """Highest resident memory of any one worker process."""
    peak_pss_mb: float
    """Highest sum of proportional memory (shared pages split between the processes
    that share them): what the run adds to the machine's memory, sampled less often."""


def _tree_pss(process: psutil.Process) -> int:
    """The summed PSS of ``process`` and its descendants (0 where the system cannot tell)."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += getattr(member.memory_full_info(), "pss", 0)
        except psutil.Error:
            continue
    return total


def _tree_rss(process: psutil.Process) -> tuple[int, int]:
    """The summed RSS of ``process`` and its descendants, and the largest descendant's."""
    total = largest = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for member in members:
        try:
            rss = member.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        if member.pid != process.pid:
            largest = max(largest, rss)
    return total, largest


def _stop(process: subprocess.Popen) -> None:
    """End the launcher and its workers (their own process group), then reap them."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def run_torchrun(
    script: str | os.PathLike,
    nproc: int,
    args: Sequence[str] = (),
    *,
    timeout: float = 300.0,
    threads_per_process: int | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    cpu_only: bool = False,
) -> TorchrunResult:
    """Run ``script`` under torchrun in ``nproc`` processes; return its output, time and memory.

    Each process gets ``threads_per_process`` intra-op threads (``OMP_NUM_THREADS``;
    by default the CPU cores divided by ``nproc``, at least 1), so the processes do
    not fight over the cores. Progress bars are turned off (``TQDM_DISABLE``), since
    the output is captured. While the run lasts, the resident memory of the launcher
    and its workers is sampled. Raises ``FileNotFoundError`` for a missing script,
    ``PortInUseError`` if ``port`` is taken, ``TimeoutError`` after ``timeout``
    seconds (all processes are stopped) and ``RuntimeError`` with the end of the
    output if the run fails.

    Where CUDA is available, ``process_group`` gives each process a GPU of its own, so
    ``nproc`` larger than the number of GPUs raises ``ValueError`` before anything
    starts. ``cpu_only=True`` hides the GPUs from the processes
    (``CUDA_VISIBLE_DEVICES=""``): they then run on the CPU with gloo, whatever the
    machine has. Introduced in lesson 06.
    """
    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"no script at {script}")
    command = torchrun_command(script, nproc, args, port)
    if not cpu_only and torch.cuda.is_available() and nproc > torch.cuda.device_count():
        gpus = torch.cuda.device_count()
        raise ValueError(
            f"{nproc} processes need {nproc} GPUs, one each (NCCL), but this machine has "
            f"{gpus}. Start at most {gpus}, or run the same script on CPU processes with "
            "gloo: run_torchrun(..., cpu_only=True)."
        )
    if port is not None:
        check_port_free(port)
    threads = threads_per_process or max(1, (os.cpu_count() or 1) // nproc)
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
    if cpu_only:
        environment["CUDA_VISIBLE_DEVICES"] = ""  # no GPU visible: process_group picks gloo
    environment.update(env or {})
    chunks: list[str] = []
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
        start_new_session=True,  # its own process group, so a timeout can stop every worker
    )
    reader = threading.Thread(target=lambda: chunks.extend(process.stdout), daemon=True)
    reader.start()
    watched = psutil.Process(process.pid)
    peak = peak_worker = peak_pss = samples = 0
    try:
        while process.poll() is None:
            if time.perf_counter() - start > timeout:
                _stop(process)
                raise TimeoutError(
                    f"torchrun ran for more than {timeout:g} s and was stopped; its output "
                    f"ended with:\n{''.join(chunks)[-2000:]}"
                )
            total, largest = _tree_rss(watched)
            peak, peak_worker = max(peak, total), max(peak_worker, largest)
            if samples % 5 == 0:  # reading every mapping of a process takes longer
                peak_pss = max(peak_pss, _tree_pss(watched))
            samples += 1
            time.sleep(0.05)
    except BaseException:
        if process.poll() is None:
            _stop(process)
        raise
    seconds = time.perf_counter() - start
    reader.join(timeout=10)
    output = "".join(chunks)
    if process.returncode != 0:
        raise RuntimeError(
            f"torchrun exited with status {process.returncode}; its output ended with:\n"
            f"{output[-3000:]}"
        )
    return TorchrunResult(
        command, output, seconds, peak / 2**20, peak_worker / 2**20, peak_pss / 2**20
    )
