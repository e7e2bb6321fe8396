"""Looking inside a network's layers, and taking one kind of layer out.

``layer_table`` follows an example batch through an ``nn.Sequential`` entry by entry;
``remove_batch_norm`` swaps batch normalisation out of a network for an ablation. Lesson 05
uses both on its ResNet-9.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils.training import eval_mode

__all__ = ["layer_table", "remove_batch_norm"]


def layer_table(
    layers: nn.Sequential,
    example: torch.Tensor,
    name: Callable[[nn.Module], str] | None = None,
) -> list[dict]:
    """Pass ``example`` (a batch, on the layers' device) through ``layers`` one entry at a
    time, in eval mode and without gradients (``eval_mode``; the mode is restored after).

    Returns one dict per entry, in order: ``index``; ``name``, what ``name(entry)`` says
    (the entry's class name if ``name`` is not given); ``output_shape``, the shape after
    that entry, as a tuple of ints; ``parameters``, the entry's number of parameters.
    Introduced in lesson 05."""
    if not isinstance(layers, nn.Sequential):
        raise ValueError(
            f"layers must be an nn.Sequential, got {type(layers).__name__}: pass the "
            "network's Sequential of layers (for ResNet9, its .layers)"
        )
    name = name or (lambda layer: type(layer).__name__)
    rows = []
    with eval_mode(layers):
        flowing = example
        for index, layer in enumerate(layers):
            flowing = layer(flowing)
            rows.append(
                {
                    "index": index,
                    "name": name(layer),
                    "output_shape": tuple(flowing.shape),
                    "parameters": sum(parameter.numel() for parameter in layer.parameters()),
                }
            )
    return rows


def remove_batch_norm(model: nn.Module) -> nn.Module:
    """Swap every ``nn.BatchNorm2d`` in ``model`` for ``nn.Identity``, and give the
    convolution before it a bias starting at 0, as batch norm's shift did (on the
    convolution's device, in its dtype). The convolutions keep their weights.

    Each batch norm must sit in an ``nn.Sequential`` right after an ``nn.Conv2d``;
    otherwise ``ValueError``, with ``model`` left unchanged. A bias the convolution already
    had is replaced by zeros. Changes ``model`` in place and returns it: build the optimizer
    afterwards, since the new biases are new parameters. Introduced in lesson 05."""
    swaps = []  # (the Sequential, the batch norm's index in it), all checked before any swap
    in_sequential = set()
    for block in model.modules():
        if not isinstance(block, nn.Sequential):
            continue
        for index, layer in enumerate(block):
            if not isinstance(layer, nn.BatchNorm2d):
                continue
            if index == 0 or not isinstance(block[index - 1], nn.Conv2d):
                raise ValueError(
                    f"model has no nn.Conv2d right before {layer} (entry {index} of its "
                    "nn.Sequential): remove_batch_norm moves batch norm's shift into the "
                    "convolution before it, so each BatchNorm2d must follow one"
                )
            swaps.append((block, index))
            in_sequential.add(id(layer))
    outside = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    outside = [m for m in outside if id(m) not in in_sequential]
    if outside:
        raise ValueError(
            f"model has a BatchNorm2d outside any nn.Sequential ({outside[0]}): "
            "remove_batch_norm swaps only those that follow an nn.Conv2d in an nn.Sequential"
        )
    for block, index in swaps:
        convolution = block[index - 1]
        weight = convolution.weight
        convolution.bias = nn.Parameter(
            torch.zeros(convolution.out_channels, dtype=weight.dtype, device=weight.device)
        )
        block[index] = nn.Identity()
    return model
