"""Train lesson 03's MLP on MNIST with DistributedDataParallel, one process per device.

Run: torchrun --standalone --nproc_per_node=2 train_ddp.py --data DATA.pt --out FOLDER
(With CUDA but fewer GPUs than processes, start with `CUDA_VISIBLE_DEVICES=`: the
processes then run on the CPU with gloo, as in the lesson's outputs without 2 GPUs.)
"""

import argparse
import json
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils import parameters_to_vector
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from course_utils.checkpoint import save_checkpoint
from course_utils.distributed import (
    check_world_size,
    largest_gap_between_processes,
    process_group,
    rank_print,
)
from course_utils.models import MLP

parser = argparse.ArgumentParser()
parser.add_argument("--data", type=Path, required=True)
parser.add_argument("--out", type=Path, required=True)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--train-size", type=int, default=50_000)
parser.add_argument("--batch-size", type=int, default=64, help="per process")
parser.add_argument("--lr", type=float, default=0.2)
args = parser.parse_args()
MEAN, STD = 0.1307, 0.3081  # MNIST's pixel mean and standard deviation


def as_input(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (kept small in memory) -> normalised floats."""
    return (pixels.float() / 255 - MEAN) / STD


with process_group(timeout=60) as group:
    rank, world_size, device = group.rank, group.world_size, group.device
    rank_print(f"intra-op threads: {torch.get_num_threads()}, device: {device}", all_ranks=True)
    # The notebook decoded MNIST once and cut the validation split, as lesson 03 does;
    # mmap=True maps the file, so the processes share one copy of it in memory.
    data = torch.load(args.data, mmap=True, weights_only=True)
    train_images = data["train_images"][: args.train_size]
    train_labels = data["train_labels"][: args.train_size]
    val_images, val_labels = data["val_images"], data["val_labels"]
    check_world_size(len(train_images), args.batch_size, world_size)

    # The sampler hands each process a different shard of the shuffled indices.
    train_set = TensorDataset(train_images, train_labels)
    sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, seed=0)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)
    # Validation is sharded too: every world_size-th image, from the rank's offset on.
    my_val_images = val_images[rank::world_size].to(device)
    my_val_labels = val_labels[rank::world_size].to(device)

    torch.manual_seed(0)  # the same initial weights everywhere (DDP also copies rank 0's)
    model = MLP(28 * 28, [32], 10).to(device)
    model = DistributedDataParallel(model, device_ids=[device] if group.backend == "nccl" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    rank_print(
        f"{world_size} process(es) x {args.batch_size} images = effective batch "
        f"{world_size * args.batch_size}, learning rate {args.lr}, "
        f"{len(loader)} steps per epoch per process"
    )
    history = []
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        for images, labels in loader:  # my shard's batches
            images, labels = as_input(images.to(device)), labels.to(device)  # moved, normalised
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()  # DDP all-reduces (averages) the gradients here
            optimizer.step()
        model.eval()
        with torch.no_grad():
            outputs = model.module(as_input(my_val_images))
            # Sums over my shard, kept on my device (NCCL carries only GPU tensors).
            totals = torch.stack(
                [
                    F.cross_entropy(outputs, my_val_labels, reduction="sum"),
                    (outputs.argmax(dim=1) == my_val_labels).sum().float(),
                    torch.tensor(float(len(my_val_labels)), device=device),
                ]
            )
        dist.all_reduce(totals)  # sum the shards' counts over every process
        val_loss, val_acc = (totals[:2] / totals[2]).tolist()
        history.append({"epoch": epoch, "val_loss": val_loss, "val_acc": val_acc})
        rank_print(f"epoch {epoch}: val_loss {val_loss:.4f}, val_acc {val_acc:.4f}")
        if rank == 0:  # one process writes; the others would write the same weights
            save_checkpoint(
                args.out / "checkpoint.pt", model.module, optimizer, epoch=epoch, val_acc=val_acc
            )
        dist.barrier()  # nobody runs ahead of the checkpoint
    # Did the copies stay equal? Each weight's smallest and largest copy over the processes.
    weights = parameters_to_vector(model.parameters())  # every weight, in one flat tensor
    gap = largest_gap_between_processes(weights).item()
    rank_print(f"after training, the largest gap between the processes' weights: {gap:.1e}")
    if rank == 0:
        (args.out / "history.json").write_text(json.dumps(history))
