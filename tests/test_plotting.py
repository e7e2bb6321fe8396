import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from course_utils.plotting import (
    plot_confusion_matrix,
    plot_history,
    plot_lrs,
    show_batch,
    show_misclassified,
    unnormalize,
)

HISTORY = [
    {"train_loss": 1.0, "val_loss": 0.9, "val_acc": 0.5},
    {"train_loss": 0.5, "val_loss": 0.6, "val_acc": 0.8},
]


def test_show_batch_draws_a_grid_from_a_batch_pair():
    images = torch.rand(10, 3, 8, 8)
    fig = show_batch((images, torch.zeros(10)), nrow=5, title="a batch")
    assert isinstance(fig, Figure)
    grid = fig.axes[0].images[0].get_array()
    # make_grid with padding 2: 2 rows x 5 columns of 8-pixel images
    assert grid.shape == (2 + 2 * (8 + 2), 2 + 5 * (8 + 2), 3)
    assert fig.axes[0].get_title() == "a batch"
    assert not plt.get_fignums()  # closed in pyplot, so a notebook shows it once


def test_show_batch_rejects_a_single_image():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        show_batch(torch.rand(3, 8, 8))


def test_unnormalize_inverts_normalisation():
    images = torch.rand(2, 3, 4, 4)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    normalised = (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(unnormalize(normalised, mean, std), images, atol=1e-6)


def test_plot_history_draws_losses_and_accuracy():
    fig = plot_history(HISTORY)
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["training", "validation"]
    assert list(acc_ax.lines[0].get_ydata()) == [0.5, 0.8]


def test_plot_history_rejects_an_empty_history():
    with pytest.raises(ValueError, match="empty"):
        plot_history([])


def test_plot_confusion_matrix_annotates_counts():
    fig = plot_confusion_matrix(torch.tensor([[5, 1], [2, 7]]), ["cat", "dog"])
    texts = sorted(text.get_text() for text in fig.axes[0].texts)
    assert texts == ["1", "2", "5", "7"]
    normalised = plot_confusion_matrix(
        torch.tensor([[5, 1], [2, 7]]), ["cat", "dog"], normalize=True
    )
    assert "0.83" in [text.get_text() for text in normalised.axes[0].texts]


def test_plot_confusion_matrix_rejects_a_wrong_size():
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(torch.zeros(3, 3), ["a", "b"])


def test_show_misclassified_shows_only_wrong_predictions():
    images = torch.rand(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    predictions = torch.tensor([0, 2, 2, 1, 1, 2])
    fig = show_misclassified(images, labels, predictions, ["zero", "one", "two"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["true one\npred two", "true zero\npred one"]


def test_show_misclassified_handles_a_perfect_model_and_bad_lengths():
    labels = torch.tensor([0, 1])
    fig = show_misclassified(torch.rand(2, 1, 4, 4), labels, labels, ["a", "b"])
    assert fig.axes[0].get_title() == "no misclassified images"
    with pytest.raises(ValueError, match="differ in length"):
        show_misclassified(torch.rand(3, 1, 4, 4), labels, labels, ["a", "b"])


def test_plot_lrs_joins_the_steps_of_every_epoch():
    fig = plot_lrs([{"lrs": [0.1, 0.2]}, {"lrs": [0.15, 0.05]}])
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.1, 0.2, 0.15, 0.05]
    with pytest.raises(ValueError, match="no learning rates"):
        plot_lrs(HISTORY)


def test_unnormalize_scales_uint8_images():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    assert unnormalize(images, None, None).flatten().tolist() == pytest.approx([0.0, 0.2, 1.0])
