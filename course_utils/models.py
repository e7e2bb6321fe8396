"""Models shared by several lessons and the benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .training import ImageClassificationBase

__all__ = ["MLP"]


class MLP(ImageClassificationBase):
    """A multi-layer perceptron classifier: flatten, then Linear-ReLU(-Dropout) blocks.

    ``MLP(784, [32], 10)`` is lesson 03's one-hidden-layer MNIST model;
    ``MLP(784, [512, 256], 10, dropout=0.2)`` its improved version. Inputs of any
    shape ``(batch, ...)`` are flattened. Introduced in lesson 03.
    """

    def __init__(
        self, in_features: int, hidden_sizes: Sequence[int], num_classes: int, dropout: float = 0.0
    ):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if in_features <= 0 or num_classes <= 0 or any(size <= 0 for size in hidden_sizes):
            raise ValueError("layer sizes must be positive")
        layers: list[nn.Module] = [nn.Flatten()]
        for size in hidden_sizes:
            layers += [nn.Linear(in_features, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_features = size
        layers.append(nn.Linear(in_features, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs)
