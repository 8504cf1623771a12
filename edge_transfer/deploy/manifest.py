"""``deploy.json``: what a device needs to run the artifact, and the proof it was validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..errors import DeployError
from ..formats import DEPLOY_FILE, DEPLOY_SCHEMA, _Record, _shape
from .options import FLOAT_NCHW, HEAD_FILE, LABELS_FILE, MODEL_FILE, UINT8_NHWC

# How an image becomes the model's input (data.batches.Preprocess without augmentation).
PREPROCESSING = {"channels": "RGB (grayscale, palette and RGBA converted)", "layout": "NCHW float32",
                 "resize": "bilinear with antialiasing to the input size, whole image, no crop",
                 "scale": "pixel / 255, then (x - mean) / std per channel"}


@dataclass(frozen=True)
class DeployManifest(_Record):
    SCHEMAS: ClassVar = (DEPLOY_SCHEMA,)
    ERROR: ClassVar = DeployError
    FIX: ClassVar = "rebuild the artifact with `edge-transfer deploy`"
    REQUIRED: ClassVar = {"arch": str, "input_size": list, "mean": list, "std": list, "num_classes": int,
                          "feature_dim": int, "head": dict, "files": dict, "validation": dict}

    schema: str
    kind: str = "adapt-run"  # adapt-run | finetuned-ticket | learned (edge-transfer learn / DeployedModel.save)
    source: str = ""
    arch: str = ""
    method: str = ""
    sparsity: float = 0.0
    label: str = ""
    untrained: bool = False
    precision: str = "fp32"  # of the backbone (int8: quantization says which form); the head is FP32
    quantization: dict | None = None
    input_size: tuple = ()  # C, H, W
    input_format: str = FLOAT_NCHW  # or UINT8_NHWC (--fold-preprocessing: the graph normalises)
    mean: tuple = ()
    std: tuple = ()
    preprocessing: dict = field(default_factory=lambda: dict(PREPROCESSING))
    num_classes: int = 0
    feature_dim: int = 0
    outputs: tuple = ()
    head: dict = field(default_factory=dict)  # initializer names of the folded head in model.onnx
    files: dict = field(default_factory=dict)  # file -> {sha256, bytes}
    validation: dict = field(default_factory=dict)
    history: tuple = ()  # one entry per deploy / learn step, oldest first
    tool_version: str | None = None
    extra: dict = field(default_factory=dict)

    def _check(self, where: str) -> None:
        fix = self.FIX
        object.__setattr__(self, "input_size", _shape(self.input_size, where, "input_size", DeployError, fix, int))
        object.__setattr__(self, "mean", _shape(self.mean, where, "mean", DeployError, fix))
        object.__setattr__(self, "std", _shape(self.std, where, "std", DeployError, fix))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "history", tuple(self.history))
        if self.input_format not in (FLOAT_NCHW, UINT8_NHWC):
            raise DeployError(f"{where} has input_format {self.input_format!r}; {fix}")
        if self.num_classes < 2 or self.feature_dim < 1:
            raise DeployError(f"{where} has num_classes {self.num_classes}, feature_dim {self.feature_dim}; {fix}")
        if not all(isinstance(self.head.get(k), str) for k in ("weight", "bias")):
            raise DeployError(f"{where} has head = {self.head!r}, not the names of its weight and bias; {fix}")
        missing = {MODEL_FILE, HEAD_FILE, LABELS_FILE} - set(self.files)
        if missing:
            raise DeployError(f"{where} does not list {', '.join(sorted(missing))}; {fix}")

    @property
    def passed(self) -> bool:
        return bool(self.validation.get("passed"))


def read_deploy_manifest(folder: Path, verify_hashes: bool = True) -> DeployManifest:
    """The artifact's record, schema-checked; every listed file must exist and, with
    ``verify_hashes``, match its sha256 (a device should not run a modified model)."""
    from ..fileio import sha256_file

    folder = Path(folder)
    if not folder.is_dir():
        raise DeployError(f"{folder} is not a folder; give a folder written by `edge-transfer deploy`")
    manifest = DeployManifest.read(folder / DEPLOY_FILE)
    for name, entry in manifest.files.items():
        path = folder / name
        if Path(name).name != name or not path.is_file():
            raise DeployError(f"{folder / DEPLOY_FILE} lists {name} but it is missing; {manifest.FIX}")
        if verify_hashes and (not isinstance(entry, dict) or sha256_file(path) != entry.get("sha256")):
            raise DeployError(f"{path} does not match the sha256 in {folder / DEPLOY_FILE}: the artifact was "
                              f"modified or damaged; {manifest.FIX}")
    return manifest
