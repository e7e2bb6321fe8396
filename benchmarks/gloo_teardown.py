"""How often a gloo script aborts at exit, with and without process_group's settle pause.

Lesson 06's scripts wrap a model in DistributedDataParallel inside
``course_utils.distributed.process_group``. On a busy 2-core machine such a script
sometimes finished its work and then aborted while Python shut down ("terminate
called without an active exception"): a gloo worker thread freed the tensors of a
finished collective call after the interpreter was gone. ``process_group`` now
pauses ``GLOO_SETTLE_SECONDS`` after leaving a gloo group. This script launches the
same small DDP script many times under torchrun, once with the pause turned off and
once with it on, while other processes keep every core busy, and prints the
failures of each way and their ratio.

    python benchmarks/gloo_teardown.py --launches 60 --busy 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.distributed import GLOO_SETTLE_SECONDS, run_torchrun  # noqa: E402

# Like lesson 06's one-step script: DDP, a backward pass, two all-reduces, all at
# module level, so their tensors live until Python shuts down.
SCRIPT = """\
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from course_utils.distributed import process_group
from course_utils.models import MLP

with process_group(timeout=60, settle_seconds=float(sys.argv[1])) as group:
    torch.manual_seed(group.rank)
    images, labels = torch.randn(32, 28 * 28), torch.randint(0, 10, (32,))
    torch.manual_seed(0)
    model = DistributedDataParallel(MLP(28 * 28, [32], 10))
    F.cross_entropy(model(images), labels).backward()
    flat = torch.cat([p.grad.flatten() for p in model.parameters()])
    smallest, largest = flat.clone(), flat.clone()
    dist.all_reduce(smallest, op=dist.ReduceOp.MIN)
    dist.all_reduce(largest, op=dist.ReduceOp.MAX)
    assert torch.equal(smallest, largest)
"""


def keep_busy(stop_at: float) -> None:
    """Spin until ``stop_at`` (a time.monotonic value): one fully used core."""
    while time.monotonic() < stop_at:
        pass


def count_failures(script: Path, settle_seconds: float, launches: int) -> tuple[int, int]:
    """Launch ``script`` ``launches`` times; return (aborts at exit, other failures)."""
    aborts = others = 0
    for launch in range(1, launches + 1):
        try:
            run_torchrun(script, nproc=2, args=[str(settle_seconds)], timeout=120)
        except RuntimeError as error:
            if "terminate called" in str(error):
                aborts += 1
            else:
                others += 1
                print(str(error)[-800:], file=sys.stderr)
        print(
            f"  settle {settle_seconds} s: {launch}/{launches} launched, {aborts} aborts",
            end="\r",
            flush=True,
        )
    print()
    return aborts, others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=60, help="launches for each way")
    parser.add_argument("--busy", type=int, default=2, help="processes that keep a core busy")
    args = parser.parse_args()
    if args.launches < 1 or args.busy < 0:
        parser.error("--launches must be at least 1 and --busy at least 0")

    ways = {"no pause": 0.0, f"pause {GLOO_SETTLE_SECONDS} s (default)": GLOO_SETTLE_SECONDS}
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "ddp_exit.py"
        script.write_text(SCRIPT)
        for name, settle_seconds in ways.items():
            start = time.perf_counter()
            busy = [
                multiprocessing.Process(target=keep_busy, args=(time.monotonic() + 3600,))
                for _ in range(args.busy)
            ]
            for process in busy:
                process.start()
            try:
                aborts, others = count_failures(script, settle_seconds, args.launches)
            finally:
                for process in busy:
                    process.terminate()
                    process.join()
            results[name] = aborts
            print(
                f"{name:>28}: {aborts}/{args.launches} launches aborted at exit, "
                f"{others} failed otherwise, {time.perf_counter() - start:.0f} s"
            )
    before, after = results.values()
    ratio = "n/a (no aborts with the pause)" if after == 0 else f"{before / after:.1f}x"
    print(f"busy processes: {args.busy}; aborts without / with the pause: {ratio}")


if __name__ == "__main__":
    main()
