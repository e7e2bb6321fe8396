"""Batch norm under data parallelism: the whole batch's statistics, all-reduced by hand.

Each process first compares the mean of its shard with the mean of the whole batch. Then it
does by hand what SyncBatchNorm does: it all-reduces, channel by channel, the sums, the sums
of squares and the counts of a small convolution's outputs on its shard (and compares its
shard's channel means with the whole batch's), normalises its shard with the whole batch's
mean and variance, and compares the result with BatchNorm2d in training mode applied by one
process to the whole batch (each process has the whole batch here, so each can compute
that). Last, it converts the model's BatchNorm2d to SyncBatchNorm, which this PyTorch runs
on GPUs only: on the CPU it prints the refusal.
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
    mine = slice(rank * part, (rank + 1) * part)

    # The shards' inputs differ: the mean of every pixel, of my shard and of the whole batch.
    shard_mean = images[mine].mean()
    total = images[mine].sum().reshape(1)
    count = torch.tensor([float(images[mine].numel())], device=device)
    dist.all_reduce(total)  # sums over every process's shard
    dist.all_reduce(count)
    rank_print(
        f"mean of my shard {shard_mean.item():+.4f}, of the whole batch "
        f"{(total / count).item():+.4f}",
        all_ranks=True,
    )

    # A convolution, then batch norm over its 8 channels: the same weights in every process.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8)).to(device)  # training mode
    norm = model[1]
    with torch.no_grad():
        # The whole batch's convolution outputs (images, channels, height, width), computed
        # once; my shard's are cut from them, so both sides below normalise the same numbers.
        convolved = model[0](images)
        features = convolved[mine]
        # Batch norm's statistics of the whole batch, by hand, channel by channel: every
        # process's sums, sums of squares and counts of values, added up.
        sums = features.sum(dim=(0, 2, 3))
        squares = (features**2).sum(dim=(0, 2, 3))
        counts = torch.full_like(sums, features.numel() / features.shape[1])
        own_mean = sums / counts  # my shard's own channel means, before the all-reduce
        for tensor in (sums, squares, counts):
            dist.all_reduce(tensor)
        mean = sums / counts
        variance = squares / counts - mean**2  # the biased variance, as batch norm divides by
        channel = (1, -1, 1, 1)  # one value per channel, for every image and pixel
        by_hand = (features - mean.view(channel)) / (variance.view(channel) + norm.eps).sqrt()
        by_hand = by_hand * norm.weight.view(channel) + norm.bias.view(channel)
        # One process on the whole batch: in training mode BatchNorm2d uses its statistics.
        whole = norm(convolved)[mine]
        own = norm(features)  # batch norm on my shard alone, with my shard's statistics
    # The statistic batch norm normalises with: each channel's mean, my shard's and the
    # whole batch's (the all-reduced one).
    mean_gap = (own_mean - mean).abs().max().item()
    rank_print(
        f"my shard's channel means against the whole batch's, largest gap: {mean_gap:.1e}",
        all_ranks=True,
    )
    gap = (by_hand - whole).abs().max().item()
    same = torch.allclose(by_hand, whole, atol=1e-5)
    rank_print(
        f"normalised by hand == BatchNorm2d on the whole batch: {same} (largest gap {gap:.1e})",
        all_ranks=True,
    )
    own_gap = (own - whole).abs().max().item()  # from BatchNorm2d on the whole batch
    rank_print(
        f"normalised with my shard's own statistics, largest gap: {own_gap:.1e}", all_ranks=True
    )

    # SyncBatchNorm combines every process's per-channel mean, variance and count in its
    # forward pass: the equivalent of the by-hand statistics above.
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    try:
        with torch.no_grad():
            result = synced(images[mine])
        same = torch.allclose(result, by_hand, atol=1e-5)
        rank_print(f"SyncBatchNorm on {device}, the same as by hand: {same}", all_ranks=True)
    except ValueError as error:  # this PyTorch's SyncBatchNorm refuses CPU tensors
        if device.type == "cuda":  # there it should have run: a real failure
            raise
        rank_print(
            f"SyncBatchNorm on the {device.type} ({group.backend}), refused as expected: "
            f"ValueError: {error}"
        )
