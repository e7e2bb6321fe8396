"""Batch transforms for data held on the device (lessons 04 and 05, the speedrun).

torchvision's transforms work on one image at a time, or apply the *same* random
choice to a whole batch. When the dataset lives on the device as one tensor
(``DeviceTensorLoader``), augmentation must instead draw a separate random crop
and flip for every image of a batch, in a few tensor operations. These functions
do that, on whatever device the batch is on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["normalize", "random_crop", "random_horizontal_flip", "batch_transform"]


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Return ``(images / 255 - mean) / std`` per channel, as float32.

    ``images`` is a uint8 batch ``(N, C, H, W)`` with values 0 to 255, the
    compact way to keep a dataset in memory. Introduced in lesson 05.
    """
    if images.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 images (0-255), got {images.dtype}")
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return (images.float() / 255 - mean_t) / std_t


def random_crop(
    images: torch.Tensor, padding: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pad every image by ``padding`` pixels (reflecting the border) and crop it back
    to its size at a random offset of its own: shifts of up to ``padding`` pixels.

    Returns a new batch of the same shape. Introduced in lesson 05.
    """
    if padding < 0:
        raise ValueError(f"padding must not be negative, got {padding}")
    if padding == 0:
        return images
    count, _, height, width = images.shape
    padded = F.pad(images, (padding,) * 4, mode="reflect")
    offsets = torch.randint(0, 2 * padding + 1, (2, count), generator=generator).to(images.device)
    rows = (offsets[0, :, None] + torch.arange(height, device=images.device))[:, None, :, None]
    cols = (offsets[1, :, None] + torch.arange(width, device=images.device))[:, None, None, :]
    batch_index = torch.arange(count, device=images.device)[:, None, None, None]
    channel_index = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch_index, channel_index, rows, cols]


def random_horizontal_flip(
    images: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror each image left-to-right with probability 1/2. Introduced in lesson 05."""
    flip = (torch.rand(len(images), generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def batch_transform(
    mean: Sequence[float], std: Sequence[float], crop_padding: int = 0, flip: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return a function for ``DeviceTensorLoader(transform=...)``: normalise a uint8
    batch, then optionally crop and flip each image at random. Introduced in lesson 05.
    """

    def transform(images: torch.Tensor) -> torch.Tensor:
        images = normalize(images, mean, std)
        if crop_padding:
            images = random_crop(images, crop_padding)
        if flip:
            images = random_horizontal_flip(images)
        return images

    return transform
