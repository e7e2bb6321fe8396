"""A data-parallel step by hand: all_reduce the gradients, divide by the world size.

First, each process draws its own initial weights, and wrapping the model in
DistributedDataParallel makes them equal (it broadcasts rank 0's). Then each process takes
its shard of one batch, computes its gradients, and averages them with the others'. The
result is compared with one process on the whole batch, and with what
DistributedDataParallel computes.
Run: torchrun --standalone --nproc_per_node=2 manual_ddp.py batch.pt [average.py]
(average.py, if given, defines average_gradients(model), as in the lesson's exercise 1: the
script then averages with it instead of its own loop.)
(With CUDA but fewer GPUs than processes, start with `CUDA_VISIBLE_DEVICES=`: the
processes then run on the CPU with gloo, as in the lesson's outputs without 2 GPUs.)
"""

import runpy
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils import parameters_to_vector

from course_utils.distributed import largest_gap_between_processes, process_group, rank_print
from course_utils.models import MLP


def gradients_on(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list:
    """The gradients of the mean cross-entropy of ``model`` on a batch, one per parameter."""
    model.zero_grad()
    F.cross_entropy(model(images), labels).backward()
    return [parameter.grad.clone() for parameter in model.parameters()]


def largest_gap(first: list, second: list) -> float:
    """The largest absolute difference between two lists of gradients."""
    return max((a - b).abs().max().item() for a, b in zip(first, second, strict=True))


def weight_spread(model: torch.nn.Module) -> torch.Tensor:
    """The largest gap between the processes' copies of any one weight (0 when all agree)."""
    weights = parameters_to_vector(model.parameters())  # every weight, in one flat tensor
    return largest_gap_between_processes(weights)  # each weight's smallest and largest copy


def average_by_hand(model: torch.nn.Module, world_size: int) -> None:
    """The data-parallel step by hand: sum every gradient over the processes, then divide."""
    for parameter in model.parameters():
        dist.all_reduce(parameter.grad)  # every process now holds the sum
        parameter.grad /= world_size  # the mean of the shards' mean gradients


with process_group(timeout=60) as group:
    rank, world_size, device = group.rank, group.world_size, group.device
    batch = torch.load(sys.argv[1], weights_only=True)
    images, labels = batch["images"].to(device), batch["labels"].to(device)
    part = len(images) // world_size  # rank r takes images [r * part, (r + 1) * part)
    mine = slice(rank * part, (rank + 1) * part)

    torch.manual_seed(rank)  # a different draw of the initial weights in every process
    drawn = MLP(28 * 28, [32], 10).to(device)
    before = weight_spread(drawn)
    # Wrapping the model broadcasts rank 0's weights (and buffers) over every other process's.
    ddp = DistributedDataParallel(drawn, device_ids=[device] if group.backend == "nccl" else None)
    after = weight_spread(ddp.module)

    # The step by hand, on a plain model (no DDP) holding those equal weights.
    model = MLP(28 * 28, [32], 10).to(device)
    model.load_state_dict(ddp.module.state_dict())
    own = gradients_on(model, images[mine], labels[mine])  # my shard only
    if len(sys.argv) > 2:  # the learner's own average_gradients, from its file
        runpy.run_path(sys.argv[2])["average_gradients"](model)
        rank_print("gradients averaged by: your average_gradients")
    else:
        average_by_hand(model, world_size)
        rank_print("gradients averaged by: the script's loop")
    by_hand = [parameter.grad.clone() for parameter in model.parameters()]

    # One process on the whole batch (each process can do it here: it has the batch).
    whole = gradients_on(model, images, labels)
    # DistributedDataParallel on my shard: it averages the gradients inside backward().
    from_ddp = gradients_on(ddp, images[mine], labels[mine])

    rank_print(
        f"initial weights drawn with a seed per rank, largest gap between the processes: "
        f"{before.item():.1e} before DDP, {after.item():.1e} after wrapping in DDP"
    )
    rank_print(
        f"images {mine.start} to {mine.stop - 1} of {len(images)}; my own gradient vs the "
        f"whole batch's, largest gap: {largest_gap(own, whole):.1e}",
        all_ranks=True,
    )
    # To judge that gap: the size of the whole batch's gradient values.
    values = torch.cat([gradient.flatten() for gradient in whole]).abs()
    rank_print(
        f"whole batch's gradient values: mean size {values.mean().item():.1e}, "
        f"largest {values.max().item():.1e}"
    )
    for name, other in (("whole batch", whole), ("DDP", from_ddp)):
        gap = largest_gap(by_hand, other)
        rank_print(
            f"averaged by hand == {name}: {gap < 1e-6} (largest gap {gap:.1e})", all_ranks=True
        )
