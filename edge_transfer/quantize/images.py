"""quantize's images: calibration and held-out batches normalised the way the ticket
expects, and the INT8-vs-FP32 accuracy check on the held-out split."""

from __future__ import annotations

from pathlib import Path

from ..engines import reference_engine
from ..errors import OptionError
from ..train import TrainSettings, load_train_data

RANDOM_CALIBRATION = "random"  # seeded Gaussian inputs: speed-only INT8 peers (bench), no accuracy


class CalibrationImages:
    """Calibration and held-out images, normalised the way the ticket expects."""

    def __init__(self, spec: str, input_size, mean, std, samples: int, seed: int):
        import torch

        self.spec, self.samples = spec, samples
        self._mean = torch.tensor(mean).view(1, -1, 1, 1)
        self._std = torch.tensor(std).view(1, -1, 1, 1)
        self.data = None
        if spec == RANDOM_CALIBRATION:
            gen = torch.Generator().manual_seed(seed)
            self._calib = [torch.randn(min(32, samples - i), *input_size, generator=gen) for i in range(0, samples, 32)]
            self._val = [(torch.randn(16, *input_size, generator=gen), None)]
            return

        try:
            self.data = load_train_data(TrainSettings(data=spec, limit=samples, seed=seed), input_size)
        except ValueError as exc:
            if isinstance(exc, OptionError):
                raise
            raise OptionError(f"no readable image in {spec}; give a folder of class sub-folders with PNG/JPEG images") from None
        self._calib = [self.normalise(x) for x, _ in self.data.train_batches(32, seed)]
        if not self._calib:
            raise OptionError(f"no readable image in {spec}; give a folder of class sub-folders with PNG/JPEG images")
        self._val = None

    def normalise(self, x):
        return (x - self._mean) / self._std

    def calibration(self):
        return list(self._calib)

    def held_out(self, batch_size: int = 64):
        """(normalised x, labels or None) batches of the validation split."""
        if self._val is not None:
            return list(self._val)
        return [(self.normalise(x), y) for x, y in self.data.val_batches(batch_size)]


def int8_accuracy(ticket, qdq_model: Path, images: CalibrationImages) -> dict:
    """FP32 ticket (PyTorch) vs INT8 (ONNX Runtime on the QDQ form) on the held-out split."""
    import numpy as np
    import torch

    if images.data is None:
        return {"evaluated": False, "reason": "random calibration inputs: speed only"}
    if ticket.meta.untrained:  # argmax of random logits: no accuracy to keep (and resnet50 at 224 px costs ~45 s)
        return {"evaluated": False, "reason": "untrained weights: speed only"}
    held_out = images.held_out(64)
    session = {}
    fp32, int8, labels = [], [], []
    for x, y in held_out:
        b = len(x)
        if b not in session:
            session[b] = reference_engine().compile(qdq_model, b)
        with torch.no_grad():
            fp32.append(ticket.model(x).argmax(1).numpy())
        int8.append(session[b].run([np.ascontiguousarray(x.numpy())])[0].argmax(1))
        labels.append(y.numpy())
    fp32, int8, labels = (np.concatenate(a) for a in (fp32, int8, labels))
    out = {"evaluated": True, "images": int(len(labels)), "data": images.spec,
           "top1_agreement": float((fp32 == int8).mean())}
    if ticket.meta.num_classes == images.data.num_classes:
        out.update(fp32_top1=float((fp32 == labels).mean()), int8_top1=float((int8 == labels).mean()))
        out["change_points"] = 100 * (out["int8_top1"] - out["fp32_top1"])
    else:
        out["reason"] = (f"the ticket's head has {ticket.meta.num_classes} classes, {images.spec} has "
                         f"{images.data.num_classes}: agreement only")
    return out


def accuracy_drop(accuracy: dict) -> float | None:
    """Points lost by INT8 (positive = worse); None where no labelled accuracy exists."""
    change = accuracy.get("change_points")
    return None if change is None else -change
