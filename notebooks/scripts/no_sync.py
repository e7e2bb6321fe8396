"""Gradient accumulation under DDP: skip the all-reduce with no_sync() until the last part.

Each process splits its shard of a batch into 2 micro-batches. Inside model.no_sync(),
backward() only adds to .grad, without communicating; the backward of the last
micro-batch, outside it, all-reduces the summed gradients once. A communication hook
counts DDP's all-reduces, with no_sync and without it.
Run: torchrun --standalone --nproc_per_node=2 no_sync.py batch.pt
(With CUDA but fewer GPUs than processes, start with `CUDA_VISIBLE_DEVICES=`: the
processes then run on the CPU with gloo, as in the lesson's outputs without 2 GPUs.)
"""

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.nn.parallel import DistributedDataParallel

from course_utils.distributed import largest_gap_between_processes, process_group, rank_print
from course_utils.models import MLP


def same_everywhere(tensor: torch.Tensor) -> bool:
    """Whether every process holds exactly this tensor (its smallest and largest copies agree)."""
    return largest_gap_between_processes(tensor).item() == 0


def all_gradients(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([parameter.grad.flatten() for parameter in model.parameters()])


def counting_hook(calls: list, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """DDP's communication hook: count the call, then all-reduce as DDP does by default."""
    calls.append(bucket.index())
    return allreduce_hook(None, bucket)  # None: the default group, every process


def counted_ddp(
    device: torch.device, device_ids: list | None
) -> tuple[DistributedDataParallel, list]:
    """Lesson 03's MLP under DDP, seed 0, with a hook that records every all-reduce."""
    torch.manual_seed(0)
    model = DistributedDataParallel(MLP(28 * 28, [32], 10).to(device), device_ids=device_ids)
    calls = []
    model.register_comm_hook(calls, counting_hook)
    return model, calls


with process_group(timeout=60) as group:
    rank, world_size, device = group.rank, group.world_size, group.device
    batch = torch.load(sys.argv[1], weights_only=True)
    images, labels = batch["images"].to(device), batch["labels"].to(device)
    part = len(images) // world_size
    my_images = images[rank * part : (rank + 1) * part]
    my_labels = labels[rank * part : (rank + 1) * part]
    halves = (slice(0, part // 2), slice(part // 2, part))  # 2 micro-batches
    device_ids = [device] if group.backend == "nccl" else None

    model, calls = counted_ddp(device, device_ids)
    with model.no_sync():  # backward adds to .grad and sends nothing
        loss = F.cross_entropy(model(my_images[halves[0]]), my_labels[halves[0]])
        # The mean over 2 equal micro-batches: halved, the two gradients add up to the
        # gradient of the whole shard's mean loss.
        (loss / 2).backward()
    rank_print(
        "after micro-batch 1, inside no_sync: gradients equal in every process:",
        same_everywhere(all_gradients(model)),
    )
    loss = F.cross_entropy(model(my_images[halves[1]]), my_labels[halves[1]])
    (loss / 2).backward()  # outside no_sync: all-reduce the accumulated gradients
    accumulated = all_gradients(model)
    rank_print(
        "after micro-batch 2, outside no_sync: gradients equal in every process:",
        same_everywhere(accumulated),
    )
    # The same 2 micro-batches without no_sync: every backward all-reduces.
    unsynced, unsynced_calls = counted_ddp(device, device_ids)
    for half in halves:
        (F.cross_entropy(unsynced(my_images[half]), my_labels[half]) / 2).backward()
    rank_print(f"all-reduces per accumulated step of 2 micro-batches, with no_sync: {len(calls)}")
    rank_print(
        f"all-reduces per accumulated step of 2 micro-batches, without no_sync: "
        f"{len(unsynced_calls)}"
    )

    # The same step without accumulation: each process's whole shard at once.
    torch.manual_seed(0)
    plain = DistributedDataParallel(MLP(28 * 28, [32], 10).to(device), device_ids=device_ids)
    F.cross_entropy(plain(my_images), my_labels).backward()
    gap = (accumulated - all_gradients(plain)).abs().max().item()
    rank_print(
        f"accumulated == one DDP step on the whole shard: "
        f"{torch.allclose(accumulated, all_gradients(plain), atol=1e-6)} (largest gap {gap:.1e})"
    )
