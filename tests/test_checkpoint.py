import copy
from collections import defaultdict, namedtuple
from enum import IntEnum

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.checkpoint import load_checkpoint, save_checkpoint


def make_model_and_optimizer():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()  # gives the optimizer some state worth saving
    return model, optimizer


def test_round_trip_restores_weights_optimizer_epoch_and_extras(tmp_path):
    model, optimizer = make_model_and_optimizer()
    path = save_checkpoint(
        tmp_path / "ckpt.pt", model, optimizer, epoch=3, history=[{"val_acc": 0.5}], note="hi"
    )
    fresh, fresh_optimizer = make_model_and_optimizer()
    extras = load_checkpoint(path, fresh, fresh_optimizer)
    assert extras == {"epoch": 3, "history": [{"val_acc": 0.5}], "note": "hi"}
    for a, b in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(a, b)
    # The fresh optimizer took its own step, on other weights: only loading makes them equal.
    assert same_optimizer(fresh_optimizer, optimizer_snapshot(optimizer))


def test_a_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, _ = make_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ckpt.pt", model, epoch=1)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, epoch=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind


def test_missing_file_raises_a_clear_error(tmp_path):
    model, _ = make_model_and_optimizer()
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt", model)


def test_a_mismatched_model_raises_a_clear_error(tmp_path):
    model, _ = make_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ckpt.pt", model)
    with pytest.raises(ValueError, match="does not fit this Sequential"):
        load_checkpoint(path, nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)))


def test_loading_an_optimizer_that_was_not_saved_is_an_error(tmp_path):
    model, optimizer = make_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ckpt.pt", model)
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(path, model, optimizer)


def test_extras_that_could_not_load_safely_are_refused_before_writing(tmp_path):
    model, _ = make_model_and_optimizer()
    with pytest.raises(TypeError, match="extra config is a object"):
        save_checkpoint(tmp_path / "ckpt.pt", model, config=object())
    assert not (tmp_path / "ckpt.pt").exists()


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    model, _ = make_model_and_optimizer()
    torch.save(model.state_dict(), path)
    with pytest.raises(ValueError, match="not a checkpoint"):
        load_checkpoint(path, model)


class Tagged(torch.Tensor):
    """A tensor subclass: saves, but torch refuses to load it with weights_only=True."""


class Phase(IntEnum):
    TRAIN = 1


Point = namedtuple("Point", "x y")


def weights_of(model):
    return [parameter.detach().clone() for parameter in model.parameters()]


def same_weights(model, weights):
    return all(torch.equal(a, b) for a, b in zip(model.parameters(), weights, strict=True))


def optimizer_snapshot(optimizer):
    state = optimizer.state_dict()
    tensors = {
        (index, key): value.clone()
        for index, per_parameter in state["state"].items()
        for key, value in per_parameter.items()
    }
    return copy.deepcopy(state["param_groups"]), tensors


def same_optimizer(optimizer, snapshot):
    groups, tensors = optimizer_snapshot(optimizer)
    return (
        groups == snapshot[0]
        and tensors.keys() == snapshot[1].keys()
        and all(torch.equal(tensors[key], snapshot[1][key]) for key in tensors)
    )


def stepped_sgd(model):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    return optimizer


