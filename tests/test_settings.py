import random

import numpy as np
import pytest
import torch
from conftest import ROOT

from course_utils.settings import (
    SMOKE_ENV,
    full_or_smoke,
    parse_flag,
    seed_everything,
    smoke_mode,
)


def test_full_or_smoke_picks_by_mode():
    assert full_or_smoke(full=10, smoke=1, smoke_mode=True) == 1
    assert full_or_smoke(full=10, smoke=1, smoke_mode=False) == 10


def test_smoke_mode_is_read_when_asked_not_at_import(monkeypatch):
    monkeypatch.setenv(SMOKE_ENV, "1")
    assert smoke_mode() is True
    assert full_or_smoke(full=10, smoke=1) == 1
    monkeypatch.setenv(SMOKE_ENV, "0")  # no reload: the change is seen at once
    assert smoke_mode() is False
    assert full_or_smoke(full=10, smoke=1) == 10
    monkeypatch.delenv(SMOKE_ENV)
    assert smoke_mode() is False


def test_the_smoke_variable_is_named_once():
    assert SMOKE_ENV == "COURSE_SMOKE"
    sources = [*ROOT.glob("course_utils/*.py"), *ROOT.glob("instructor/*.py")]
    naming = [path.name for path in sources if '"COURSE_SMOKE"' in path.read_text()]
    assert naming == ["settings.py"]


@pytest.mark.parametrize("value", ["1", "true", "True", "YES", "on", " y "])
def test_usual_true_spellings_turn_smoke_mode_on(monkeypatch, value):
    monkeypatch.setenv(SMOKE_ENV, value)
    assert smoke_mode() is True


@pytest.mark.parametrize("value", ["0", "false", "No", "OFF", ""])
def test_usual_false_spellings_turn_smoke_mode_off(monkeypatch, value):
    monkeypatch.setenv(SMOKE_ENV, value)
    assert smoke_mode() is False


@pytest.mark.parametrize("value", ["2", "smoke", "ture"])
def test_an_unknown_spelling_is_refused_with_the_variable_named(monkeypatch, value):
    monkeypatch.setenv(SMOKE_ENV, value)
    with pytest.raises(ValueError, match=f"COURSE_SMOKE={value!r} is neither true nor false"):
        smoke_mode()
    with pytest.raises(ValueError, match="COURSE_SMOKE"):
        full_or_smoke(full=10, smoke=1)


def test_parse_flag_names_its_variable():
    with pytest.raises(ValueError, match="MY_FLAG"):
        parse_flag("MY_FLAG", "maybe")


def test_seed_everything_makes_every_generator_repeat():
    def draw(generator):
        return (
            random.random(),
            np.random.rand(),
            torch.rand(1).item(),
            torch.rand(1, generator=generator).item(),
        )

    first = draw(seed_everything(42))
    second = draw(seed_everything(42))
    assert first == second
    assert draw(seed_everything(43)) != first


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError):
        seed_everything(bad)
