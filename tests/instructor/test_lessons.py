import pytest
import torch

from instructor.lessons import lesson_definitions


def test_lesson_definitions_runs_only_the_named_definitions_and_names_missing_ones():
    lesson = lesson_definitions("05_cifar10_cnn.py", {"conv_block", "ResidualBlock", "ResNet9"})
    assert lesson["ResNet9"](4)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert "count_parameters" not in lesson  # defined in the lesson, but not asked for
    with pytest.raises(LookupError, match=r"05_cifar10_cnn\.py defines no \['NoSuchNetwork'\]"):
        lesson_definitions("05_cifar10_cnn.py", {"ResNet9", "NoSuchNetwork"})
