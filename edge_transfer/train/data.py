"""Task images for training, in pixel space; the normalisation lives in the model."""

from __future__ import annotations

from dataclasses import dataclass

from ..data import batches, load_task
from ..data.batches import Preprocess
from ..data.datasets import crop_scale, limit_train, skipped_note
from ..errors import OptionError
from .loop import check_sgd_settings

# Materialise the preprocessed set in memory below this size (the embedded sets are
# ~6 MB at 16 px); larger folders are decoded batch by batch each epoch.
_IN_MEMORY_BYTES = 1 << 30


@dataclass
class TrainSettings:
    """What every training command shares. ``image_size`` None means the arch's input size."""

    data: str | None = None
    val: str | None = None
    epochs: int = 1
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    image_size: int | None = None
    augment: bool = False
    seed: int = 0
    progress: bool = True
    limit: int | None = None  # at most this many training images (a fixed random subset)

    def validate(self, needs_data: bool = True) -> None:
        if needs_data and not self.data:
            raise OptionError("this command trains: give --data embedded:mnist-0to4 (or a folder of class sub-folders)")
        for name, value in (("--epochs", self.epochs), ("--batch-size", self.batch_size)):
            if value <= 0:
                raise OptionError(f"{name} must be a positive integer, got {value}")
        check_sgd_settings(self.lr, self.momentum, self.weight_decay)
        if self.limit is not None and self.limit < 1:
            raise OptionError(f"--train-limit must be a positive number of images, got {self.limit}")
        if self.image_size is not None and not 8 <= self.image_size <= 1024:
            raise OptionError(f"--image-size must be between 8 and 1024 pixels, got {self.image_size}")

    def input_size(self, arch_input_size) -> tuple[int, int, int]:
        c, h, w = arch_input_size
        return (c, self.image_size, self.image_size) if self.image_size else (c, h, w)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def pixel_model(model, mean, std):
    """``model`` behind a normalisation layer, so it takes [0, 1] images: PGD's epsilon ball
    and smoothing noise stay in pixel units. The wrapped model is its ``.model`` (parameter
    names gain a ``model.`` prefix)."""
    import torch

    class PixelModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

        def forward(self, x):
            return self.model((x - self.mean) / self.std)

    return PixelModel()


@dataclass
class TrainData:
    name: str
    num_classes: int
    classes: list
    input_size: tuple[int, int, int]
    train_images: int
    val_images: int
    _task: object
    _train: object = None  # (X, Y) tensors when materialised
    _val: object = None
    augment: bool = False
    crop_scale: tuple[float, float] = (0.35, 1.0)

    def train_batches(self, batch_size: int, seed: int):
        """Shuffled ``(x, y)`` torch batches in [0, 1]; order and augmentation from ``seed``."""
        import torch

        if self._train is not None and not self.augment:
            x, y = self._train
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                yield x[idx], y[idx]
            return
        yield from self._stream(self._task.train, batch_size, True, seed, self.augment)

    def val_batches(self, batch_size: int = 256):
        if self._val is not None:
            x, y = self._val
            for start in range(0, len(y), batch_size):
                yield x[start : start + batch_size], y[start : start + batch_size]
            return
        yield from self._stream(self._task.val, batch_size, False, 0, False)

    @property
    def skipped(self) -> int:
        """Images that could not be decoded (so far: all of them once materialised)."""
        return len(self._task.train.unreadable | self._task.val.unreadable)

    def steps_per_epoch(self, batch_size: int) -> int:
        return -(-self.train_images // batch_size)

    def _stream(self, dataset, batch_size, shuffle, seed, augment):
        import torch

        pre = Preprocess(self.input_size, (0.0,) * 3, (1.0,) * 3, augment=augment, crop_scale=self.crop_scale)
        for x, y in batches(dataset, pre, batch_size, shuffle, seed):
            yield torch.from_numpy(x), torch.from_numpy(y)


def _materialise(data: TrainData, dataset):
    import torch

    parts = list(data._stream(dataset, 256, False, 0, False))
    if not parts:
        raise OptionError(f"none of the {len(dataset)} images of {data.name} could be read; "
                          "give PNG or JPEG files in one sub-folder per class")
    xs, ys = zip(*parts)
    return torch.cat(xs), torch.cat(ys)


def load_train_data(settings: TrainSettings, input_size, log=None) -> TrainData:
    """Load ``settings.data`` (embedded:... or a folder) for training at ``input_size`` (C, H, W);
    ``log`` hears how many unreadable images were skipped."""
    spec, augment = settings.data, settings.augment
    task = limit_train(load_task(spec, settings.val), settings.limit)
    if len(task.train) == 0 or len(task.val) == 0:
        raise OptionError(f"{spec} has no images to train on or no validation images; add images per class")
    data = TrainData(name=spec, num_classes=task.num_classes, classes=list(task.train.classes),
                     input_size=tuple(input_size), train_images=len(task.train), val_images=len(task.val), _task=task,
                     augment=augment, crop_scale=crop_scale(spec))
    c, h, w = input_size
    if (len(task.train) + len(task.val)) * c * h * w * 4 <= _IN_MEMORY_BYTES:
        data._train = _materialise(data, task.train)
        data._val = _materialise(data, task.val)
        data.train_images, data.val_images = len(data._train[1]), len(data._val[1])
    if log is not None and data.skipped:
        log(skipped_note(task.train.unreadable | task.val.unreadable, data.name))
    return data
