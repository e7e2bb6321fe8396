import functools

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.training import ImageClassificationBase, evaluate, fit, fit_one_cycle, predict


def test_fit_learns_a_separable_problem_and_returns_a_history(tiny_model, separable_loaders, capsys):
    train_loader, val_loader = separable_loaders
    before = evaluate(tiny_model, val_loader)["val_acc"]
    history = fit(5, 0.5, tiny_model, train_loader, val_loader)
    assert len(history) == 5
    assert set(history[0]) == {"train_loss", "val_loss", "val_acc", "train_seconds", "epoch_seconds"}
    assert 0 < history[0]["train_seconds"] <= history[0]["epoch_seconds"]
    assert history[-1]["val_acc"] > 0.95 > before
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert "Epoch 5:" in capsys.readouterr().out


def test_fit_accepts_another_optimizer(tiny_model, separable_loaders):
    history = fit(2, 0.05, tiny_model, *separable_loaders, opt_func=functools.partial(torch.optim.SGD, momentum=0.9))
    assert history[-1]["val_acc"] > 0.9


@pytest.mark.parametrize("epochs, lr, message", [(0, 0.1, "epochs"), (-1, 0.1, "epochs"), (1.5, 0.1, "epochs"), (2, 0.0, "lr"), (2, -0.1, "lr")])
def test_fit_rejects_bad_numbers_before_training(tiny_model, separable_loaders, epochs, lr, message):
    weights = tiny_model.linear.weight.clone()
    with pytest.raises(ValueError, match=message):
        fit(epochs, lr, tiny_model, *separable_loaders)
    assert torch.equal(weights, tiny_model.linear.weight)


def test_fit_rejects_an_empty_loader(tiny_model, separable_loaders):
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError, match="train_loader is empty"):
        fit(1, 0.1, tiny_model, empty, separable_loaders[1])
    with pytest.raises(ValueError, match="val_loader is empty"):
        fit(1, 0.1, tiny_model, separable_loaders[0], empty)


def test_fit_rejects_a_model_without_the_protocol(separable_loaders):
    with pytest.raises(TypeError, match="training_step.*epoch_end"):
        fit(1, 0.1, nn.Linear(2, 2), *separable_loaders)


def test_validation_mean_is_weighted_by_batch_size():
    class Constant(ImageClassificationBase):
        def forward(self, inputs):
            return torch.stack([torch.zeros(len(inputs)), torch.ones(len(inputs))], dim=1)

    # 3 right answers (label 1), then one batch of 1 wrong answer (label 0)
    labels = torch.tensor([1, 1, 1, 0])
    loader = DataLoader(TensorDataset(torch.zeros(4, 1), labels), batch_size=3)
    assert evaluate(Constant(), loader)["val_acc"] == pytest.approx(0.75)


def test_evaluate_restores_training_mode(tiny_model, separable_loaders):
    tiny_model.train()
    evaluate(tiny_model, separable_loaders[1])
    assert tiny_model.training


def test_predict_returns_aligned_labels(tiny_model, separable_loaders):
    predicted, actual = predict(tiny_model, separable_loaders[1])
    assert predicted.shape == actual.shape == (64,)
    assert predicted.dtype == torch.int64


def test_fit_one_cycle_records_a_rising_then_falling_learning_rate(tiny_model, separable_loaders):
    history = fit_one_cycle(4, 0.5, tiny_model, *separable_loaders, weight_decay=1e-4, grad_clip=0.1)
    lrs = [lr for epoch in history for lr in epoch["lrs"]]
    assert len(lrs) == 4 * len(separable_loaders[0])
    peak = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(0.5 / 25) and max(lrs) == pytest.approx(0.5, rel=0.01)
    assert 0 < peak < len(lrs) - 1 and lrs[-1] < lrs[0]
    assert history[-1]["val_acc"] > 0.95


def test_fit_one_cycle_clips_gradients(separable_loaders, monkeypatch):
    seen = []
    original = nn.utils.clip_grad_value_
    monkeypatch.setattr(nn.utils, "clip_grad_value_", lambda params, value: seen.append(value) or original(params, value))
    torch.manual_seed(0)
    from conftest import TinyClassifier

    fit_one_cycle(1, 0.1, TinyClassifier(), *separable_loaders, grad_clip=0.05)
    assert seen == [0.05] * len(separable_loaders[0])


@pytest.mark.parametrize("kwargs, message", [({"weight_decay": -1.0}, "weight_decay"), ({"grad_clip": 0.0}, "grad_clip")])
def test_fit_one_cycle_rejects_bad_arguments(tiny_model, separable_loaders, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_one_cycle(1, 0.1, tiny_model, *separable_loaders, **kwargs)
