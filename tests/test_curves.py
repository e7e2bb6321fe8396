import math

import pytest
import torch
from torch import nn

from course_utils.curves import overfitting_summary, wrong_answers


def run(val_losses, val_accs=None, train_losses=None):
    """A history as fit returns it, from its validation losses (and accuracies)."""
    val_accs = val_accs or [0.1] * len(val_losses)
    train_losses = train_losses or [1.0] * len(val_losses)
    return [
        {"train_loss": t, "val_loss": v, "val_acc": a}
        for t, v, a in zip(train_losses, val_losses, val_accs, strict=True)
    ]


def test_the_summary_reads_the_lowest_point_and_the_rise_after_it():
    history = run(
        [2.0, 1.5, 1.2, 1.4, 1.6, 1.8],
        val_accs=[0.20, 0.30, 0.40, 0.45, 0.41, 0.38],
        train_losses=[2.1, 1.6, 1.1, 0.8, 0.6, 0.5],
    )
    summary = overfitting_summary(history)
    assert summary["final_train_loss"] == 0.5
    assert summary["final_val_loss"] == 1.8
    assert summary["final_val_acc"] == 0.38
    assert summary["lowest_val_loss"] == 1.2
    assert summary["lowest_epoch"] == 3  # 1-based
    assert summary["val_acc_at_lowest"] == 0.40
    assert summary["averaged"] == 3
    assert summary["rise"] == pytest.approx((1.4 + 1.6 + 1.8) / 3 - 1.2)
    assert summary["best_val_acc"] == 0.45
    assert summary["fall"] == pytest.approx(7.0)  # points: 45% best, 38% last


def test_the_rise_averages_fewer_epochs_in_a_short_run_and_ties_take_the_first_lowest():
    summary = overfitting_summary(run([1.0, 1.3]))
    assert summary["averaged"] == 2
    assert summary["rise"] == pytest.approx(0.15)
    tied = overfitting_summary(run([1.0, 2.0, 1.0, 3.0]))
    assert tied["lowest_epoch"] == 1


def test_a_run_whose_loss_only_falls_has_no_rise():
    # The rise is a mean of the last 3 epochs, so it is 0 only once 3 sit at the lowest.
    assert overfitting_summary(run([3.0, 2.0, 1.0, 1.0, 1.0]))["rise"] == 0


@pytest.mark.parametrize(
    "history, message",
    [([], "at least one epoch"), ([{"train_loss": 1.0, "val_acc": 0.5}], "'val_loss'")],
)
def test_an_empty_or_incomplete_history_is_refused_with_the_fix(history, message):
    with pytest.raises(ValueError, match=message):
        overfitting_summary(history)


class FixedLogits(nn.Module):
    """Answers each input index with a fixed row of logits."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits)

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        return self.logits[indices]


def test_wrong_answers_averages_confidence_and_loss_over_the_wrong_ones_only():
    probabilities = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    model = FixedLogits(probabilities.log()).train()
    # Image 0 right (class 0); image 1 wrong (true 2, chose 1); image 2 wrong (true 1, chose 0).
    batches = [(torch.tensor([0, 1]), torch.tensor([0, 2])), (torch.tensor([2]), torch.tensor([1]))]
    found = wrong_answers(model, batches)
    assert found["count"] == 2
    assert found["confidence"] == pytest.approx((0.6 + 0.5) / 2)
    assert found["loss"] == pytest.approx(-(math.log(0.3) + math.log(0.25)) / 2)
    assert isinstance(found["confidence"], float) and isinstance(found["loss"], float)
    assert model.training  # eval_mode gave the model back as it was


class ModeRecorder(FixedLogits):
    """FixedLogits that records, at each call, its training flag and whether autograd was on."""

    def __init__(self, logits: torch.Tensor):
        super().__init__(logits)
        self.seen = []

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, torch.is_grad_enabled()))
        return super().forward(indices)


def test_wrong_answers_scores_in_eval_mode_without_gradients():
    model = ModeRecorder(torch.eye(3)).train()
    wrong_answers(model, [(torch.arange(3), torch.tensor([1, 1, 2]))])
    assert model.seen == [(False, False)]  # eval mode, no autograd, during the pass
    assert model.training  # and the mode given back


def test_a_model_with_no_wrong_answers_has_no_means():
    model = FixedLogits(torch.eye(3))
    found = wrong_answers(model, [(torch.arange(3), torch.arange(3))])
    assert found["count"] == 0
    assert math.isnan(found["confidence"]) and math.isnan(found["loss"])


@pytest.mark.parametrize(
    "loader, message", [([], "no batches"), ([torch.arange(3)], r"\(images, labels\)")]
)
def test_wrong_answers_refuses_a_loader_without_labelled_batches(loader, message):
    with pytest.raises(ValueError, match=message):
        wrong_answers(FixedLogits(torch.eye(3)), loader)
