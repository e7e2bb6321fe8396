"""Data-parallel training with several processes: setting up, printing, launching.

Lesson 06 introduces every helper here. A training script launched by ``torchrun``
wraps its work in ``process_group()``, prints with ``rank_print`` and checks its
data with ``check_world_size``; the notebook that launches the script uses
``run_torchrun``, which also measures the time and memory of the processes,
``function_file`` to hand a script a function typed in the notebook, and
``lesson_scripts`` to find the lesson's scripts.
Every distributed call has a timeout, so a process that waits for a partner that
never comes fails with an error instead of hanging.
"""

from __future__ import annotations

import inspect
import math
import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import torch
import torch.distributed as dist

__all__ = [
    "DEFAULT_TIMEOUT",
    "FORK_WORKERS",
    "GLOO_SETTLE_SECONDS",
    "GroupInfo",
    "PortInUseError",
    "TorchrunResult",
    "check_port_free",
    "check_world_size",
    "free_port",
    "function_file",
    "largest_gap_between_processes",
    "lesson_scripts",
    "process_group",
    "rank_print",
    "run_torchrun",
    "simulate_group",
    "torchrun_command",
]

FORK_WORKERS = sys.platform == "linux"
"""Whether ``run_torchrun`` forks the workers from a launcher that imported PyTorch once.

Each process that imports PyTorch holds about 280 MB of memory of its own (measured on
Linux, PyTorch 2.x). The ``torchrun`` command starts every worker as a fresh Python, so a
launch of 2 workers holds three such copies beside the notebook's. Forked workers share the
launcher's pages until they write to them. Fork is safe only while the workers stay off CUDA:
torchrun's launcher asks PyTorch how many accelerators there are before it starts the
workers (``LaunchConfig``), which, with a GPU visible, leaves a forked worker unable to
start CUDA ("Cannot re-initialize CUDA in forked subprocess"). So ``run_torchrun`` forks
only for workers that run on the CPU (``cpu_only``, or no GPU at all); on macOS and
Windows the default is a fresh Python per worker, as ``torchrun`` does.
"""

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
    ``ValueError``, with numbers, when the effective batch (``world_size`` x
    ``batch_size``) is larger than the data: every process would then get fewer samples
    than one batch, and each step would average fewer samples than asked for.
    Introduced in lesson 06.
    """
    for name, value in (
        ("num_samples", num_samples),
        ("batch_size", batch_size),
        ("world_size", world_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    effective = world_size * batch_size
    if effective > num_samples:
        raise ValueError(
            f"{world_size} processes x batches of {batch_size} make an effective batch of "
            f"{effective:,}, more than the {num_samples:,} samples: each process would get "
            f"{num_samples / world_size:.4g} samples per epoch, less than one batch. Use fewer "
            "processes, smaller batches or more data."
        )
    return math.ceil(math.ceil(num_samples / world_size) / batch_size)


def _mac_without_gloo_interface(environment: Mapping[str, str]) -> bool:
    """On a Mac gloo binds to the address of the machine's name, and a ".local" name often
    resolves to none (pytorch/pytorch#26049): true there unless ``environment`` already
    names an interface (``GLOO_SOCKET_IFNAME``), so that processes that all run on this
    machine can be given the loopback, ``lo0``."""
    return sys.platform == "darwin" and "GLOO_SOCKET_IFNAME" not in environment


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
    On a Mac, with gloo and every process on this machine, the group talks over the
    loopback (``GLOO_SOCKET_IFNAME=lo0`` while the group lasts), since gloo often finds
    no address for a Mac's name; an interface the environment already names is kept.
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
    # The loopback where every process is on this machine (LOCAL_WORLD_SIZE == WORLD_SIZE).
    loopback = (
        backend == "gloo"
        and _mac_without_gloo_interface(os.environ)
        and os.environ.get("LOCAL_WORLD_SIZE") == os.environ["WORLD_SIZE"]
    )
    if loopback:  # for the group's whole life: new_group() binds gloo again
        os.environ["GLOO_SOCKET_IFNAME"] = "lo0"
    try:
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
    finally:
        if loopback:
            del os.environ["GLOO_SOCKET_IFNAME"]


def largest_gap_between_processes(tensor: torch.Tensor) -> torch.Tensor:
    """The largest gap between the processes' copies of any one value of ``tensor``.

    Two all-reduces, of each value's smallest and of its largest copy, on the tensor's
    device; every process must call it. Returns a 0-dimensional tensor on that device: 0
    where every process holds exactly the same values. Introduced in lesson 06 (its
    scripts check DDP's copies of a model with it).
    """
    smallest, largest = tensor.detach().clone(), tensor.detach().clone()
    dist.all_reduce(smallest, op=dist.ReduceOp.MIN)
    dist.all_reduce(largest, op=dist.ReduceOp.MAX)
    return (largest - smallest).max()


def rank_print(*values: object, all_ranks: bool = False, **print_options) -> None:
    """Print from rank 0 only, or from every rank with a ``[rank N]`` prefix if ``all_ranks``.

    Outside a process group it prints like ``print``. Output is flushed at once, so
    lines from several processes reach a captured log in time. Introduced in lesson 06.
    """
    print_options.setdefault("flush", True)
    if not dist.is_initialized():
        print(*values, **print_options)
        return
    if not all_ranks and dist.get_rank() != 0:
        return
    # One string, one write: print(*values) writes each value, separator and the end
    # apart, so another process's line could land mid-line (rank 0's lines included).
    # None means the default, as it does for print.
    separator = print_options.pop("sep", None)
    separator = " " if separator is None else separator
    end = print_options.pop("end", None)
    end = "\n" if end is None else end
    text = separator.join(str(value) for value in values)
    prefix = f"[rank {dist.get_rank()}] " if all_ranks else ""
    print(f"{prefix}{text}{end}", end="", **print_options)


def torchrun_command(
    script: str | os.PathLike,
    nproc: int,
    args: Sequence[str] = (),
    port: int | None = None,
    *,
    fork_workers: bool = False,
) -> list[str]:
    """Return the command that runs ``script`` in ``nproc`` processes on this machine.

    It is ``torchrun --standalone --nproc_per_node=N script args...``, spelled
    ``python -m torch.distributed.run`` so that it uses this Python. With ``port``,
    the rendezvous listens on that loopback port instead of one torchrun picks. With
    ``fork_workers``, ``python -m course_utils.distributed`` takes the same options and
    runs torchrun's own launcher, which forks the workers instead of starting new Pythons
    (see ``FORK_WORKERS``). Introduced in lesson 06.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive whole number, got {nproc!r}")
    module = "course_utils.distributed" if fork_workers else "torch.distributed.run"
    launcher = [sys.executable, "-m", module]
    if port is None:
        launcher.append("--standalone")
    else:
        launcher += ["--nnodes=1", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}"]
    return [*launcher, f"--nproc_per_node={nproc}", str(script), *map(str, args)]


def _run_script(script: str, *args: str) -> None:
    """What a forked worker runs: ``script`` with ``args``, as ``python script args`` would."""
    sys.argv = [script, *args]
    sys.path[0] = str(Path(script).resolve().parent)
    runpy.run_path(script, run_name="__main__")


def _launch_forked(argv: Sequence[str]) -> None:
    """``torchrun argv``, with torchrun's parser and launcher, but forked workers."""
    import uuid

    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, get_args_parser

    options = get_args_parser().parse_args(list(argv))
    if options.standalone:  # what torchrun does for --standalone
        options.rdzv_backend, options.rdzv_endpoint = "c10d", "localhost:0"
        options.rdzv_id = str(uuid.uuid4())
    if options.master_port is None:
        options.master_port = 29500
    config, _, _ = config_from_args(options)
    config.start_method = "fork"
    elastic_launch(config, _run_script)(options.training_script, *options.training_script_args)


@dataclass
class TorchrunResult:
    """What ``run_torchrun`` measured: the output, the time and the memory of the run (the
    three memory fields are ``nan`` for a run started with ``sample_memory=False``)."""

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
    fork_workers: bool = FORK_WORKERS,
    sample_memory: bool = True,
) -> TorchrunResult:
    """Run ``script`` under torchrun in ``nproc`` processes; return its output, time and memory.

    Each process gets ``threads_per_process`` intra-op threads (``OMP_NUM_THREADS``;
    by default the CPU cores divided by ``nproc``, at least 1), so the processes do
    not fight over the cores. Progress bars are turned off (``TQDM_DISABLE``), since
    the output is captured. While the run lasts, the resident memory of the launcher
    and its workers is sampled every 0.05 s; with ``sample_memory=False`` it is not (the
    memory fields are then ``nan``), so a run timed on a machine with few cores shares
    them with nothing but its own workers. Raises ``FileNotFoundError`` for a missing script,
    ``PortInUseError`` if ``port`` is taken, ``TimeoutError`` after ``timeout``
    seconds (all processes are stopped) and ``RuntimeError`` with the end of the
    output if the run fails.

    Where CUDA is available, ``process_group`` gives each process a GPU of its own, so
    ``nproc`` larger than the number of GPUs raises ``ValueError`` before anything
    starts. ``cpu_only=True`` hides the GPUs from the processes
    (``CUDA_VISIBLE_DEVICES=""``): they then run on the CPU with gloo, whatever the
    machine has. On a Mac the processes talk over the loopback (``GLOO_SOCKET_IFNAME=lo0``,
    as ``process_group`` also sets) unless the environment already names an interface.

    ``fork_workers`` (by default on Linux, see ``FORK_WORKERS``) runs torchrun's launcher
    with the same options, environment variables and rendezvous, but forks the workers from
    it, so that they share its copy of PyTorch in memory; workers that will use GPUs start
    as fresh Pythons whatever it says, since a forked one cannot start CUDA. Introduced in
    lesson 06.
    """
    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"no script at {script}")
    threads = threads_per_process or max(1, (os.cpu_count() or 1) // nproc)
    # Unbuffered output (torchrun starts its workers with `python -u` too): lines reach the
    # captured log in the order the processes print them.
    environment = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "TQDM_DISABLE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if cpu_only:
        environment["CUDA_VISIBLE_DEVICES"] = ""  # no GPU visible: process_group picks gloo
    if _mac_without_gloo_interface(environment):
        # As process_group does (see there), for scripts that set up their group by hand
        # (lesson 06's collectives.py): every process of this launch is on this machine.
        environment["GLOO_SOCKET_IFNAME"] = "lo0"
    environment.update(env or {})
    # GPUs the workers can see: none where CUDA_VISIBLE_DEVICES is empty (cpu_only, or env).
    on_gpus = torch.cuda.is_available() and environment.get("CUDA_VISIBLE_DEVICES") != ""
    # Workers on GPUs start as fresh Pythons: forked ones could not start CUDA (FORK_WORKERS).
    command = torchrun_command(script, nproc, args, port, fork_workers=fork_workers and not on_gpus)
    if on_gpus and nproc > torch.cuda.device_count():
        gpus = torch.cuda.device_count()
        raise ValueError(
            f"{nproc} processes need {nproc} GPUs, one each (NCCL), but this machine has "
            f"{gpus}. Start at most {gpus}, or run the same script on CPU processes with "
            "gloo: run_torchrun(..., cpu_only=True)."
        )
    if port is not None:
        check_port_free(port)
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
            if sample_memory:
                total, largest = _tree_rss(watched)
                peak, peak_worker = max(peak, total), max(peak_worker, largest)
                if samples % 5 == 0:  # reading every mapping of a process takes longer
                    peak_pss = max(peak_pss, _tree_pss(watched))
                samples += 1
            try:  # until the next sample; without sampling, wake only to check the timeout
                process.wait(timeout=0.05 if sample_memory else 0.5)
            except subprocess.TimeoutExpired:
                pass
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
    peaks = (peak, peak_worker, peak_pss)
    megabytes = [size / 2**20 if sample_memory else math.nan for size in peaks]
    return TorchrunResult(command, output, seconds, *megabytes)


def simulate_group(world_size: int, work: Callable[[int], Any], timeout: float = 10.0) -> list:
    """Run ``work(rank)`` for every rank of a pretend group, one thread per rank; return results.

    A stand-in for checking code that calls ``dist.all_reduce`` (on a CPU tensor, summing),
    ``dist.get_rank``, ``dist.get_world_size`` and ``dist.is_initialized`` without starting
    processes: while it runs, those functions of ``torch.distributed`` are replaced by
    versions that work across the threads. Any other reduction raises ``RuntimeError``, as
    ``ReduceOp.AVG`` does with gloo. A rank that calls ``all_reduce`` a different number of
    times from the others fails after ``timeout`` seconds, where real processes would hang.
    Not for training: one process, one thread at a time. Introduced in lesson 06.
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive whole number, got {world_size!r}")
    local = threading.local()
    barrier = threading.Barrier(world_size, timeout=timeout)
    deposits: dict[int, list] = {}
    lock = threading.Lock()

    def all_reduce(tensor, op=dist.ReduceOp.SUM, group=None, async_op=False):
        if op != dist.ReduceOp.SUM:
            raise RuntimeError(f"this stand-in, like gloo, sums only; it was asked for {op}")
        call = local.calls
        local.calls += 1
        with lock:
            deposits.setdefault(call, [None] * world_size)[local.rank] = tensor.detach().clone()
        barrier.wait()
        total = torch.stack(deposits[call]).sum(dim=0)
        barrier.wait()
        tensor.copy_(total)
        return _Done() if async_op else None

    results: list = [None] * world_size
    errors: list = [None] * world_size

    def run(rank: int) -> None:
        local.rank, local.calls = rank, 0
        try:
            results[rank] = work(rank)
        except BaseException as error:  # reported to the caller below
            errors[rank] = error
            barrier.abort()  # the other ranks stop waiting for this one

    replaced = {
        "all_reduce": all_reduce,
        "get_rank": lambda group=None: local.rank,
        "get_world_size": lambda group=None: world_size,
        "is_initialized": lambda: True,
    }
    saved = {name: getattr(dist, name) for name in replaced}
    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(world_size)]
    try:
        for name, function in replaced.items():
            setattr(dist, name, function)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for name, function in saved.items():
            setattr(dist, name, function)
    first = next((error for error in errors if error is not None), None)
    if isinstance(first, threading.BrokenBarrierError):
        causes = [e for e in errors if e and not isinstance(e, threading.BrokenBarrierError)]
        first = causes[0] if causes else first
    if isinstance(first, threading.BrokenBarrierError):
        raise RuntimeError(
            "the ranks did not make the same all_reduce calls: every process must call every "
            "collective, in the same order"
        ) from first
    if first is not None:
        raise first
    return results


class _Done:
    """What ``simulate_group``'s all_reduce returns for ``async_op=True``: already done."""

    def wait(self) -> bool:
        return True


def lesson_scripts(places: Sequence[str | Path] | None = None) -> Path:
    """Return the folder of lesson 06's scripts: the first of ``places`` that is a folder,
    as given. By default it looks in ``scripts`` (the lesson run from ``notebooks/``), then
    ``../notebooks/scripts`` (from ``student/``, the student version), then the
    ``notebooks/scripts`` of the checkout that holds ``course_utils``. Raises
    ``FileNotFoundError`` naming every place it looked in when none is a folder.
    Introduced in lesson 06."""
    if places is None:
        checkout = Path(__file__).resolve().parents[1]
        places = ["scripts", "../notebooks/scripts", checkout / "notebooks" / "scripts"]
    places = [Path(place) for place in places]
    for place in places:
        if place.is_dir():
            return place
    looked = ", ".join(str(place) for place in places)
    raise FileNotFoundError(f"no folder of lesson scripts in any of: {looked}")


def save_mnist_split_in_child(
    folder: str | Path, val_size: int = 10_000, timeout: float = 600.0
) -> Path:
    """Run ``course_utils.data.save_mnist_split(folder, val_size=val_size)`` in a child
    Python and return the path of the file it wrote, as ``save_mnist_split`` returned it.

    The calling process never imports torchvision, which ``course_utils.data`` needs: on
    PyTorch's CUDA build that import alone holds about 160 MB, which lesson 06's notebook
    keeps for its launches of 3 processes. The child reads or downloads MNIST as
    ``mnist()`` does (``COURSE_DATA_DIR`` included). Raises ``RuntimeError`` with the end of
    the child's error output if it fails, and ``subprocess.TimeoutExpired`` after
    ``timeout`` seconds. Introduced in lesson 06."""
    code = (
        "import sys; from course_utils.data import save_mnist_split as s; "
        "print(s(sys.argv[1], val_size=int(sys.argv[2])))"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(folder), str(val_size)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if child.returncode != 0:
        tail = "\n".join(child.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"save_mnist_split failed in its child Python:\n{tail}")
    return Path(child.stdout.strip().splitlines()[-1])  # the path save_mnist_split returned


FUNCTION_FILE_HEADER = "import torch\nimport torch.distributed as dist\nfrom torch import nn\n\n\n"
"""What ``function_file`` writes above the function: the imports a lesson's function uses."""


def function_file(function: Callable, path: str | Path) -> Path:
    """Write ``function``'s source, as typed (``inspect.getsource``), below
    ``FUNCTION_FILE_HEADER``'s imports, to ``path``, so that a launched script can load it
    (``runpy.run_path``). Returns the path. Raises ``TypeError`` for anything that is not a
    function defined in source code. Lesson 06."""
    if not inspect.isfunction(function):
        raise TypeError(f"function_file needs a function defined with def, got {function!r}")
    path = Path(path)
    path.write_text(FUNCTION_FILE_HEADER + inspect.getsource(function))
    return path


if __name__ == "__main__":
    # python -m course_utils.distributed [torchrun options] script [args]: see torchrun_command
    _launch_forked(sys.argv[1:])
