import io
import struct
import tarfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from course_utils import data
from course_utils.data import ArchiveError, cifar10, data_dir, dataset_to_tensors, download_file, ensure_cifar10, extract_archive, mnist

CLASSES = ["airplane", "cat"]


def png_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (value, value, value)).save(buffer, format="PNG")
    return buffer.getvalue()


def add_file(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def make_cifar_archive(path: Path, per_class: int = 3, extra: list[tarfile.TarInfo] | None = None) -> Path:
    """A tiny archive in the layout of the public cifar10.tgz."""
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for label, name in enumerate(CLASSES):
                for index in range(per_class):
                    add_file(tar, f"cifar10/{split}/{name}/{index:04d}.png", png_bytes(40 * label + index))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".cifar10-extract-"))


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path.resolve()


def test_data_dir_defaults_to_data_at_the_repository_root(monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data_dir() == Path(data.__file__).resolve().parents[1] / "data"


def test_extract_archive_puts_the_folder_in_place(tmp_path):
    archive = make_cifar_archive(tmp_path / "cifar10.tgz")
    folder = extract_archive(archive, tmp_path / "root", top_folder="cifar10")
    assert folder == tmp_path / "root" / "cifar10"
    assert sorted(p.name for p in (folder / "train").iterdir()) == CLASSES
    assert leftovers(tmp_path / "root") == []


def test_a_truncated_archive_names_the_file_and_leaves_nothing(tmp_path):
    archive = make_cifar_archive(tmp_path / "cifar10.tgz", per_class=20)
    payload = archive.read_bytes()
    archive.write_bytes(payload[: len(payload) // 2])
    root = tmp_path / "root"
    with pytest.raises(ArchiveError, match=r"cifar10\.tgz is truncated or corrupt.*Delete it"):
        extract_archive(archive, root, top_folder="cifar10")
    assert not (root / "cifar10").exists()
    assert leftovers(root) == []


def test_a_file_that_is_not_gzip_is_reported_as_corrupt(tmp_path):
    archive = tmp_path / "cifar10.tgz"
    archive.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        extract_archive(archive, tmp_path / "root", top_folder="cifar10")


def escaping_members() -> dict[str, tarfile.TarInfo]:
    evil = tarfile.TarInfo("../evil")
    evil.size = 1
    absolute = tarfile.TarInfo("/tmp/course-utils-absolute-evil")
    absolute.size = 1
    link = tarfile.TarInfo("cifar10/train/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../outside"
    return {"parent": evil, "absolute": absolute, "symlink": link}


# tarfile's data filter refuses "../" and links leaving the folder; it strips the
# leading "/" of an absolute name, which then fails the layout check instead.
@pytest.mark.parametrize(
    "kind, message",
    [("parent", r"unsafe: member '\.\./evil' was refused"), ("symlink", r"unsafe: member .*link' was refused"), ("absolute", "outside cifar10/")],
)
def test_a_member_escaping_the_folder_is_refused_and_nothing_is_written(tmp_path, kind, message):
    member = escaping_members()[kind]
    archive = make_cifar_archive(tmp_path / "cifar10.tgz", extra=[member])
    root = tmp_path / "root"
    with pytest.raises(ArchiveError, match=message):
        extract_archive(archive, root, top_folder="cifar10")
    assert not (root / "cifar10").exists()
    assert not (tmp_path / "evil").exists() and not Path("/tmp/course-utils-absolute-evil").exists()
    assert leftovers(root) == []


def test_an_archive_with_another_layout_is_refused(tmp_path):
    archive = tmp_path / "other.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "images/0001.png", png_bytes(1))
    with pytest.raises(ArchiveError, match="outside cifar10/"):
        extract_archive(archive, tmp_path / "root", top_folder="cifar10")


def test_stale_staging_folders_from_a_killed_run_are_cleaned(tmp_path):
    root = tmp_path / "root"
    (root / ".cifar10-extract-old" / "cifar10").mkdir(parents=True)
    extract_archive(make_cifar_archive(tmp_path / "cifar10.tgz"), root, top_folder="cifar10")
    assert leftovers(root) == []


def test_cifar10_returns_an_image_folder_from_the_archive(monkeypatch, tmp_path):
    make_cifar_archive(tmp_path / "cifar10.tgz")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    train, test = cifar10(train=True), cifar10(train=False)
    assert len(train) == len(test) == 6
    assert train.classes == CLASSES
    image, label = train[3]
    assert label == 1 and image.size == (4, 4)


def test_cifar10_without_data_and_without_download_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="CIFAR-10 is not in"):
        ensure_cifar10(tmp_path, download=False)


def test_ensure_cifar10_downloads_a_missing_archive(tmp_path):
    source = make_cifar_archive(tmp_path / "published.tgz")
    root = tmp_path / "root"
    folder = ensure_cifar10(root, url=source.as_uri())
    assert (root / "cifar10.tgz").read_bytes() == source.read_bytes()
    assert (folder / "test" / "cat").is_dir()


def test_a_failed_download_leaves_no_partial_file(tmp_path):
    with pytest.raises(RuntimeError, match="could not download"):
        download_file((tmp_path / "missing.tgz").as_uri(), tmp_path / "root" / "cifar10.tgz")
    assert list((tmp_path / "root").iterdir()) == []


def write_idx(path: Path, array: torch.Tensor, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", size) for size in array.shape)
    path.write_bytes(header + array.numpy().astype("uint8").tobytes())


def make_tiny_mnist(root: Path) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, count in (("train", 3), ("t10k", 2)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", torch.arange(count * 28 * 28).reshape(count, 28, 28) % 256, 0x803)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(count) + 5, 0x801)


def test_mnist_reads_the_data_folder_without_downloading(monkeypatch, tmp_path):
    make_tiny_mnist(tmp_path)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    train, test = mnist(train=True), mnist(train=False)
    assert (len(train), len(test)) == (3, 2)
    assert train[0][1] == 5 and test[1][1] == 6


def test_download_command_reports_what_it_did(monkeypatch, tmp_path, capsys):
    make_cifar_archive(tmp_path / "cifar10.tgz")
    make_tiny_mnist(tmp_path)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.main(["download", "--only", "cifar10", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "CIFAR-10: extracted from the archive" in out and "6 training" in out
    assert "MNIST: already present" in out and "3 training, 2 test" in out
    assert data.main(["download", "--only", "cifar10"]) == 0
    assert "CIFAR-10: already present" in capsys.readouterr().out


def test_download_command_reports_failures(monkeypatch, tmp_path, capsys):
    (tmp_path / "cifar10.tgz").write_bytes(b"garbage")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.main(["download", "--only", "cifar10"]) == 1
    assert "cifar10: FAILED" in capsys.readouterr().err


def test_dataset_to_tensors_decodes_each_sample_once(monkeypatch, tmp_path):
    from torchvision import transforms

    make_cifar_archive(tmp_path / "cifar10.tgz")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    dataset = cifar10(train=True, transform=transforms.ToTensor())
    inputs, labels = dataset_to_tensors(dataset, batch_size=4)
    assert inputs.shape == (6, 3, 4, 4) and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(inputs[4], dataset[4][0])


def test_dataset_to_tensors_rejects_an_empty_dataset():
    with pytest.raises(ValueError, match="empty"):
        dataset_to_tensors([])
