"""Helpers shared by the lessons of the course: one tested copy of each.

The names most lessons use are importable from the package itself::

    from course_utils import fit, evaluate, get_default_device, DeviceDataLoader

The rest live in modules by concern: ``data`` (datasets, checked before use; the
``prefetch`` command fetches them for an offline classroom), ``augment`` (batch
augmentation on the device), ``models``, ``training`` (also ``eval_mode`` and
``predict``), ``metrics``, ``plotting``, ``checkpoint``, ``settings`` (smoke mode,
seeding), ``report`` (headline figures), ``device`` (loaders on the device, bfloat16
support), ``memory``, ``doctor`` (a learner's set-up, checked), ``layers`` (layer tables),
``curves`` (overfitting read from histories), ``epoch_times`` (lesson 04's later epochs),
``fastnet`` (the CPU benchmark's network; lesson 05's Appendix A),
``stats`` (lesson 05's noise rule), ``rounds`` (paired timing rounds and the tie band),
``distributed`` and ``scaling`` (lesson 06), and ``checks`` (the exercises'
self-checks, one module per lesson). Everything here is something a lesson imports;
the instructor tools live outside the package, in ``instructor/``.
"""

import importlib

# Each name the package itself offers, and the module that defines it. A module is
# imported when one of its names is first used (PEP 562), so ``import
# course_utils.settings`` loads neither the training loop nor the device code, and a
# lesson's re-run marker (``instructor.runner``) covers only the modules it uses.
DEFINED_IN = {
    "DeviceDataLoader": "device",
    "DeviceTensorLoader": "device",
    "SeededShuffle": "device",
    "get_default_device": "device",
    "to_device": "device",
    "accuracy": "metrics",
    "ImageClassificationBase": "training",
    "evaluate": "training",
    "fit": "training",
    "fit_one_cycle": "training",
}

__all__ = sorted(DEFINED_IN)


def __getattr__(name: str):
    """Import the module that defines ``name`` (``DEFINED_IN``) and return the name."""
    if name not in DEFINED_IN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{DEFINED_IN[name]}", __name__), name)
    globals()[name] = value  # later uses find it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *DEFINED_IN})


__version__ = "0.1.0"
