import pytest
import torch

from course_utils.augment import batch_transform, normalize, random_crop, random_horizontal_flip
from course_utils.device import DeviceTensorLoader


def test_normalize_matches_to_tensor_then_normalize():
    from torchvision import transforms

    images = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    expected = torch.stack(
        [transforms.Normalize(mean, std)(image.float() / 255) for image in images]
    )
    assert torch.allclose(normalize(images, mean, std), expected, atol=1e-6)


def test_normalize_refuses_float_images():
    with pytest.raises(TypeError, match="uint8"):
        normalize(torch.zeros(1, 3, 2, 2), (0.5,) * 3, (0.5,) * 3)


def test_random_crop_shifts_each_image_by_its_own_offset():
    # Every image is a ramp 0..7 along the width; a crop shifted by d starts at a value
    # that reveals d.
    ramp = torch.arange(8.0).repeat(64, 1, 8, 1)  # (64, 1, 8, 8)
    cropped = random_crop(ramp, padding=2, generator=torch.Generator().manual_seed(0))
    assert cropped.shape == ramp.shape
    shifts = set()
    for image in cropped:
        row = image[0, 4]
        shifts.add(tuple(row.tolist()))
        assert all(value in range(8) for value in row.tolist())
    assert len(shifts) == 5  # offsets -2..2 along the width all occur, not one shared crop


def test_random_crop_with_zero_padding_is_the_identity():
    images = torch.rand(2, 3, 4, 4)
    assert random_crop(images, 0) is images
    with pytest.raises(ValueError):
        random_crop(images, -1)


def test_random_horizontal_flip_flips_about_half_of_the_images():
    images = torch.arange(4.0).repeat(1000, 1, 1, 1)  # each row reads 0 1 2 3
    flipped = random_horizontal_flip(images, generator=torch.Generator().manual_seed(0))
    mirrored = (flipped[:, 0, 0, 0] == 3).sum().item()
    assert 400 < mirrored < 600
    assert torch.equal(flipped[flipped[:, 0, 0, 0] == 3][0], images[0].flip(-1))


def test_loader_applies_the_batch_transform_to_inputs_only():
    images = torch.full((6, 3, 4, 4), 255, dtype=torch.uint8)
    labels = torch.arange(6)
    transform = batch_transform(
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop_padding=1, flip=True
    )
    loader = DeviceTensorLoader(images, labels, batch_size=4, shuffle=True, transform=transform)
    batches = list(loader)
    assert batches[0][0].dtype == torch.float32 and torch.all(batches[0][0] == 1.0)
    assert sorted(torch.cat([labels for _, labels in batches]).tolist()) == list(range(6))
