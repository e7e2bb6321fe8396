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
