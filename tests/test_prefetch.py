import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import cifar_members, make_idx_dataset, write_archive

from course_utils import prefetch
from course_utils.data import CIFAR10

SMALL = replace(CIFAR10, splits=(("train", 2), ("test", 1)), image_size=(4, 4))


@pytest.fixture
def root(monkeypatch, tmp_path, offline):
    """A data folder (``COURSE_DATA_DIR``); every download goes to a closed port."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def small(offline):
    return replace(SMALL, url=offline)


def test_prefetch_reports_what_it_did_and_then_finds_everything_present(root, small, capsys):
    write_archive(root / "cifar10.tgz", cifar_members(small, folders=False))
    make_idx_dataset(root)
    assert prefetch.main(["--only", "cifar10", "mnist"], archive=small) == 0
    out = capsys.readouterr().out
    assert "CIFAR-10: extracted from the archive" in out and "20 training, 10 test" in out
    assert "MNIST: already present" in out and "3 training, 2 test" in out
    assert prefetch.main(["--only", "cifar10"], archive=small) == 0
    assert "CIFAR-10: already present" in capsys.readouterr().out


def test_prefetch_fails_for_a_dataset_it_cannot_fetch(root, small, capsys):
    make_idx_dataset(root)
    assert prefetch.main([], archive=small) == 1
    captured = capsys.readouterr()
    assert "MNIST: already present" in captured.out
    assert "fashion-mnist: FAILED: Could not download FashionMNIST" in captured.err
    assert str(root / "FashionMNIST" / "raw") in captured.err
    assert "cifar10: FAILED: Could not download cifar10.tgz" in captured.err
    assert str(root / "cifar10.tgz") in captured.err


def test_an_incomplete_folder_without_the_archive_is_a_failure(root, small, capsys):
    archive = write_archive(root / "cifar10.tgz", cifar_members(small))
    assert prefetch.main(["--only", "cifar10"], archive=small) == 0
    archive.unlink()
    shutil.rmtree(root / "cifar10" / "train" / "cat")
    shutil.rmtree(root / "cifar10" / "train" / "dog")
    assert prefetch.main(["--only", "cifar10"], archive=small) == 1
    err = capsys.readouterr().err
    assert "is incomplete (train/ lacks the class folder(s) cat, dog)" in err
    assert "cifar10: FAILED" in err


def test_an_empty_folder_without_the_archive_is_a_failure(root, small, capsys):
    (root / "cifar10").mkdir()
    assert prefetch.main(["--only", "cifar10"], archive=small) == 1
    err = capsys.readouterr().err
    assert "never marked complete" in err and "cifar10: FAILED" in err


def test_a_corrupt_archive_is_a_failure(root, small, capsys):
    (root / "cifar10.tgz").write_bytes(b"garbage")
    assert prefetch.main(["--only", "cifar10"], archive=small) == 1
    assert "cifar10: FAILED" in capsys.readouterr().err and not (root / "cifar10").exists()


def test_the_command_runs_as_documented(tmp_path):
    make_idx_dataset(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "course_utils.prefetch", "--only", "mnist"],
        env={**os.environ, "COURSE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"Data folder: {tmp_path}" in result.stdout
    assert "MNIST: already present" in result.stdout
