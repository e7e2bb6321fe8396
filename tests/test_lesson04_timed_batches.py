"""Lesson 04's ``TimedBatches`` (section 6), run on the CPU against a simulated GPU queue.

On a GPU a step's kernels and a batch's copy are queued and finish later. ``TimedBatches``
must synchronise before each wait (so the previous step's queued work is not counted as
waiting) and after it (so the batch's queued copy is). A fake clock and a fake
``synchronize`` that drains a queue of device work stand in for the GPU: removing either
call from the lesson makes this test fail.
"""

import types

import pytest

from instructor.lessons import lesson_definitions

FETCH, COPY, STEP = 0.1, 0.05, 1.0  # seconds: host fetch, queued copy, queued step


class SimulatedGPU:
    """A clock and a queue of device work that only `synchronize` waits for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.queued = 0.0

    def perf_counter(self) -> float:
        return self.now

    def synchronize(self, device) -> None:
        self.now += self.queued
        self.queued = 0.0


class Loader:
    """Three batches; each costs FETCH on the host and queues COPY on the device."""

    def __init__(self, gpu: SimulatedGPU) -> None:
        self.gpu = gpu

    def __iter__(self):
        for batch in range(3):
            self.gpu.now += FETCH
            self.gpu.queued += COPY
            yield batch

    def __len__(self) -> int:
        return 3


@pytest.fixture
def timed_batches():
    gpu = SimulatedGPU()
    lesson = lesson_definitions(
        "04_gpu_training.py",
        {"TimedBatches"},
        {
            "time": types.SimpleNamespace(perf_counter=gpu.perf_counter),
            "synchronize": gpu.synchronize,
        },
    )
    return gpu, lesson["TimedBatches"](Loader(gpu), "cuda (simulated)")


def test_a_wait_holds_the_batch_copy_and_not_the_previous_step(timed_batches):
    gpu, batches = timed_batches
    assert len(batches) == 3
    for _epoch in range(2):
        for _ in batches:
            gpu.queued += STEP  # the training step, queued on the device
    assert batches.waits == pytest.approx([3 * (FETCH + COPY)] * 2)


@pytest.fixture
def against_spread():
    """Appendix B's one rule for a gap beside the spread of a few epoch times."""
    return lesson_definitions("04_gpu_training.py", {"against_spread"})["against_spread"]


@pytest.mark.parametrize(
    ("gap", "times", "expected"),
    [
        (None, [1.0, 2.0, 3.0], "none"),
        (0.5, [1.0], "not judged (1 epoch)"),
        (0.5, [1.0, 2.0], "not judged (2 epochs)"),
        (0.5, [1.0, 1.001, 1.004], "not judged (a spread of 0.00 s)"),
        (0.44, [3.98, 4.32, 4.42], "within it"),  # equal as printed: within
        (0.43, [4.0, 4.2, 4.434], "within it"),  # 0.434 raw, 0.43 as printed: within
        (-0.5, [1.0, 1.2, 1.4], "beyond it"),  # a gap counts by its size
        (0.39, [1.0, 1.2, 1.4], "within it"),
    ],
)
def test_a_gap_is_judged_against_the_printed_spread_of_three_or_more_times(
    against_spread, gap, times, expected
):
    assert against_spread(gap, times, "epoch") == expected
