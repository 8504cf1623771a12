"""``ExportOptions`` and ``ExportResult``; the export folder's graph file names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OptionError
from ..formats import ExportManifest

from ..formats import BACKBONE_FILE, MODEL_FILE  # noqa: F401  (the export's two graphs)
from ..engines import get_engine
OPSETS = range(11, 18)


@dataclass
class ExportOptions:
    ticket: Path
    output: Path
    batch_size: int | None = None  # None: dynamic batch dimension
    opset: int = 13
    with_dense: bool = False
    # Engines whose outputs are compared with PyTorch; empty skips parity (not the audit).
    validate_engines: tuple[str, ...] = ("onnxruntime", "deepsparse")
    seed: int = 0
    force: bool = False

    def validate(self) -> None:
        if self.batch_size is not None and self.batch_size <= 0:
            raise OptionError(f"--batch-size must be a positive integer or 'dynamic', got {self.batch_size}")
        if self.opset not in OPSETS:
            raise OptionError(f"--opset must be between {OPSETS.start} and {OPSETS.stop - 1}, got {self.opset}")
        for name in self.validate_engines:
            get_engine(name)

    @property
    def validation_batch(self) -> int:
        # A dynamic export is checked at batch 2 so the batch axis is exercised.
        return self.batch_size or 2


@dataclass
class ExportResult:
    path: Path
    manifest: ExportManifest = field(repr=False)

    @property
    def passed(self) -> bool:
        return self.manifest.passed
