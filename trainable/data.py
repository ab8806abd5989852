"""CIFAR-10 as uint8 arrays: torchvision's download, a local copy (image folder, python batches, .tar.gz), or synthetic.

Every source ends as a `Dataset` of uint8 (N, 3, 32, 32) arrays, channel-first like `ToTensor()`, so the
trainer builds the seed's inputs (`uint8 / 255 * input_scale`, flattened C,H,W) the same way for all of them.
Local copies are decoded once and cached as .npy files; a second load takes a fraction of a second.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

IMAGE_SHAPE = (3, 32, 32)
N_CLASSES = 10
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
BATCH_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


class DataError(ValueError):
    """The data source is missing or not in a layout we read; the message names the path and what was expected."""


@dataclass
class Dataset:
    train_x: np.ndarray  # uint8 (N, 3, 32, 32)
    train_y: np.ndarray  # int64 (N,)
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    source: str


@dataclass(frozen=True)
class DataSource:
    """Where the images come from: `cifar10` (torchvision download), `folder` (a local copy) or `synthetic`."""

    kind: str = "cifar10"
    path: str | None = None  # folder: the local copy; cifar10: torchvision's root (None = cache dir)
    n_train: int = 2000  # synthetic sizes
    n_test: int = 500

    def __post_init__(self) -> None:
        if self.kind not in ("cifar10", "folder", "synthetic"):
            raise DataError(f"data source kind {self.kind!r} is unknown; allowed: cifar10, folder, synthetic")
        if self.kind == "folder" and not self.path:
            raise DataError("data source 'folder' needs a path (--data-dir PATH)")
        if self.kind == "synthetic" and (self.n_train < 1 or self.n_test < 1):
            raise DataError(f"synthetic data needs n_train >= 1 and n_test >= 1, got {self.n_train}, {self.n_test}")


def cache_dir() -> Path:
    """Where decoded copies and torchvision downloads live: $STABILITY_SWEEP_CACHE or ~/.cache/stability-sweep."""
    return Path(os.environ.get("STABILITY_SWEEP_CACHE", Path.home() / ".cache" / "stability-sweep"))


def load_dataset(source: DataSource) -> Dataset:
    if source.kind == "synthetic":
        return synthetic_dataset(source.n_train, source.n_test)
    if source.kind == "folder":
        return load_local_copy(Path(source.path))
    return load_torchvision(Path(source.path) if source.path else cache_dir() / "torchvision")


def synthetic_dataset(n_train: int = 2000, n_test: int = 500, seed: int = 0) -> Dataset:
    """CIFAR-shaped, learnable data made in memory: each class is a fixed random image plus per-sample noise."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(N_CLASSES, *IMAGE_SHAPE)).astype(np.float32)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, N_CLASSES, size=n)
        noise = rng.integers(0, 256, size=(n, *IMAGE_SHAPE)).astype(np.float32)
        return (0.35 * prototypes[y] + 0.65 * noise).astype(np.uint8), y.astype(np.int64)

    train_x, train_y = draw(n_train)
    test_x, test_y = draw(n_test)
    classes = [f"class{i}" for i in range(N_CLASSES)]
    return Dataset(train_x, train_y, test_x, test_y, classes, f"synthetic({n_train},{n_test})")


def load_torchvision(root: Path) -> Dataset:
    """The default source, as the seed did it: torchvision's CIFAR10 with download=True."""
    from torchvision.datasets import CIFAR10

    try:
        train = CIFAR10(str(root), train=True, download=True)
        test = CIFAR10(str(root), train=False, download=True)
    except Exception as exc:  # urllib/socket errors differ by platform; all mean "could not get it"
        raise DataError(
            f"could not download CIFAR-10 into {root} ({type(exc).__name__}: {exc}); without internet, pass "
            "--data-dir PATH to a local copy (an image folder with train/ and test/, a cifar-10-batches-py "
            "folder, or a .tar.gz of either)"
        ) from None
    return Dataset(
        np.ascontiguousarray(train.data.transpose(0, 3, 1, 2)),
        np.asarray(train.targets, dtype=np.int64),
        np.ascontiguousarray(test.data.transpose(0, 3, 1, 2)),
        np.asarray(test.targets, dtype=np.int64),
        list(train.classes),
        f"torchvision:{root}",
    )


def load_local_copy(path: Path) -> Dataset:
    """An image folder, a cifar-10-batches-py folder, or a .tar.gz of either; decoded once, then cached."""
    if not path.exists():
        raise DataError(f"data path {path} does not exist; expected an image folder, a cifar-10-batches-py "
                        "folder, or a .tar.gz of either")
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = cache_dir() / "decoded" / key
    if (cached / "done").exists():
        arrays = {name: np.load(cached / f"{name}.npy") for name in ("train_x", "train_y", "test_x", "test_y")}
        classes = (cached / "classes.txt").read_text().split("\n")
        return Dataset(**arrays, classes=classes, source=str(path))
    dataset = _decode(_list_files(path), str(path))
    _write_cache(cached, dataset)
    return dataset


