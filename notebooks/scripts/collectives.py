"""Collective calls by hand: all_reduce and broadcast on small tensors, with gloo.

Run: torchrun --standalone --nproc_per_node=2 collectives.py
"""

import os
import sys
from datetime import timedelta

import torch
import torch.distributed as dist

# torchrun told this process who it is through environment variables.
rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
# Join the group: every process calls this, and it returns once all have arrived.
dist.init_process_group("gloo", timeout=timedelta(seconds=60))


def say(text: str) -> None:
    """Print a line with this process's rank, in one write (lines of 2 processes stay whole)."""
    sys.stdout.write(f"[rank {rank}] {text}\n")
    sys.stdout.flush()


say(f"of world size {world_size}, local rank {os.environ['LOCAL_RANK']}, met at {where}")
dist.barrier()

# all_reduce: every process gives a tensor, every process gets back the sum.
mine = torch.tensor([1.0, 10.0]) * (rank + 1)  # rank 0 holds [1, 10], rank 1 [2, 20]
before = mine.tolist()
dist.all_reduce(mine)  # in place, op=SUM by default
say(f"all_reduce: had {before}, now holds the sum {mine.tolist()}")
mine /= world_size  # the sum over the world size: the average
say(f"divided by world size {world_size}: the mean {mine.tolist()}")
dist.barrier()

# broadcast: one process (src) sends its tensor; every other one overwrites its own.
torch.manual_seed(rank)  # a different random tensor in each process...
weights = torch.randn(3)
drawn = [round(value, 4) for value in weights.tolist()]
dist.broadcast(weights, src=0)  # ...until rank 0's is copied to everyone
say(f"broadcast from rank 0: drew {drawn}, now holds {[round(v, 4) for v in weights.tolist()]}")
dist.barrier()
dist.destroy_process_group()
