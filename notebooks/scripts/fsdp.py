"""FSDP in miniature: each process holds only a shard of every parameter.

fully_shard (FSDP2) splits every parameter of each wrapped layer across the processes;
a layer's full weights are gathered only while it computes. For comparison, each process
also counts the parameters it holds of the same model under DistributedDataParallel.
Run: torchrun --standalone --nproc_per_node=2 fsdp.py
(With CUDA but fewer GPUs than processes, start with `CUDA_VISIBLE_DEVICES=`: the
processes then run on the CPU with gloo, as in the lesson's outputs without 2 GPUs.)
"""

import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.device_mesh import init_device_mesh
from torch.nn.parallel import DistributedDataParallel

from course_utils.distributed import process_group, rank_print
from course_utils.models import MLP

try:
    from torch.distributed.fsdp import fully_shard  # public from PyTorch 2.6
except ImportError:
    try:  # PyTorch 2.4 and 2.5 kept it under a private name
        from torch.distributed._composable.fsdp import fully_shard
    except ImportError:  # older: say what would have run, and stop without an error
        if os.environ.get("RANK", "0") == "0":
            print(
                f"fully_shard (FSDP2) needs PyTorch 2.4 or later, and this is "
                f"{torch.__version__}: not run. Each process would have held half of the "
                "parameters of lesson 03's MLP, and gradients for that half only."
            )
        raise SystemExit(0) from None


def first_linear(model: torch.nn.Module) -> torch.nn.Linear:
    """The model's first Linear layer, whose weights the gather by hand checks."""
    return next(layer for layer in model.modules() if isinstance(layer, torch.nn.Linear))


with process_group(timeout=60) as group:
    device = group.device
    torch.manual_seed(0)
    model = MLP(28 * 28, [32], 10).to(device)
    full = sum(parameter.numel() for parameter in model.parameters())
    # The processes, laid out on the group's device. Without it, fully_shard would pick
    # the machine's GPU (CUDA, or MPS on a Mac) even for a gloo group on the CPU.
    mesh = init_device_mesh(device.type, (group.world_size,))
    for layer in model.modules():
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)  # each layer gathers its weights on its own
    fully_shard(model, mesh=mesh)
    mine = sum(parameter.to_local().numel() for parameter in model.parameters())
    rank_print(f"holds {mine:,} of the model's {full:,} parameters", all_ranks=True)
    # DDP, for comparison: the same model wrapped whole, a full copy in every process.
    device_ids = [device] if group.backend == "nccl" else None
    replicated = DistributedDataParallel(MLP(28 * 28, [32], 10).to(device), device_ids=device_ids)
    under_ddp = sum(parameter.numel() for parameter in replicated.parameters())
    rank_print(f"under DDP, parameters this process holds: {under_ddp:,}", all_ranks=True)
    torch.manual_seed(group.rank)
    images = torch.randn(16, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (16,), device=device)
    F.cross_entropy(model(images), labels).backward()
    grads = sum(parameter.grad.to_local().numel() for parameter in model.parameters())
    rank_print(f"after backward, holds gradients for {grads:,} of them", all_ranks=True)
    # What FSDP does before a layer computes, by hand: all_gather every process's slice of
    # the first layer's weights, stack them, and compare with an unsharded seed-0 copy.
    first = first_linear(model)
    my_slice = first.weight.to_local()
    rows = first.weight.shape[0]
    if rows % group.world_size:  # FSDP then pads the last slices; all_gather wants equal ones
        rank_print(f"gather by hand skipped: {rows} rows do not split evenly over the processes")
    else:
        pieces = [torch.empty_like(my_slice) for _ in range(group.world_size)]
        dist.all_gather(pieces, my_slice.contiguous())
        torch.manual_seed(0)
        whole = first_linear(MLP(28 * 28, [32], 10).to(device)).weight
        gathered = torch.cat(pieces)
        rank_print(
            f"first layer's weights: my slice {tuple(my_slice.shape)}, gathered "
            f"{tuple(gathered.shape)}, equal to the unsharded copy: "
            f"{torch.equal(gathered, whole)}"
        )
