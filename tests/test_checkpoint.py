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
    path = save_checkpoint(tmp_path / "ckpt.pt", model, optimizer, epoch=3, history=[{"val_acc": 0.5}], note="hi")
    fresh, fresh_optimizer = make_model_and_optimizer()
    extras = load_checkpoint(path, fresh, fresh_optimizer)
    assert extras == {"epoch": 3, "history": [{"val_acc": 0.5}], "note": "hi"}
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(a, b)
    assert fresh_optimizer.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]


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
