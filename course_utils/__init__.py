"""Helpers shared by the lessons of the course: one tested copy of each.

The names most lessons use are importable from the package itself::

    from course_utils import fit, evaluate, get_default_device, DeviceDataLoader

The rest live in modules by concern: ``data`` (datasets; ``downloads``, ``archives``
and the ``prefetch`` command check and unpack them), ``augment`` (batch
augmentation on the device), ``models``, ``training`` (also ``eval_mode`` and
``predict``), ``metrics``, ``plotting``, ``checkpoint``, ``settings`` (smoke mode,
seeding), ``report`` (headline figures) and ``checks`` (the exercises' self-checks,
one module per lesson). Everything here is something a lesson
imports; the instructor tools live outside the package, in ``instructor/``.
"""

from .device import DeviceDataLoader, DeviceTensorLoader, get_default_device, to_device
from .metrics import accuracy
from .training import ImageClassificationBase, evaluate, fit, fit_one_cycle

__all__ = [
    "DeviceDataLoader",
    "DeviceTensorLoader",
    "ImageClassificationBase",
    "accuracy",
    "evaluate",
    "fit",
    "fit_one_cycle",
    "get_default_device",
    "to_device",
]

__version__ = "0.1.0"
