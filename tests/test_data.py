"""The data readers (image folder, cifar-10-batches-py, .tar.gz of either), their cache and their errors."""
from __future__ import annotations

import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from trainable import DataError, DataSource, load_dataset
from trainable.data import cache_dir, synthetic_dataset

from conftest import REAL_CIFAR

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_image_folder(root, per_class=(3, 2), size=32, classes=CLASSES, suffix=".png"):
    """An ImageFolder tree whose pixel values encode (split, class, index), so order can be checked."""
    for split, count in zip(("train", "test"), per_class):
        for label, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = np.full((size, size, 3), 10 * label + i, dtype=np.uint8)
                pixels[0, 0] = (200, 100, 50)  # distinct channels: catches HWC/CHW mix-ups
                Image.fromarray(pixels).save(root / split / name / f"{i:04d}{suffix}")
    return root


def test_image_folder_is_read_channel_first_with_labels_in_class_order(tmp_path):
    data = load_dataset(DataSource("folder", str(write_image_folder(tmp_path / "cifar"))))
    assert data.train_x.shape == (30, 3, 32, 32) and data.test_x.shape == (20, 3, 32, 32)
    assert data.train_x.dtype == np.uint8 and data.classes == CLASSES
    assert list(data.train_y) == [c for c in range(10) for _ in range(3)]
    assert data.train_x[7, :, 5, 5].tolist() == [21, 21, 21]  # class 2, image 1
    assert data.train_x[0, :, 0, 0].tolist() == [200, 100, 50]


def test_tar_gz_of_an_image_folder_reads_the_same_and_is_cached(tmp_path):
    folder = write_image_folder(tmp_path / "cifar10-jpeg", suffix=".png")
    archive = tmp_path / "copy.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar10-jpeg")
    direct = load_dataset(DataSource("folder", str(folder)))
    first = load_dataset(DataSource("folder", str(archive)))
    assert np.array_equal(first.train_x, direct.train_x) and np.array_equal(first.test_y, direct.test_y)
    cached = list((cache_dir() / "decoded").glob("*/done"))
    assert len(cached) == 2
    archive_mtime = archive.stat().st_mtime_ns
    second = load_dataset(DataSource("folder", str(archive)))
    assert np.array_equal(second.train_x, first.train_x) and second.classes == first.classes
    assert archive.stat().st_mtime_ns == archive_mtime and len(list((cache_dir() / "decoded").glob("*/done"))) == 2


def write_batches(root, n_per_batch=4):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        content = {b"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                   b"labels": list(rng.integers(0, 10, n_per_batch))}
        (root / name).write_bytes(pickle.dumps(content))
        written[name] = content
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": [c.encode() for c in CLASSES]}))
    return written


def test_cifar_batches_folder_and_its_tar_gz(tmp_path):
    written = write_batches(tmp_path / "cifar-10-batches-py")
    data = load_dataset(DataSource("folder", str(tmp_path)))
    assert data.train_x.shape == (20, 3, 32, 32) and data.test_x.shape == (4, 3, 32, 32)
    assert np.array_equal(data.train_x[:4].reshape(4, -1), written["data_batch_1"][b"data"])
    assert data.test_y.tolist() == list(written["test_batch"][b"labels"]) and data.classes == CLASSES
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    assert np.array_equal(load_dataset(DataSource("folder", str(archive))).train_x, data.train_x)


def test_missing_batch_file_is_named(tmp_path):
    write_batches(tmp_path / "b")
    (tmp_path / "b" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_dataset(DataSource("folder", str(tmp_path / "b")))


@pytest.mark.parametrize("break_it, message", [
    (lambda root: None, "does not exist"),
    (lambda root: (root / "train" / "cat").rename(root / "train" / "kat"), "missing from train/ or test/"),
    (lambda root: [p.unlink() for p in (root / "test").rglob("*.png")], "empty split"),
    (lambda root: Image.new("RGB", (28, 28)).save(root / "train" / "cat" / "0000.png"), "28x28, expected 32x32"),
    (lambda root: [p.rename(root / p.name) for p in [root / "train", root / "test"]] and
     (root / "test").rename(root / "validation"), "expected train/ and test/"),
])
def test_broken_image_folders_are_refused_with_the_path(tmp_path, break_it, message):
    root = write_image_folder(tmp_path / "copy")
    break_it(root)
    path = tmp_path / "missing" if message == "does not exist" else root
    with pytest.raises(DataError, match=message) as info:
        load_dataset(DataSource("folder", str(path)))
    assert str(path) in str(info.value)


def test_nine_classes_is_refused(tmp_path):
    with pytest.raises(DataError, match="9 class folders, expected 10"):
        load_dataset(DataSource("folder", str(write_image_folder(tmp_path / "nine", classes=CLASSES[:9]))))


def test_not_an_archive_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="neither a folder nor a .tar.gz"):
        load_dataset(DataSource("folder", str(tmp_path / "notes.txt")))


def test_no_internet_and_no_copy_says_how_to_pass_data_dir(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="--data-dir PATH"):
        load_dataset(DataSource("cifar10", str(tmp_path / "root")))


def test_synthetic_data_is_deterministic_and_cifar_shaped():
    a, b = synthetic_dataset(100, 20), synthetic_dataset(100, 20)
    assert a.train_x.shape == (100, 3, 32, 32) and a.test_x.shape == (20, 3, 32, 32)
    assert np.array_equal(a.train_x, b.train_x) and set(a.train_y) <= set(range(10))


@pytest.mark.skipif(not REAL_CIFAR.exists(), reason="the real CIFAR-10 copy (../shared/data) is not here")
def test_real_copy_matches_cifar10():
    data = load_dataset(DataSource("folder", str(REAL_CIFAR)))
    assert data.train_x.shape == (50000, 3, 32, 32) and data.test_x.shape == (10000, 3, 32, 32)
    assert np.bincount(data.train_y).tolist() == [5000] * 10 and np.bincount(data.test_y).tolist() == [1000] * 10
    assert data.classes == CLASSES
    means = data.train_x.mean(axis=(0, 2, 3)) / 255
    assert np.allclose(means, [0.4914, 0.4822, 0.4465], atol=0.002)
