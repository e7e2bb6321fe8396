"""instructor.compat: the environment it asks pip for, and what it reads back."""

import pytest

from instructor.compat import constraints_for, pytest_counts, version

PINNED = """# comment
numpy==2.4.6
torch==2.14.1
torchvision==0.29.1
nvidia-cublas==13.1.1.3
triton==3.8.0
cuda-bindings==13.5.0
tqdm==4.70.1
"""


def test_the_pytorch_pair_brings_its_own_packages_and_pins_can_be_replaced():
    assert constraints_for(PINNED, []) == "# comment\nnumpy==2.4.6\ntqdm==4.70.1\n"
    replaced = constraints_for(PINNED, ["numpy==1.26.4"])
    assert replaced == "# comment\ntqdm==4.70.1\nnumpy==1.26.4\n"


@pytest.mark.parametrize("bad", ["numpy", "numpy>=1.26", "==1.26.4"])
def test_a_pin_that_is_not_name_and_version_is_refused(bad):
    with pytest.raises(SystemExit, match="NAME==VERSION"):
        constraints_for(PINNED, [bad])


def test_versions_must_be_release_numbers():
    assert version("2.9.1", "--torch") == "2.9.1"
    with pytest.raises(SystemExit, match="--torch must be a release number"):
        version("latest", "--torch")


def test_pytests_summary_is_read_with_or_without_its_rule():
    assert pytest_counts("...\n1 failed, 804 passed in 268.95s (0:04:28)\n") == (
        "1 failed, 804 passed in 268.95s"
    )
    assert pytest_counts("== 3 passed, 1 skipped in 2.0s ==\n") == "3 passed, 1 skipped in 2.0s"
    assert pytest_counts("ImportError while loading conftest\n") == "no pytest summary"
