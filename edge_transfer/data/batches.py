"""Turning a dataset into normalised float batches at the backbone's input size."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionError


@dataclass(frozen=True)
class Preprocess:
    input_size: tuple[int, int, int]  # C, H, W
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool = False
    # RandomResizedCrop's area range; the paper's ImageNet-style (0.08, 1) erases most of a
    # 28-pixel digit, so the embedded tasks use a milder range (set by the caller).
    crop_scale: tuple[float, float] = (0.08, 1.0)

    def __post_init__(self):
        if self.augment:
            import torchvision.ops  # noqa: F401  (a 1.5 s import: pay it here, not inside a timed epoch)

    def __call__(self, img, generator):
        """uint8 CHW -> float CHW, normalised; random ops draw from ``generator``."""
        import torch
        import torch.nn.functional as F

        x = img.float().div_(255.0).unsqueeze(0)
        _, h, w = self.input_size
        if self.augment:
            x = _random_resized_crop(x, (h, w), self.crop_scale, generator)
            if torch.rand((), generator=generator) < 0.5:
                x = x.flip(-1)
        else:
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        return self._normalise(x)[0]

    def _normalise(self, x):
        import torch

        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (x - mean) / std

    def batch(self, images: list, generator):
        """A list of uint8 CHW images -> float NCHW. Same-size images (the embedded sets) are
        processed as one tensor: per-image crop boxes, one roi_align crop-resize, one flip
        and one normalisation per batch, which cuts the data stage's CPU time (it competes
        with the backbone for the same cores)."""
        import torch
        import torch.nn.functional as F

        if len({tuple(img.shape) for img in images}) != 1:
            return torch.stack([self(img, generator) for img in images])
        x = torch.stack(images).float().div_(255.0)
        _, h, w = self.input_size
        if self.augment:
            from torchvision.ops import roi_align

            boxes = []
            for k in range(len(images)):
                i, j, bh, bw = _crop_box(x.shape[-2], x.shape[-1], self.crop_scale, generator)
                boxes.append([k, j, i, j + bw, i + bh])
            # sampling_ratio=0: ceil(box / output) samples per output pixel, i.e. one when
            # upscaling (28 -> 224 px) and enough to average when downscaling.
            x = roi_align(x, torch.tensor(boxes, dtype=torch.float32), output_size=(h, w), spatial_scale=1.0,
                          sampling_ratio=0, aligned=True)
            flip = torch.rand(len(images), generator=generator) < 0.5
            x[flip] = x[flip].flip(-1)
        else:
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        return self._normalise(x)


def _crop_box(height: int, width: int, scale, generator, ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop box (top, left, h, w), drawn from an explicit generator
    (for exact resume); the whole image if ten draws find no fitting box."""
    import math

    import torch

    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * float(torch.rand((), generator=generator)))
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * float(torch.rand((), generator=generator)))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = int(torch.randint(0, height - h + 1, (), generator=generator))
            j = int(torch.randint(0, width - w + 1, (), generator=generator))
            return i, j, h, w
    return 0, 0, height, width


def _random_resized_crop(x, size, scale, generator):
    import torch.nn.functional as F

    i, j, h, w = _crop_box(x.shape[-2], x.shape[-1], scale, generator)
    return F.interpolate(x[..., i : i + h, j : j + w], size=size, mode="bilinear", align_corners=False, antialias=True)


def batches(dataset, preprocess: Preprocess, batch_size: int, shuffle: bool, seed: int):
    """Yield ``(images float32 NCHW ndarray, labels int64 ndarray)``; unreadable images are skipped.

    Order and augmentation draw from a generator seeded by ``seed`` alone, so an epoch is
    reproducible on its own (what makes --resume exact).
    """
    import numpy as np
    import torch

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=generator).tolist() if shuffle else range(len(dataset))
    images, labels = [], []
    for index in order:
        img = dataset.image(index)
        if img is None:
            continue
        images.append(img)
        labels.append(dataset.label(index))
        if len(images) == batch_size:
            yield preprocess.batch(images, generator).numpy(), np.asarray(labels, dtype=np.int64)
            images, labels = [], []
    if images:
        yield preprocess.batch(images, generator).numpy(), np.asarray(labels, dtype=np.int64)


def dataset_stats(dataset, input_size) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the training images at the input size (--dataset-stats)."""
    import torch

    plain = Preprocess(input_size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for i in range(len(dataset)):
        img = dataset.image(i)
        if img is None:
            continue
        x = plain(img, None).double()
        total += x.sum(dim=(1, 2))
        total_sq += (x * x).sum(dim=(1, 2))
        count += x.shape[1] * x.shape[2]
    if count == 0:
        raise OptionError("no readable training images to compute --dataset-stats from")
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())
