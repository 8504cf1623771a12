"""The quantize command's options (the CLI reads its defaults from here)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..engines import get_engine, list_engines
from ..errors import OptionError
from ..formats import INT8
from .images import RANDOM_CALIBRATION

MAX_CALIBRATION_SAMPLES = 100_000  # min/max calibration saturates after a few hundred images


@dataclass
class QuantizeOptions:
    source: Path  # ticket folder or export folder
    output: Path
    calibration: str = "embedded:mnist-5to9"  # data spec, or "random" (speed only)
    samples: int = 256  # calibration images
    qat_epochs: int = 0
    data: str | None = None  # QAT data (default: the calibration data)
    qat_lr: float = 1e-3
    max_drop: float = 1.0  # accuracy points the INT8 ticket may lose against the FP32 ticket
    with_dense: bool = True  # also quantize the dense baseline into dense/
    validate_engines: tuple[str, ...] = ("onnxruntime", "deepsparse")
    batch_size: int = 64
    seed: int = 0
    force: bool = False
    progress: bool = True

    def validate(self) -> None:
        if not 0 < self.samples <= MAX_CALIBRATION_SAMPLES:
            raise OptionError(f"--samples must be a number of calibration images from 1 to {MAX_CALIBRATION_SAMPLES:,}, "
                              f"got {self.samples}")
        if self.qat_epochs < 0:
            raise OptionError(f"--qat-epochs must be >= 0, got {self.qat_epochs}")
        if not (math.isfinite(self.max_drop) and self.max_drop >= 0):
            raise OptionError(f"--max-drop must be a finite number of accuracy points >= 0, got {self.max_drop}")
        if not (math.isfinite(self.qat_lr) and self.qat_lr > 0):
            raise OptionError(f"--qat-lr must be > 0, got {self.qat_lr}")
        if self.qat_epochs and (self.data or self.calibration) == RANDOM_CALIBRATION:
            raise OptionError("quantization-aware training needs labelled images: give --data embedded:mnist-5to9 or a folder")
        for name in self.validate_engines:
            if INT8 not in get_engine(name).precisions:
                raise OptionError(f"--validate-engines: {name} cannot run INT8 models; choose from "
                                  + ", ".join(n for n in _int8_engines()))

    @property
    def qat_data(self) -> str:
        return self.data or self.calibration


def _int8_engines() -> list[str]:
    return [n for n in list_engines() if INT8 in get_engine(n).precisions]
