"""Batch norm under data parallelism: each process sees only its shard's statistics.

Compares the mean a BatchNorm layer would use on each process's shard with the mean of
the whole batch (all-reduced by hand), then converts a small model's BatchNorm layers
to SyncBatchNorm, which computes the whole batch's statistics across the processes.
Run: torchrun --standalone --nproc_per_node=2 batch_norm.py batch.pt
(With CUDA but fewer GPUs than processes, start with `CUDA_VISIBLE_DEVICES=`: the
processes then run on the CPU with gloo, as in the lesson's outputs without 2 GPUs.)
"""

import sys

import torch
import torch.distributed as dist
from torch import nn

from course_utils.distributed import process_group, rank_print

with process_group(timeout=60) as group:
    rank, world_size, device = group.rank, group.world_size, group.device
    images = torch.load(sys.argv[1], weights_only=True)["images"].to(device)
    part = len(images) // world_size
    mine = images[rank * part : (rank + 1) * part]

    # What batch norm normalises with: the mean over the batch (here of every pixel).
    shard_mean = mine.mean()
    total = mine.sum().reshape(1)
    count = torch.tensor([float(mine.numel())], device=device)
    dist.all_reduce(total)  # sums over every process's shard
    dist.all_reduce(count)
    batch_mean = total / count
    # The scale to judge a gap by: batch norm divides by the standard deviation, so a gap in
    # the mean of g shifts every normalised value by g / std.
    squares = ((mine - batch_mean) ** 2).sum().reshape(1)
    dist.all_reduce(squares)
    batch_std = (squares / count).sqrt().item()
    rank_print(
        f"mean of my shard {shard_mean.item():+.4f}, of the whole batch {batch_mean.item():+.4f}",
        all_ranks=True,
    )
    rank_print(f"whole batch's standard deviation (the scale of the values): {batch_std:.4f}")

    # Fewer images per process: cut my shard into groups of `size` images; group g of every
    # process makes one batch. The gap between a group's mean and its batch's, averaged.
    gaps = {}
    for size in (4, 8, part):
        groups = mine[: part // size * size].reshape(part // size, size, -1)
        group_means = groups.mean(dim=(1, 2))
        batch_means = group_means.clone()
        dist.all_reduce(batch_means)  # equal groups: the mean of the means is the batch's
        batch_means /= world_size
        gap = (group_means - batch_means).abs().mean().reshape(1)
        dist.all_reduce(gap)  # averaged over the processes too
        gaps[size] = gap.item() / world_size
        rank_print(
            f"{size} images per process: shard mean vs batch mean, average gap "
            f"{gaps[size]:.4f} over {part // size} batch(es), "
            f"{gaps[size] / batch_std:.1%} of the standard deviation"
        )
    rank_print(f"gap larger with 4 images per process than with {part}:", gaps[4] > gaps[part])

    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten())
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model).to(device)
    rank_print("after convert_sync_batchnorm:", [type(layer).__name__ for layer in synced])
    try:
        synced(mine)  # the batch statistics are all-reduced across the processes here
        rank_print("SyncBatchNorm ran on", device)
    except ValueError as error:  # this PyTorch's SyncBatchNorm refuses CPU tensors
        if device.type == "cuda":  # there it should have run: a real failure
            raise
        rank_print(
            f"SyncBatchNorm on the {device.type} ({group.backend}), refused as expected: "
            f"ValueError: {error}"
        )
