"""Take functions and classes out of a lesson without running the lesson.

Tests and benchmarks use a lesson's own definitions (lesson 05's ``ResNet9``, for
example) rather than copies that would have to be kept in step with it.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils import ImageClassificationBase

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def lesson_definitions(
    script: str, names: set[str], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Execute only the named top-level functions and classes of a lesson's .py twin.

    ``script`` is the twin's file name in ``notebooks/``, e.g. ``"05_cifar10_cnn.py"``.
    The definitions run in a namespace holding ``torch``, ``nn``,
    ``ImageClassificationBase`` and ``extra``: whatever else they read when they are
    called. Returns that namespace, with the definitions in it under their names.
    Raises ``LookupError`` if the lesson defines no function or class of one of the names.
    """
    tree = ast.parse((NOTEBOOKS / script).read_text(), filename=script)
    keep = [
        node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names
    ]
    missing = names - {node.name for node in keep}
    if missing:
        raise LookupError(f"{script} defines no {sorted(missing)}")
    namespace = {"torch": torch, "nn": nn, "ImageClassificationBase": ImageClassificationBase}
    namespace.update(extra or {})
    exec(compile(ast.Module(body=keep, type_ignores=[]), script, "exec"), namespace)
    return namespace
