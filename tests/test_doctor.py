"""The environment doctor: one line per check, FAIL (never a traceback) when broken."""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, make_idx_dataset, png_bytes

from course_utils import data, doctor
from course_utils.doctor import FAIL, OK, WARN

SHARED_DATA = os.environ.get("COURSE_DATA_DIR")


def run_main(capsys) -> tuple[int, str]:
    """The exit status and output of ``python -m course_utils.doctor``, in this process."""
    status = doctor.main([])
    output = capsys.readouterr()
    assert "Traceback" not in output.out + output.err
    return status, output.out


def line_of(output: str, name: str) -> str:
    """The report's line for the check ``name`` (the first column is the status)."""
    found = [line for line in output.splitlines() if line.split()[1:2] == [name]]
    assert found, f"no line for {name!r} in:\n{output}"
    return found[0]


def check_named(checks: list, name: str):
    return next(check for check in checks if check.name == name)


@pytest.fixture
def data_folder(monkeypatch, tmp_path) -> Path:
    """An empty data folder that COURSE_DATA_DIR points at."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    return folder


def test_a_healthy_run_exits_0_with_one_line_per_check(capsys, data_folder):
    make_idx_dataset(data_folder, "MNIST")
    status, output = run_main(capsys)
    assert status == 0, output
    for name in ("Python", "torch", "torchvision", "device", "memory", "disk", "where"):
        assert line_of(output, name).split()[0] in (OK, WARN)
    assert line_of(output, "MNIST").startswith(f"{OK}    MNIST")
    assert "ready: 3 training and 2 test images" in line_of(output, "MNIST")
    assert "absent: lesson 05 downloads it" in line_of(output, "CIFAR-10")
    assert f"{data_folder} (COURSE_DATA_DIR)" in line_of(output, "data")
    assert "paste from here into your question" in output


@pytest.mark.skipif(
    not SHARED_DATA, reason="needs COURSE_DATA_DIR, the course's data folder (.ci/run sets it)"
)
def test_the_course_data_folder_reads_ready_for_every_dataset(capsys):
    data.ensure_cifar10(Path(SHARED_DATA), download=False)  # unpacks cifar10.tgz if not yet
    status, output = run_main(capsys)
    for name in ("MNIST", "Fashion-MNIST", "CIFAR-10"):
        assert line_of(output, name).startswith(OK) and " ready: " in line_of(output, name)
    assert status == 0, output


@pytest.mark.slow  # two runs of `python -m course_utils.doctor`, each importing PyTorch
def test_the_command_line_exits_0_when_healthy_and_1_on_a_fail(data_folder):
    command = [sys.executable, "-m", "course_utils.doctor"]
    healthy = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    (data_folder / "cifar10" / "train").mkdir(parents=True)  # extraction never finished
    broken = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert broken.returncode == 1
    assert "Traceback" not in broken.stdout + broken.stderr


def test_a_missing_package_is_a_fail_line_with_the_install_command(
    capsys, data_folder, monkeypatch
):
    real_version = importlib.metadata.version

    def version(name):
        if name == "tqdm":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    status, output = run_main(capsys)
    assert status == 1
    tqdm_line = line_of(output, "tqdm")
    assert tqdm_line.startswith(FAIL) and "not installed" in tqdm_line
    assert 'pip install "tqdm==' in tqdm_line  # the pinned version, from constraints.txt
    assert line_of(output, "torch").startswith(OK)


def test_a_requirement_not_installed_fails_and_versions_are_held_to_the_tested_range(monkeypatch):
    missing = doctor.check_package("no-such-package-for-the-doctor>=1.0", {})
    assert (
        missing.status == FAIL
        and missing.fix == 'pip install "no-such-package-for-the-doctor>=1.0"'
    )
    for installed, expected in (("2.2.2", FAIL), ("2.3", OK), ("2.14.1+cpu", OK), ("2.15.0", WARN)):
        monkeypatch.setattr(importlib.metadata, "version", lambda name, v=installed: v)
        check = doctor.check_package("torch>=2.3", {"torch": "2.14.1"})
        assert check.status == expected, (installed, check)


def test_the_range_comes_from_pyproject_and_constraints_not_from_the_doctor():
    python, requirements, _ = doctor.course_requirements()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert python == project["requires-python"]
    assert requirements == project["dependencies"]  # the extras (lab, test) left out
    pins = doctor.pinned_versions(ROOT / "constraints.txt")
    source = (ROOT / "course_utils" / "doctor.py").read_text()
    for text in [*requirements, pins["torch"], pins["torchvision"]]:
        assert text not in source  # written down once, in pyproject.toml and constraints.txt


def test_a_data_folder_that_is_a_file_is_a_fail_line(capsys, monkeypatch, tmp_path):
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("not a folder")
    monkeypatch.setenv("COURSE_DATA_DIR", str(not_a_folder))
    status, output = run_main(capsys)
    assert status == 1
    assert line_of(output, "data").startswith(FAIL)
    assert "is a file, not a folder" in line_of(output, "data")
    assert line_of(output, "CIFAR-10").startswith(FAIL)  # not checked, and said so
    assert line_of(output, "disk").startswith(OK)


def test_an_unreadable_data_folder_is_a_fail_line(capsys, data_folder, monkeypatch):
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == data_folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    status, output = run_main(capsys)
    assert status == 1
    assert line_of(output, "data").startswith(FAIL) and "cannot be read" in line_of(output, "data")


def half_extracted_cifar10(folder: Path) -> Path:
    """``folder/cifar10`` as an interrupted extraction leaves it: some images, no marker."""
    for name in data.CIFAR10.classes[:3]:
        (folder / "cifar10" / "train" / name).mkdir(parents=True)
        for index in range(2):
            (folder / "cifar10" / "train" / name / f"{index:04d}.png").write_bytes(png_bytes(9))
    assert data.dataset_problem(folder / "cifar10") is not None  # the data module's verdict
    return folder / "cifar10"


def test_a_half_extracted_cifar10_is_a_fail_line_that_says_how_to_fix_it(capsys, data_folder):
    half_extracted_cifar10(data_folder)
    status, output = run_main(capsys)
    assert status == 1
    cifar_line = line_of(output, "CIFAR-10")
    assert cifar_line.startswith(FAIL) and "incomplete" in cifar_line
    assert "never marked complete" in cifar_line
    assert "python -m course_utils.prefetch --only cifar10" in cifar_line


def test_a_marked_cifar10_that_lost_images_is_incomplete(data_folder):
    folder = half_extracted_cifar10(data_folder)
    (folder / data.MARKER).write_text(json.dumps(data.CIFAR10.marker()))
    checks = doctor.run_checks()
    cifar = check_named(checks, "CIFAR-10")
    assert cifar.status == FAIL and cifar.facts["state"] == "incomplete"
    assert "expected 5,000" in cifar.message


def test_a_damaged_mnist_file_is_incomplete(data_folder):
    raw = make_idx_dataset(data_folder, "FashionMNIST")
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00")
    fashion = check_named(doctor.run_checks(), "Fashion-MNIST")
    assert fashion.status == FAIL and fashion.facts["state"] == "incomplete"
    assert "t10k-labels-idx1-ubyte is truncated" in fashion.message


def test_the_paste_block_holds_no_home_folder_and_no_user_name(monkeypatch, tmp_path, capsys):
    user = "learnerzed"
    home = tmp_path / "home" / user
    (home / "course-data").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USER", user)
    monkeypatch.setenv("LOGNAME", user)
    monkeypatch.setattr(getpass, "getuser", lambda: user)
    monkeypatch.setenv("COURSE_DATA_DIR", str(home / "course-data"))
    doctor.main([])
    output = capsys.readouterr().out
    block = output[output.index("paste from here") :]
    assert f"{home}/course-data" in output  # the report itself shows the real path
    assert "~/course-data (COURSE_DATA_DIR)" in block
    assert user not in block and str(home) not in block and str(tmp_path) not in block


def test_scrub_replaces_each_spelling_of_home_and_whole_user_names_only():
    text = "/home/ann/data, /home/annex, ann's, /srv/ann/x, banner, Johann"
    assert doctor.scrub(text, ["/home/ann"], ["ann"]) == (
        "~/data, /home/annex, <user>'s, /srv/<user>/x, banner, Johann"
    )


def test_no_check_raises_a_traceback_even_when_a_check_breaks(capsys, data_folder, monkeypatch):
    def broken(*args):
        raise RuntimeError("a check that breaks")

    for name in ("check_python", "check_package", "check_device", "check_data_folder"):
        monkeypatch.setattr(doctor, name, broken)
    monkeypatch.setattr(doctor, "memory_figures", broken)
    status, output = run_main(capsys)
    assert status == 1
    assert "could not run (RuntimeError: a check that breaks)" in line_of(output, "device")
    assert line_of(output, "torch").startswith(FAIL)


def test_without_pytorch_every_check_still_reports(capsys, data_folder, monkeypatch):
    for name in ("torch", "course_utils.data", "course_utils.device"):
        monkeypatch.setitem(sys.modules, name, None)  # `import torch` now fails, as if missing
    status, output = run_main(capsys)
    assert status == 1
    assert line_of(output, "device").startswith(FAIL)
    assert "cannot tell: PyTorch does not import" in line_of(output, "device")
    assert line_of(output, "data").startswith(FAIL)
    assert "course_utils.data does not import" in line_of(output, "data")
    assert "where" in output.split("\n\n")[1]  # the checks after them ran too


def test_check_environment_prints_a_compact_report_and_never_raises(capsys, data_folder):
    assert doctor.check_environment() is True
    compact = capsys.readouterr().out
    assert compact.startswith("Environment: ") and "torch " in compact
    assert len(compact.splitlines()) < 12
    (data_folder / "cifar10" / "train").mkdir(parents=True)
    assert doctor.check_environment() is False
    assert "CIFAR-10" in capsys.readouterr().out


def test_check_environment_returns_false_when_the_checks_cannot_run(capsys, monkeypatch):
    monkeypatch.setattr(doctor, "run_checks", lambda *args: 1 / 0)
    assert doctor.check_environment() is False
    assert "could not run (ZeroDivisionError" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("available", "total", "status"),
    [(8e9, 16e9, OK), (1.8e9, 2e9, OK), (1e9, 16e9, WARN), (1e9, 1.2e9, FAIL)],
)
def test_memory_is_held_to_the_course_budget(available, total, status):
    assert doctor.check_memory(available, total).status == status


def test_too_little_disk_for_the_missing_datasets_is_a_fail(monkeypatch, tmp_path):
    usage = type("Usage", (), {"free": 100_000_000})
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage)
    assert doctor.check_disk(tmp_path, 50_000_000, 530_000_000).status == OK
    assert doctor.check_disk(tmp_path, 415_000_000, 530_000_000).status == FAIL


def test_where_it_runs():
    assert doctor.where_it_runs({"COLAB_RELEASE_TAG": "release-colab"}) == "colab"
    assert doctor.where_it_runs({"BINDER_LAUNCH_HOST": "https://mybinder.org/"}) == "binder"
    assert doctor.where_it_runs({}) == "checkout"


def test_the_device_line_names_a_cuda_gpu_its_memory_and_bfloat16(monkeypatch):
    """The CUDA branch, on a CPU: PyTorch's answers about the GPU are stood in for."""
    import torch

    properties = type("Properties", (), {"name": "NVIDIA A100", "total_memory": 40e9})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: properties)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    monkeypatch.setattr(torch.version, "hip", None)
    check = doctor.check_device()
    assert check.status == OK and check.facts["device"] == "cuda"
    assert check.message.startswith("cuda: NVIDIA A100, 40.0 GB; fast bfloat16: yes")
    assert doctor.check_device(on_colab=True).status == OK  # a GPU on Colab: nothing to do


def test_colab_without_a_gpu_is_told_how_to_get_one(monkeypatch):
    import torch

    import course_utils.device

    monkeypatch.setattr(course_utils.device, "get_default_device", lambda: torch.device("cpu"))
    assert doctor.check_device().status == OK  # a CPU is fine for every lesson
    on_colab = doctor.check_device(on_colab=True)
    assert on_colab.status == WARN and "Runtime > Change runtime type > GPU" in on_colab.fix
