"""``deploy.json``: what a device needs to run the artifact, and the proof it was validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..errors import DeployError
from ..formats import (DEPLOY_FILE, DEPLOY_SCHEMA, FP32, MAX_CLASSES, MAX_FEATURE_DIM, Record, shape_field,
                       confined_name)
from ..onnx_io import io_signature, load_onnx
from .options import FEATURES, FLOAT_NCHW, HEAD_FILE, LABELS_FILE, MODEL_FILE, PROBABILITIES, UINT8_NHWC

OUTPUTS = (PROBABILITIES, FEATURES)

# How an image becomes the model's input (data.batches.Preprocess without augmentation).
PREPROCESSING = {"channels": "RGB (grayscale, palette and RGBA converted)", "layout": "NCHW float32",
                 "resize": "bilinear with antialiasing to the input size, whole image, no crop",
                 "scale": "pixel / 255, then (x - mean) / std per channel"}


@dataclass(frozen=True)
class DeployManifest(Record):
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
    precision: str = FP32  # of the backbone (int8: quantization says which form); the head is FP32
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
        object.__setattr__(self, "input_size", shape_field(self.input_size, where, "input_size", DeployError, fix, int))
        object.__setattr__(self, "mean", shape_field(self.mean, where, "mean", DeployError, fix))
        object.__setattr__(self, "std", shape_field(self.std, where, "std", DeployError, fix))
        for name in ("outputs", "history"):
            if not isinstance(getattr(self, name), (list, tuple)):
                raise DeployError(f"{where} has {name} = {getattr(self, name)!r}, not a list; {fix}")
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "history", tuple(self.history))
        if self.input_format not in (FLOAT_NCHW, UINT8_NHWC):
            raise DeployError(f"{where} has input_format {self.input_format!r}; {fix}")
        if not 2 <= self.num_classes <= MAX_CLASSES or not 1 <= self.feature_dim <= MAX_FEATURE_DIM:
            raise DeployError(f"{where} has num_classes {self.num_classes}, feature_dim {self.feature_dim} (2 to "
                              f"{MAX_CLASSES} classes, 1 to {MAX_FEATURE_DIM} features); {fix}")
        if not all(isinstance(self.head.get(k), str) for k in ("weight", "bias")):
            raise DeployError(f"{where} has head = {self.head!r}, not the names of its weight and bias; {fix}")
        if (len(self.outputs) != len(OUTPUTS) or not all(isinstance(o, str) for o in self.outputs)
                or set(self.outputs) != set(OUTPUTS)):
            raise DeployError(f"{where} has outputs = {list(self.outputs)!r}, not {' and '.join(OUTPUTS)} in the "
                              f"graph's order; {fix}")
        for name in self.files:
            confined_name(name, where, DeployError, fix)
        missing = {MODEL_FILE, HEAD_FILE, LABELS_FILE} - set(self.files)
        if missing:
            raise DeployError(f"{where} does not list {', '.join(sorted(missing))}; {fix}")

    @property
    def passed(self) -> bool:
        return bool(self.validation.get("passed"))


def read_deploy_manifest(folder: Path, verify_hashes: bool = True) -> DeployManifest:
    """The artifact's record, schema-checked; every listed file must exist and, with
    ``verify_hashes``, match its sha256 (a device should not run a modified model)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DeployError(f"{folder} is not a folder; give a folder written by `edge-transfer deploy`")
    manifest = DeployManifest.read(folder / DEPLOY_FILE)
    manifest.check_files(folder, DEPLOY_FILE, verify_hashes)
    return manifest


def check_against_graph(folder: Path, manifest: DeployManifest) -> None:
    """deploy.json's input size and format, output order, class count, feature size and head
    names must be what model.onnx itself declares: a record edited apart from its graph would
    otherwise reach the engine (or an allocation) with the wrong shapes."""
    import math

    from onnx import TensorProto

    model = load_onnx(Path(folder) / MODEL_FILE, load_external=False)
    signature = io_signature(model)
    where, fix = str(Path(folder) / DEPLOY_FILE), manifest.FIX
    inputs = signature["inputs"]
    elem = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    c, h, w = manifest.input_size
    expected = ([c, h, w], TensorProto.FLOAT) if manifest.input_format == FLOAT_NCHW else ([h, w, c], TensorProto.UINT8)
    if len(inputs) != 1 or (inputs[0]["shape"][1:], elem[inputs[0]["name"]]) != expected:
        found = [(i["name"], elem[i["name"]], i["shape"]) for i in inputs]
        raise DeployError(f"{where} says the graph takes {manifest.input_format} of size {list(manifest.input_size)} but "
                          f"{MODEL_FILE} takes {found}; {fix}")
    outputs = [o["name"] for o in signature["outputs"]]
    if outputs != list(manifest.outputs):
        raise DeployError(f"{where} lists outputs {list(manifest.outputs)} but {MODEL_FILE} gives {outputs}; {fix}")
    widths = {o["name"]: o["shape"][-1:] for o in signature["outputs"]}
    for name, width in ((PROBABILITIES, manifest.num_classes), (FEATURES, manifest.feature_dim)):
        declared = [d for d in widths[name] if isinstance(d, int) and d > 0]  # a symbolic or absent width says nothing
        if declared not in ([width], []):
            raise DeployError(f"{where} says {name} has {width} columns but {MODEL_FILE} declares {widths[name]}; {fix}")
    sizes = {i.name: math.prod(i.dims) for i in model.graph.initializer}
    for role, size in (("weight", manifest.num_classes * manifest.feature_dim), ("bias", manifest.num_classes)):
        if sizes.get(manifest.head[role]) != size:
            raise DeployError(f"{where} names the head's {role} {manifest.head[role]!r}, which {MODEL_FILE} does not "
                              f"hold at {size} values; {fix}")
