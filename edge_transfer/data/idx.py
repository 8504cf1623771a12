"""Fashion-MNIST (Xiao et al. 2017: 70,000 28x28 grey images of 10 clothing classes) from the IDX
files Debian's ``dataset-fashion-mnist`` package installs under /usr/share/datasets/fashion-mnist
(or the folder ``$EDGE_TRANSFER_FASHION_MNIST`` names): the official 60,000-image training set
is the task's train split and the 10,000-image test set its val split.

Specs: ``fashion-mnist`` (all ten classes), ``fashion-mnist:0to4`` / ``fashion-mnist:5to9`` (a
range), or ``fashion-mnist:0,2,4`` (a list); labels are renumbered from 0 in the order given.
IDX files are read with their sizes checked against their headers before anything is
allocated, so a damaged or hostile file fails in one line."""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

from ..errors import OptionError

PREFIX = "fashion-mnist"
DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
ROOT_ENV = "EDGE_TRANSFER_FASHION_MNIST"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MAX_ITEMS = 1_000_000  # far above Fashion-MNIST's 60,000; a header claiming more is refused
MAX_SIDE = 1024
_MAGIC = {3: 0x00000803, 1: 0x00000801}  # unsigned bytes, 3 dims (images) or 1 dim (labels)
MISSING = (f"Fashion-MNIST is not installed: `apt-get install dataset-fashion-mnist` (IDX files under {DEFAULT_ROOT}), "
           f"or set {ROOT_ENV}=FOLDER holding the four IDX files")


def is_spec(spec: str) -> bool:
    return spec == PREFIX or spec.startswith(PREFIX + ":")


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def parse_classes(spec: str) -> tuple[int, ...]:
    """The class indices a spec keeps, in order."""
    rest = spec[len(PREFIX) + 1:] if spec != PREFIX else ""
    fix = f"e.g. {PREFIX}, {PREFIX}:0to4 or {PREFIX}:0,2,4 (classes 0-9: {', '.join(CLASSES)})"
    try:
        if not rest:
            classes = tuple(range(10))
        elif "to" in rest:
            low, high = (int(x) for x in rest.split("to"))
            classes = tuple(range(low, high + 1))
        else:
            classes = tuple(int(x) for x in rest.split(","))
    except ValueError:
        raise OptionError(f"--data {spec!r} is not a Fashion-MNIST spec; {fix}") from None
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(0 <= c <= 9 for c in classes):
        raise OptionError(f"--data {spec!r} needs at least 2 distinct classes from 0 to 9; {fix}")
    return classes


def read_idx(path: Path, dims: int):
    """A uint8 array of an IDX file of ``dims`` dimensions (``path`` or ``path``.gz)."""
    import numpy as np

    found = next((p for p in (path, path.with_name(path.name + ".gz")) if p.is_file()), None)
    if found is None:
        raise OptionError(f"{path}(.gz) not found; {MISSING}")
    opener = gzip.open if found.suffix == ".gz" else open
    try:
        with opener(found, "rb") as f:
            header = f.read(4 + 4 * dims)
            if len(header) < 4 + 4 * dims or int.from_bytes(header[:4], "big") != _MAGIC[dims]:
                raise OptionError(f"{found} is not an IDX file of {dims}-dimensional unsigned bytes; reinstall "
                                  "dataset-fashion-mnist")
            shape = tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
            if not 0 < shape[0] <= MAX_ITEMS or any(not 0 < s <= MAX_SIDE for s in shape[1:]):
                raise OptionError(f"{found} declares shape {shape}, outside what an image data set holds; reinstall "
                                  "dataset-fashion-mnist")
            size = int(np.prod(shape))
            data = f.read(size + 1)  # one byte more shows trailing garbage
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise OptionError(f"{found} cannot be read ({exc}); reinstall dataset-fashion-mnist") from None
    if len(data) != size:
        raise OptionError(f"{found} holds {len(data)} bytes of data where its header declares {size}; reinstall "
                          "dataset-fashion-mnist")
    return np.frombuffer(bytearray(data), dtype=np.uint8).reshape(shape)  # writable: torch shares it


@functools.lru_cache(maxsize=None)
def _split(folder: str, split: str):
    """(images [n, 28, 28], labels [n]) of one split, read once per process."""
    images_file, labels_file = SPLITS[split]
    images, labels = read_idx(Path(folder) / images_file, 3), read_idx(Path(folder) / labels_file, 1)
    if len(images) != len(labels):
        raise OptionError(f"{folder}: {split} has {len(images)} images but {len(labels)} labels; reinstall "
                          "dataset-fashion-mnist")
    return images, labels


def load_split(spec: str, split: str) -> tuple[list, list[str]]:
    """(items, class names) of one split of ``spec``: (uint8 1x28x28 tensor, renumbered label)."""
    import torch

    classes = parse_classes(spec)
    folder = root()
    if not folder.is_dir():
        raise OptionError(MISSING)
    images, labels = _split(str(folder), split)
    order = {c: i for i, c in enumerate(classes)}
    items = [(torch.from_numpy(images[i][None]), order[int(y)]) for i, y in enumerate(labels) if int(y) in order]
    if not items:
        raise OptionError(f"{folder}: the {split} split has no images of classes {classes}; reinstall "
                          "dataset-fashion-mnist")
    return items, [CLASSES[c] for c in classes]