def save_the_old_way(path, model, optimizer, **extra):
    """What save_checkpoint wrote before it recorded the optimizer's type."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 1}
    torch.save({**state, "extra": extra}, path)
    return path


def test_numpy_numbers_and_dict_subclasses_save_as_plain_values_that_load(tmp_path):
    model, optimizer = make_model_and_optimizer()
    counts = defaultdict(int, {"cat": 2})
    path = save_checkpoint(
        tmp_path / "ckpt.pt",
        model,
        optimizer,
        epoch=np.int64(3),
        val_acc=np.float64(0.97),
        counts=counts,
        history=[{"val_acc": np.float32(0.5)}],
    )
    extras = load_checkpoint(path, *make_model_and_optimizer())
    assert extras == {
        "epoch": 3,
        "val_acc": 0.97,
        "counts": {"cat": 2},
        "history": [{"val_acc": 0.5}],
    }
    assert type(extras["epoch"]) is int and type(extras["val_acc"]) is float
    assert type(extras["counts"]) is dict


@pytest.mark.parametrize(
    "value, message",
    [
        (np.zeros(3), r"extra value is a ndarray.*torch\.from_numpy\(x\)"),
        (Phase.TRAIN, r"extra value is a Phase.*int\(x\)"),
        (Point(1, 2), r"extra value is a Point.*x\._asdict\(\)"),
        ({1, 2}, r"extra value is a set.*sorted\(x\)"),
        (torch.zeros(2).as_subclass(Tagged), r"extra value would not load back"),
    ],
    ids=["ndarray", "int-enum", "namedtuple", "set", "tensor-subclass"],
)
def test_extras_that_would_not_load_are_refused_at_save_time_with_a_hint(tmp_path, value, message):
    model, _ = make_model_and_optimizer()
    with pytest.raises(TypeError, match=message):
        save_checkpoint(tmp_path / "ckpt.pt", model, value=value)
    assert list(tmp_path.iterdir()) == []


def test_a_numpy_learning_rate_in_the_optimizer_still_loads(tmp_path):
    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=np.logspace(-4, -2, 3)[1])
    path = save_checkpoint(tmp_path / "ckpt.pt", model, optimizer)
    fresh = nn.Linear(3, 2)
    fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=0.5)  # not Adam's default 1e-3
    load_checkpoint(path, fresh, fresh_optimizer)
    assert fresh_optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_an_adam_state_is_refused_by_sgd_and_nothing_changes(tmp_path):
    model, optimizer = make_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ckpt.pt", model, optimizer)
    fresh, _ = make_model_and_optimizer()
    sgd = stepped_sgd(fresh)
    weights, snapshot = weights_of(fresh), optimizer_snapshot(sgd)
    with pytest.raises(ValueError, match="optimizer state in .* is from Adam.* is SGD"):
        load_checkpoint(path, fresh, sgd)
    assert same_weights(fresh, weights) and same_optimizer(sgd, snapshot)


@pytest.mark.parametrize("stepped", [True, False], ids=["stepped", "before-any-step"])
def test_an_old_checkpoint_without_the_optimizer_type_is_checked_by_its_contents(tmp_path, stepped):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    adam = torch.optim.Adam(model.parameters())
    if stepped:
        model(torch.randn(5, 3)).sum().backward()
        adam.step()
    path = save_the_old_way(tmp_path / "old.pt", model, adam, note="hi")
    fresh, _ = make_model_and_optimizer()
    sgd = stepped_sgd(fresh)
    weights, snapshot = weights_of(fresh), optimizer_snapshot(sgd)
    reason = "holds exp_avg, exp_avg_sq, step" if stepped else "lack .*momentum"
    with pytest.raises(ValueError, match=f"saved without its type.*{reason}"):
        load_checkpoint(path, fresh, sgd)
    assert same_weights(fresh, weights) and same_optimizer(sgd, snapshot)
    # ...while the optimizer it was saved with still loads it
    assert load_checkpoint(path, fresh, torch.optim.Adam(fresh.parameters())) == {
        "epoch": 1,
        "note": "hi",
    }


@pytest.mark.parametrize("groups", ["two-groups", "part-of-the-model"])
def test_other_parameter_groups_are_refused_before_the_model_changes(tmp_path, groups):
    model, optimizer = make_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ckpt.pt", model, optimizer)
    fresh, _ = make_model_and_optimizer()
    first, second = list(fresh[0].parameters()), list(fresh[2].parameters())
    if groups == "two-groups":
        other = torch.optim.Adam([{"params": first}, {"params": second, "lr": 1e-4}])
    else:
        other = torch.optim.Adam(second)
    weights = weights_of(fresh)
    with pytest.raises(ValueError, match=r"parameter groups of sizes \[4\], this Adam \[2"):
        load_checkpoint(path, fresh, other)
    assert same_weights(fresh, weights)


def test_a_failing_optimizer_load_rolls_the_model_back(tmp_path, monkeypatch):
    model, optimizer = make_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ckpt.pt", model, optimizer)
    fresh, fresh_optimizer = make_model_and_optimizer()
    weights = weights_of(fresh)

    def fail(state_dict):
        raise RuntimeError("disk hiccup")

    monkeypatch.setattr(fresh_optimizer, "load_state_dict", fail)
    with pytest.raises(ValueError, match="disk hiccup.*model and optimizer are unchanged"):
        load_checkpoint(path, fresh, fresh_optimizer)
    assert same_weights(fresh, weights)


def test_a_model_that_only_partly_fits_is_left_unchanged(tmp_path):
    model, _ = make_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ckpt.pt", model)
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3))  # first layer fits
    weights = weights_of(other)
    with pytest.raises(ValueError, match=r"(?s)does not fit this Sequential: .*2\.weight"):
        load_checkpoint(path, other)
    assert same_weights(other, weights)


def test_an_old_file_with_numpy_extras_is_refused_with_advice(tmp_path):
    model, optimizer = make_model_and_optimizer()
    path = save_the_old_way(tmp_path / "old.pt", model, optimizer, val_acc=np.float64(0.97))
    with pytest.raises(ValueError, match=r"could not be loaded safely.*weights_only=False"):
        load_checkpoint(path, model, optimizer)