def _write_cache(folder: Path, dataset: Dataset) -> None:
    """Write all arrays, then the marker: a killed process leaves no half cache that looks complete."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        np.save(folder / f"{name}.npy", getattr(dataset, name))
    (folder / "classes.txt").write_text("\n".join(dataset.classes))
    (folder / "done").touch()


def _list_files(path: Path) -> dict[str, Callable[[], bytes] | None]:
    """Relative name -> reader, for a folder or a .tar.gz alike; folders appear as 'name/' -> None."""
    if path.is_dir():
        return {p.relative_to(path).as_posix() + ("/" if p.is_dir() else ""): p.read_bytes if p.is_file() else None
                for p in path.rglob("*")}
    if not tarfile.is_tarfile(path):
        raise DataError(f"data path {path} is neither a folder nor a .tar.gz archive")
    with tarfile.open(path) as archive:  # one sequential pass; 60,000 small files fit in memory
        contents = {m.name.rstrip("/") + ("/" if m.isdir() else ""):
                    archive.extractfile(m).read() if m.isfile() else None for m in archive if m.isfile() or m.isdir()}
    return {name: (lambda data=data: data) if data is not None else None for name, data in contents.items()}


def _find_root(names: list[str], marker: Callable[[str], bool]) -> str | None:
    """The shortest folder prefix ('' or 'a/b/') under which `marker(prefix)` holds."""
    prefixes = {""} | {name[: i + 1] for name in names for i, ch in enumerate(name) if ch == "/"}
    hits = [p for p in prefixes if marker(p)]
    return min(hits, key=len) if hits else None


def _decode(files: dict[str, Callable[[], bytes] | None], where: str) -> Dataset:
    names = list(files)
    batches = _find_root(names, lambda p: f"{p}data_batch_1" in files or f"{p}test_batch" in files)
    if batches is not None:
        return _decode_batches(files, batches, where)
    folders = _find_root(names, lambda p: any(n.startswith(f"{p}train/") for n in names)
                         and any(n.startswith(f"{p}test/") for n in names))
    if folders is None:
        raise DataError(f"{where}: expected train/ and test/ folders with one sub-folder per class "
                        f"(or a cifar-10-batches-py folder); found neither")
    return _decode_image_folder(files, folders, where)


def _decode_batches(files: dict[str, Callable[[], bytes] | None], root: str, where: str) -> Dataset:
    missing = [b for b in BATCH_FILES if f"{root}{b}" not in files]
    if missing:
        raise DataError(f"{where}: cifar-10-batches-py layout is missing {', '.join(missing)}")

    def read(batch: str) -> tuple[np.ndarray, np.ndarray]:
        content = pickle.loads(files[f"{root}{batch}"](), encoding="bytes")
        data = np.asarray(content[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != int(np.prod(IMAGE_SHAPE)):
            raise DataError(f"{where}: {batch} holds images of {data.shape[1:]} values, expected 3072 (3x32x32)")
        return data.reshape(-1, *IMAGE_SHAPE), np.asarray(content[b"labels"], dtype=np.int64)

    train = [read(b) for b in BATCH_FILES[:5]]
    test_x, test_y = read("test_batch")
    meta = files.get(f"{root}batches.meta")
    classes = ([c.decode() for c in pickle.loads(meta(), encoding="bytes")[b"label_names"]] if meta
               else [f"class{i}" for i in range(N_CLASSES)])
    return Dataset(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
                   test_x, test_y, classes, where)


def _decode_image_folder(files: dict[str, Callable[[], bytes] | None], root: str, where: str) -> Dataset:
    splits: dict[str, dict[str, list[str]]] = {"train": {}, "test": {}}
    for name in files:
        parts = name[len(root):].split("/")
        if name.startswith(root) and len(parts) == 3 and parts[0] in splits and parts[2].lower().endswith(IMAGE_SUFFIXES):
            splits[parts[0]].setdefault(parts[1], []).append(name)
    for split, classes in splits.items():
        if not classes:
            raise DataError(f"{where}: {root}{split}/ holds no class folders with .png/.jpg images (empty split)")
    classes = sorted(splits["train"])
    if len(classes) != N_CLASSES:
        raise DataError(f"{where}: {root}train/ has {len(classes)} class folders, expected {N_CLASSES}")
    missing = sorted(set(classes) ^ set(splits["test"]))
    if missing:
        raise DataError(f"{where}: class folder(s) {', '.join(missing)} missing from train/ or test/; "
                        "both splits need the same 10 classes")
    x_train, y_train = _decode_images(files, splits["train"], classes, where)
    x_test, y_test = _decode_images(files, splits["test"], classes, where)
    return Dataset(x_train, y_train, x_test, y_test, classes, where)


def _decode_images(files: dict[str, Callable[[], bytes] | None], by_class: dict[str, list[str]],
                   classes: list[str], where: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    names = [n for c in classes for n in sorted(by_class[c])]
    labels = np.array([i for i, c in enumerate(classes) for _ in by_class[c]], dtype=np.int64)

    def decode(name: str) -> np.ndarray:
        with Image.open(io.BytesIO(files[name]())) as image:
            if image.size != IMAGE_SHAPE[1:]:
                raise DataError(f"{where}: {name} is {image.size[0]}x{image.size[1]}, expected 32x32")
            return np.asarray(image.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)

    with ThreadPoolExecutor(os.cpu_count()) as pool:  # Pillow decodes outside the GIL
        images = list(pool.map(decode, names))
    return np.stack(images), labels
