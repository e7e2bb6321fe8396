import math

import pytest
import torch
from conftest import MetaAsDevice

from course_utils.metrics import accuracy, confusion_matrix, per_class_accuracy


def test_accuracy_counts_argmax_hits():
    outputs = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = torch.tensor([1, 0, 0, 0])
    assert accuracy(outputs, labels).item() == pytest.approx(0.75)


@pytest.mark.parametrize(
    "outputs, labels",
    [
        (torch.zeros(4), torch.zeros(4, dtype=torch.long)),
        (torch.zeros(4, 2), torch.zeros(3, dtype=torch.long)),
        (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)),
    ],
)
def test_accuracy_rejects_bad_shapes(outputs, labels):
    with pytest.raises(ValueError):
        accuracy(outputs, labels)


def test_confusion_matrix_rows_are_true_classes():
    predictions = torch.tensor([0, 1, 1, 2, 2, 2])
    labels = torch.tensor([0, 0, 1, 2, 2, 1])
    matrix = confusion_matrix(predictions, labels, num_classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert matrix.sum().item() == 6


def test_confusion_matrix_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="labels must lie"):
        confusion_matrix(torch.tensor([0]), torch.tensor([5]), num_classes=3)


def test_per_class_accuracy_marks_empty_classes_nan():
    matrix = torch.tensor([[3, 1, 0], [0, 2, 2], [0, 0, 0]])
    result = per_class_accuracy(matrix)
    assert result[:2].tolist() == [0.75, 0.5]
    assert math.isnan(result[2].item())


def test_per_class_accuracy_makes_no_float64_on_a_device():
    recorder = MetaAsDevice()
    with recorder:
        result = per_class_accuracy(torch.ones(3, 3, dtype=torch.long, device="meta"))
    assert recorder.float64_ops == []
    assert result.device.type == "cpu" and result.dtype == torch.float64
