"""What a data-parallel step spends on communication: time it.

Times, in each process, six things for lesson 03's MLP: a step that computes alone
(forward, backward, optimizer step, no communication), the same step under
DistributedDataParallel (which all-reduces the gradients in backward), the DDP step inside
``no_sync`` (DDP's wrapper around forward, with nothing prepared or sent), a bare all-reduce
of as many numbers as the model's gradients, timed between the steps, and the step alone
on twice the images (what one process does to train on the same effective batch; rank 0
times it while the other processes wait at a barrier, so that nothing competes with it,
as nothing would with one process), and on the images of one process, timed the same way
(so that what halving saves compares two steps timed alike). Each is the median of many
repeats, timed in turn, and each timing starts when all processes are ready. Rank 0 first
prints the world size. Every process prints its own medians; rank 0 also prints the
processes' figures together: a step of the group ends when its slowest process ends, so
each repeat counts the slowest process's time (an all-reduce with MAX, once the clocks have
stopped), and the figure is the median of those.
Run: torchrun --standalone --nproc_per_node=2 comm_cost.py
(With CUDA but fewer GPUs than processes, start with `CUDA_VISIBLE_DEVICES=`: the
processes then run on the CPU with gloo, as in the lesson's outputs without 2 GPUs.)
"""

import statistics
import time
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from course_utils.device import synchronize
from course_utils.distributed import process_group, rank_print
from course_utils.models import MLP

REPEATS, WARM_UP = 120, 20


def median_seconds(works: dict, device: torch.device) -> tuple[dict, dict]:
    """The median time of each of ``works`` over REPEATS rounds, after WARM_UP rounds:
    this process's own, then the slowest process's, round by round.

    Each round times every work once, in turn, so that a busy moment of the machine
    slows all of them alike. Returns two dicts, work -> seconds: the median of this
    process's own times, and the median over the rounds of each round's largest time of
    any process (the time they all wait for), the same in every process.
    """
    times = {name: [] for name in works}
    for repeat in range(WARM_UP + REPEATS):
        for name, work in works.items():
            dist.barrier()  # start together: nobody's time includes waiting for the other
            start = time.perf_counter()
            work()
            synchronize(device)  # on a GPU, wait for the queued work to finish
            if repeat >= WARM_UP:
                times[name].append(time.perf_counter() - start)
    own = {name: statistics.median(values) for name, values in times.items()}
    # Once every clock has stopped: each round's time of the slowest process, a row per work.
    slowest = torch.tensor(list(times.values()), device=device)  # float32: ample for ms
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    rows = zip(times, slowest.tolist(), strict=True)
    together = {name: statistics.median(row) for name, row in rows}
    return own, together


def sgd_step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
    """Forward, backward and a plain SGD step."""
    model.zero_grad()
    F.cross_entropy(model(images), labels).backward()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter -= 0.01 * parameter.grad


def time_one_size(batch_size: int, group) -> None:
    """Time the six things for ``batch_size`` images per process; print them."""
    device = group.device
    images = torch.randn(2 * batch_size, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (2 * batch_size,), device=device)
    double_images, double_labels = images, labels  # one process on the effective batch
    images, labels = images[:batch_size], labels[:batch_size]
    torch.manual_seed(0)
    alone = MLP(28 * 28, [32], 10).to(device)
    ddp = DistributedDataParallel(
        MLP(28 * 28, [32], 10).to(device),
        device_ids=[device] if group.backend == "nccl" else None,
    )
    # All the model's gradients in one tensor, as DDP sends them (this model: one bucket).
    gradients = torch.zeros(sum(p.numel() for p in alone.parameters()), device=device)

    def ddp_step_without_exchange() -> None:
        with ddp.no_sync():  # DDP prepares no reduction and sends nothing in backward
            sgd_step(ddp, images, labels)

    def on_rank_0(step_images: torch.Tensor, step_labels: torch.Tensor) -> Callable[[], None]:
        """A step on rank 0 alone, on the images given."""

        def step() -> None:
            if group.rank == 0:  # the others go straight on to the next barrier and wait there
                sgd_step(alone, step_images, step_labels)

        return step

    medians, together = median_seconds(
        {
            "compute": lambda: sgd_step(alone, images, labels),
            "ddp": lambda: sgd_step(ddp, images, labels),
            "no_sync": ddp_step_without_exchange,
            "exchange": lambda: dist.all_reduce(gradients),
            "single": on_rank_0(images, labels),
            "double": on_rank_0(double_images, double_labels),
        },
        device,
    )
    compute, with_ddp, exchange = medians["compute"], medians["ddp"], medians["exchange"]
    added = with_ddp - compute  # what DDP adds to a step: the exchange and its bookkeeping
    rank_print(
        f"batch {batch_size} per process: step without communication "
        f"{compute * 1e3:.3f} ms, DDP step {with_ddp * 1e3:.3f} ms, DDP step inside no_sync "
        f"{medians['no_sync'] * 1e3:.3f} ms, DDP added "
        f"{added * 1e3:.3f} ms ({added / compute:.2f} x the step), all-reduce of "
        f"{gradients.numel():,} gradients between the steps {exchange * 1e3:.3f} ms",
        all_ranks=True,
    )
    rank_print(
        f"batch {batch_size} per process: rank 0 alone (the others waiting at a barrier), "
        f"step on {batch_size} images {medians['single'] * 1e3:.3f} ms, "
        f"step on {2 * batch_size} images {medians['double'] * 1e3:.3f} ms"
    )
    ms = {name: seconds * 1e3 for name, seconds in together.items()}
    rank_print(
        f"batch {batch_size} per process, each repeat the slowest rank's time: step without "
        f"communication {ms['compute']:.3f} ms, DDP step {ms['ddp']:.3f} ms, DDP step inside "
        f"no_sync {ms['no_sync']:.3f} ms, all-reduce between the steps {ms['exchange']:.3f} ms"
    )


with process_group(timeout=60) as group:
    # Printed once, by rank 0: read_comm_cost checks that ranks 0 to world size - 1 all printed.
    rank_print(f"world size: {group.world_size}")
    torch.manual_seed(group.rank)
    for batch_size in (64, 1024):  # images per process and step
        time_one_size(batch_size, group)
