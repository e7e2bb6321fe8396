import random

import numpy as np
import pytest
import torch

from course_utils.settings import full_or_smoke, seed_everything


def test_full_or_smoke_picks_by_mode():
    assert full_or_smoke(full=10, smoke=1, smoke_mode=True) == 1
    assert full_or_smoke(full=10, smoke=1, smoke_mode=False) == 10


def test_smoke_follows_the_environment(monkeypatch):
    import importlib

    import course_utils.settings as settings

    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert importlib.reload(settings).SMOKE is True
    monkeypatch.setenv("COURSE_SMOKE", "0")
    assert importlib.reload(settings).SMOKE is False


def test_seed_everything_makes_every_generator_repeat():
    def draw(generator):
        return random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item()

    first = draw(seed_everything(42))
    second = draw(seed_everything(42))
    assert first == second
    assert draw(seed_everything(43)) != first


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError):
        seed_everything(bad)
