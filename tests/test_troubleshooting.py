"""The troubleshooting page (lesson 07): each error it explains is found by its message.

A learner finds a section by searching for the words of the message they got, so each
section's title carries them, and the page's committed outputs must hold the message
that this PyTorch (and course_utils) prints. A PyTorch upgrade that rewords a message
fails ``test_this_pytorch_still_says_what_the_titles_quote`` at once, and, once the page
is re-executed (the runner's inputs hash covers constraints.txt),
``test_each_live_error_is_in_the_committed_outputs``.
"""

from __future__ import annotations

import copy
import re

import nbformat
import pytest
import torch
import torch.nn.functional as F
from conftest import NOTEBOOKS
from torch import nn

PAGE = NOTEBOOKS / "07_troubleshooting.ipynb"

# Words of each message that a section's title carries, and what the committed outputs
# must hold (None: explained, not produced on a machine without a GPU).
SECTIONS = [
    ("Expected all tensors to be on the same device", "is not on the expected device"),
    ("mat1 and mat2 shapes cannot be multiplied", "mat1 and mat2 shapes cannot be multiplied"),
    ("expected target dtype to be Long", "expected target dtype to be Long"),
    ("zero_grad", "the loss rose at 0 of"),
    ("FloatingPointError: the training loss is nan", "FloatingPointError: the training loss is"),
    ("CUDA out of memory", None),
    ("DataLoader worker exited unexpectedly", None),
    ("returned non-zero exit status 1", "returned non-zero exit status 1"),
    ("Could not download", "DownloadError: Could not download MNIST"),
    ("Error(s) in loading state_dict", "Error(s) in loading state_dict for MLP"),
    ("Missing key(s)", "Missing key(s) in state_dict"),
    ("Unexpected key(s)", "Unexpected key(s) in state_dict"),
    ("size mismatch", "size mismatch for layers.1.weight"),
]
# What the outputs must also hold: the fixes that ran, and course_utils's own words.
ALSO_IN_OUTPUTS = [
    "Fetch it by hand on a machine with internet access",  # the CIFAR-10 download
    "does not fit this MLP",  # course_utils.checkpoint
    "<All keys matched successfully>",  # the prefix removed
    "flattened: (8, 784); logits: (8, 10)",
    "the loss is a number: True",
]


def page() -> nbformat.NotebookNode:
    return nbformat.read(PAGE, as_version=4)


def headings(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        line
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("## ")
    ]


def outputs(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def missing_messages(notebook: nbformat.NotebookNode) -> list[str]:
    """The expected messages that the notebook's outputs lack."""
    printed = outputs(notebook)
    expected = [shown for _, shown in SECTIONS if shown] + ALSO_IN_OUTPUTS
    return [message for message in expected if message not in printed]


def test_each_section_title_carries_its_message():
    titles = headings(page())
    for words, _ in SECTIONS:
        assert any(words in title for title in titles), f"no section title holds {words!r}"


def test_each_live_error_is_in_the_committed_outputs():
    assert missing_messages(page()) == []


def test_a_reworded_message_in_the_outputs_is_noticed():
    notebook = copy.deepcopy(page())
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "mat1 and mat2" in output.get("text", ""):
                output.text = output.text.replace("cannot be multiplied", "do not match")
    assert missing_messages(notebook) == ["mat1 and mat2 shapes cannot be multiplied"]


def test_messages_not_produced_here_are_labelled_so():
    for cell in page().cells:
        if cell.cell_type == "markdown" and "```text" in cell.source:
            before = " ".join(cell.source.split("```text")[0].split())
            assert "not produced" in before, f"a quoted message without its label: {before[-200:]}"


def test_every_error_the_page_caught_was_counted():
    printed = outputs(page())
    counted = int(re.search(r"^errors produced live: (\d+)$", printed, re.MULTILINE).group(1))
    caught = re.findall(r"^(\w+(?:Error|Exception)): ", printed, re.MULTILINE)
    assert counted == len(caught) >= 10, caught


def test_the_page_shows_no_path_of_the_temporary_folders():
    printed = outputs(page())
    assert "<data folder>/MNIST/raw" in printed and "<folder>/small.pt" in printed


def error_of(action) -> str:
    with pytest.raises(Exception) as caught:
        action()
    return str(caught.value)


def test_this_pytorch_still_says_what_the_titles_quote():
    """The messages the titles quote, from the installed PyTorch (no notebook needed)."""
    assert "mat1 and mat2 shapes cannot be multiplied" in error_of(
        lambda: nn.Linear(784, 10)(torch.rand(2, 1, 28, 28))
    )
    assert "expected target dtype to be Long" in error_of(
        lambda: F.cross_entropy(torch.randn(2, 3), torch.tensor([0.0, 1.0]))
    )
    assert "is not on the expected device" in error_of(
        lambda: nn.Linear(3, 2).to("meta")(torch.ones(1, 3))
    )
    wrapped = {f"module.{key}": value for key, value in nn.Linear(2, 2).state_dict().items()}
    message = error_of(lambda: nn.Linear(2, 2).load_state_dict(wrapped))
    assert "Error(s) in loading state_dict" in message
    assert "Missing key(s)" in message and "Unexpected key(s)" in message
    assert "size mismatch" in error_of(
        lambda: nn.Linear(2, 2).load_state_dict(nn.Linear(3, 2).state_dict())
    )
