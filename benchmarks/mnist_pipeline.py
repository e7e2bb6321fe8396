"""MNIST data pipelines compared: per-image transforms in a DataLoader vs the dataset on the device.

Trains lesson 03's 32-unit MLP for the same number of epochs with both pipelines,
on the best available device, and prints each one's median seconds per training
epoch and test accuracy, then trains lesson 03's improved MLP on the course
pipeline and prints how many seconds of training it needs to first reach 98.0%
test accuracy. The last line is ``ratio: <classic seconds / course seconds>``.

    python benchmarks/mnist_pipeline.py            # full size
    python benchmarks/mnist_pipeline.py --smoke    # seconds, for the test suite
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision import transforms

from course_utils import (
    DeviceDataLoader,
    DeviceTensorLoader,
    fit,
    fit_one_cycle,
    get_default_device,
    to_device,
)
from course_utils.data import dataset_to_tensors, mnist
from course_utils.models import MLP
from course_utils.settings import seed_everything

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
TARGET_ACCURACY = 0.98


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per pipeline (default 3)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument(
        "--num-workers", type=int, default=0, help="DataLoader workers of the classic pipeline"
    )
    parser.add_argument(
        "--improved-epochs", type=int, default=8, help="one-cycle length of the improved MLP"
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda or mps (default: the best available)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="2,000 training images, one epoch each"
    )
    return parser.parse_args()


def classic_loaders(train_set, test_set, args, device):
    """Per-image ToTensor + Normalize in a DataLoader, each batch moved to the device."""
    pin = device.type == "cuda"
    train = DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.num_workers,
        pin_memory=pin,
    )
    test = DataLoader(test_set, batch_size=1000, num_workers=args.num_workers, pin_memory=pin)
    return DeviceDataLoader(train, device, non_blocking=pin), DeviceDataLoader(
        test, device, non_blocking=pin
    )


def train_small_model(train_loader, test_loader, args, device) -> tuple[float, float]:
    """Median training seconds per epoch and final test accuracy of the 32-unit MLP."""
    seed_everything(0)
    model = to_device(MLP(28 * 28, [32], 10), device)
    history = fit(args.epochs, args.lr, model, train_loader, test_loader)
    return statistics.median(epoch["train_seconds"] for epoch in history), history[-1]["val_acc"]


def time_to_target(
    train_images, train_labels, test_loader, args, device
) -> tuple[float | None, float]:
    """Training seconds until the improved MLP first reaches 98.0% test accuracy (None if never)."""
    seed_everything(0)
    model = to_device(MLP(28 * 28, [512, 256], 10, dropout=0.2), device)
    train_loader = DeviceTensorLoader(
        train_images, train_labels, batch_size=256, shuffle=True, device=device
    )
    history = fit_one_cycle(
        args.improved_epochs, 2e-3, model, train_loader, test_loader, opt_func=torch.optim.Adam
    )
    elapsed = 0.0
    for epoch in history:
        elapsed += epoch["train_seconds"]
        if epoch["val_acc"] >= TARGET_ACCURACY:
            return elapsed, history[-1]["val_acc"]
    return None, history[-1]["val_acc"]


def main() -> None:
    args = parse_arguments()
    if args.smoke:
        args.epochs, args.improved_epochs = 1, 1
    device = torch.device(args.device) if args.device else get_default_device()
    print(f"device: {device}  torch {torch.__version__}  threads {torch.get_num_threads()}")

    to_tensor = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)]
    )
    train_set, test_set = (
        mnist(train=True, transform=to_tensor),
        mnist(train=False, transform=to_tensor),
    )
    if args.smoke:
        train_set, test_set = Subset(train_set, range(2000)), Subset(test_set, range(1000))
    print(
        f"training images: {len(train_set)}, test images: {len(test_set)}, "
        f"epochs: {args.epochs}, batch size: {args.batch_size}"
    )

    classic_seconds, classic_accuracy = train_small_model(
        *classic_loaders(train_set, test_set, args, device), args, device
    )
    print(
        f"classic: {classic_seconds:.3f} s per epoch (median), test accuracy {classic_accuracy:.4f}"
    )

    start = time.perf_counter()
    train_images, train_labels = dataset_to_tensors(train_set)
    test_images, test_labels = dataset_to_tensors(test_set)
    course_test = DeviceTensorLoader(test_images, test_labels, batch_size=1000, device=device)
    course_train = DeviceTensorLoader(
        train_images, train_labels, batch_size=args.batch_size, shuffle=True, device=device
    )
    print(
        f"course: decoding once and moving to {device.type} took "
        f"{time.perf_counter() - start:.2f} s (not part of any epoch)"
    )
    course_seconds, course_accuracy = train_small_model(course_train, course_test, args, device)
    print(f"course: {course_seconds:.3f} s per epoch (median), test accuracy {course_accuracy:.4f}")
    print(f"accuracy difference: {abs(classic_accuracy - course_accuracy) * 100:.2f} points")

    seconds_to_98, final_accuracy = time_to_target(
        train_images, train_labels, course_test, args, device
    )
    print(f"improved MLP: final test accuracy {final_accuracy:.4f}", end="")
    print(f" after {args.improved_epochs} epochs")
    print(f"time_to_98: {'never' if seconds_to_98 is None else f'{seconds_to_98:.1f}'}")
    print(f"ratio: {classic_seconds / course_seconds:.1f}")


if __name__ == "__main__":
    main()
