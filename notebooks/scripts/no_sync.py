"""Gradient accumulation under DDP: skip the all-reduce with no_sync() until the last part.

Each process splits its shard of a batch into 2 micro-batches. Inside model.no_sync(),
backward() only adds to .grad, without communicating; the backward of the last
micro-batch, outside it, all-reduces the summed gradients once.
Run: torchrun --standalone --nproc_per_node=2 no_sync.py batch.pt
"""

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from course_utils.distributed import process_group, rank_print
from course_utils.models import MLP


def same_everywhere(tensor: torch.Tensor) -> bool:
    """Whether every process holds exactly this tensor (its smallest and largest copies agree)."""
    smallest, largest = tensor.clone(), tensor.clone()
    dist.all_reduce(smallest, op=dist.ReduceOp.MIN)
    dist.all_reduce(largest, op=dist.ReduceOp.MAX)
    return torch.equal(smallest, largest)


def all_gradients(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([parameter.grad.flatten() for parameter in model.parameters()])


with process_group(timeout=60) as group:
    rank, world_size, device = group.rank, group.world_size, group.device
    batch = torch.load(sys.argv[1], weights_only=True)
    images, labels = batch["images"].to(device), batch["labels"].to(device)
    part = len(images) // world_size
    my_images = images[rank * part : (rank + 1) * part]
    my_labels = labels[rank * part : (rank + 1) * part]
    halves = (slice(0, part // 2), slice(part // 2, part))  # 2 micro-batches
    device_ids = [device] if group.backend == "nccl" else None

    torch.manual_seed(0)
    model = DistributedDataParallel(MLP(28 * 28, [32], 10).to(device), device_ids=device_ids)
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

    # The same step without accumulation: each process's whole shard at once.
    torch.manual_seed(0)
    plain = DistributedDataParallel(MLP(28 * 28, [32], 10).to(device), device_ids=device_ids)
    F.cross_entropy(plain(my_images), my_labels).backward()
    gap = (accumulated - all_gradients(plain)).abs().max().item()
    rank_print(
        f"accumulated == one DDP step on the whole shard: "
        f"{torch.allclose(accumulated, all_gradients(plain), atol=1e-6)} (largest gap {gap:.1e})"
    )
