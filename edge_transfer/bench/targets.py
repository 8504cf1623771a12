"""Resolve bench PATHs into models to time: export folders, ticket folders (exported on
the fly), bare .onnx files. The models bench makes itself (the embedded default set, INT8 dense
peers) are made in made.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import OnnxModelError, OptionError
from ..export.resolve import ensure_export, read_manifest
from ..formats import BACKBONE_FILE, DENSE_DIR, FP32, INT8, MANIFEST_FILE, is_export, is_ticket
from ..onnx_io import io_signature, load_onnx
from ..quantize.images import RANDOM_CALIBRATION
from ..ticket import ModuleFactory


@dataclass(frozen=True)
class Prediction:
    """What a speed-target ticket's allocation predicted (prune --target-speedup), and where."""

    speedup: float  # over the dense model of the same form
    engine: str
    batch_size: int
    cores: int
    precision: str

    @classmethod
    def of(cls, allocation: dict | None) -> "Prediction | None":
        if not allocation or allocation.get("source") != "target-speedup":
            return None
        p = allocation["profile"]
        return cls(float(allocation["predicted_speedup"]), p["engine"], int(p["batch_size"]), int(p["cores"]),
                   p["precision"])


@dataclass(frozen=True)
class BenchModel:
    """One graph to time, with what is known about it."""

    name: str  # label in tables, e.g. "resnet50-omp90"
    onnx_path: Path
    input_shape: tuple[int, ...]  # one item, without the batch dimension
    sparsity: float | None
    ideal_speedup: float | None
    untrained: bool
    ticket_path: Path | None = None  # lets the torch engine and the reference rebuild the module
    variant: str = "ticket"  # ticket | dense | onnx
    arch: str | None = None  # registry name, when known
    precision: str = FP32  # fp32 | int8
    # INT8: the graph of each ONNX form ("qdq", "deepsparse"); onnx_path is the QDQ one.
    forms: tuple[tuple[str, Path], ...] = ()
    note: str | None = None  # e.g. "calibrated on random inputs: speed only"
    prediction: Prediction | None = None  # a speed-target ticket's predicted speedup

    def torch_factory(self):
        """Zero-argument builder of the PyTorch module, or None for a bare ONNX file or an
        INT8 model (PyTorch would run the FP32 weights, not the INT8 graph)."""
        if self.ticket_path is None or self.precision != FP32:
            return None
        return ModuleFactory(str(self.ticket_path), self.variant, self.onnx_path.name == BACKBONE_FILE)

    def path_for(self, engine) -> Path:
        """The graph ``engine`` runs: the FP32 file, or the INT8 form the engine declares."""
        return dict(self.forms).get(engine.int8_form, self.onnx_path) if self.precision == INT8 else self.onnx_path

    def runs_on(self, engine) -> bool:
        return self.precision in engine.precisions and (not engine.needs_torch_model or self.torch_factory() is not None)

    @property
    def group(self) -> tuple:
        """Models that compete for "fastest dense peer": same architecture and input."""
        return (self.arch, tuple(self.input_shape))


@dataclass(frozen=True)
class BenchTarget:
    model: BenchModel
    baseline: BenchModel | None  # the dense FP32 model: "speedup over the same engine's dense FP32"
    peers: tuple[BenchModel, ...] = ()  # further dense models timed in the run (INT8 baselines)

    def models(self):
        return [m for m in (self.baseline, *self.peers, self.model) if m is not None]


def _shape_from_onnx(path: Path, override: tuple[int, ...] | None) -> tuple[int, ...]:
    inputs = io_signature(load_onnx(path, load_external=False))["inputs"]
    if len(inputs) != 1:
        raise OnnxModelError(f"{path} has {len(inputs)} inputs; bench supports single-input image models")
    dims = inputs[0]["shape"][1:]
    if override is not None:
        return override
    if any(not isinstance(d, int) or d <= 0 for d in dims):
        raise OptionError(f"{path} has dynamic input dims {dims}; give them with --input-shape, e.g. 3x224x224")
    return tuple(dims)


def manifest_model(folder: Path, graph: str, override, note: str | None = None) -> BenchModel:
    manifest = read_manifest(folder)  # raises if any file it lists is missing
    onnx_path = folder / graph
    forms = ()
    if manifest.precision == INT8:
        stem = Path(graph).stem  # model | backbone
        forms = tuple((form, folder / files[stem]) for form, files in manifest.forms.items())
    if not onnx_path.is_file():
        raise OnnxModelError(f"{folder / MANIFEST_FILE} has no {graph}; re-export with `edge-transfer export`")
    ticket_path = Path(manifest.ticket_path) if manifest.ticket_path else None
    if ticket_path is not None and not is_ticket(ticket_path):
        ticket_path = None  # ticket moved away: ONNX engines still run, torch does not
    ideal = manifest.ticket.totals.get("ideal_speedup") if manifest.ticket else None
    random_calibration = (manifest.quantization or {}).get("calibration") == RANDOM_CALIBRATION
    allocation = manifest.ticket.allocation if manifest.ticket and manifest.variant == "ticket" else None
    return BenchModel(
        name=manifest.tag,
        onnx_path=onnx_path,
        input_shape=override or manifest.input_size,
        sparsity=manifest.sparsity,
        ideal_speedup=ideal if manifest.variant == "ticket" else 1.0,
        untrained=manifest.untrained,
        ticket_path=ticket_path,
        variant=manifest.variant,
        arch=manifest.arch,
        precision=manifest.precision,
        forms=forms,
        note=note if note is not None else ("calibrated on random inputs: speed only" if random_calibration else None),
        prediction=Prediction.of(allocation),
    )


def resolve_path(path: Path, graph: str, override, workdir: Path, log) -> BenchTarget:
    """An export folder, a ticket folder (exported to ``workdir``) or a bare .onnx file."""
    path = Path(path)
    if path.is_file() and path.suffix == ".onnx":
        model = BenchModel(path.stem, path, _shape_from_onnx(path, override), None, None, False, variant="onnx")
        return BenchTarget(model, None)
    if is_export(path):
        model = manifest_model(path, graph, override)
        dense_dir = path / DENSE_DIR
        dense = manifest_model(dense_dir, graph, override) if is_export(dense_dir) else None
        if model.precision == FP32:
            return BenchTarget(model, dense)
        # An INT8 folder: its dense/ is the INT8 peer; the FP32 dense baseline comes from the
        # export it was quantized from, or is exported from the ticket.
        return BenchTarget(model, _fp32_dense_of(path, graph, override, workdir, log), (dense,) if dense else ())
    if not path.exists():
        raise OnnxModelError(f"{path} not found; give an export folder, a ticket folder or a .onnx file")

    # Correctness is checked by bench itself on every engine, so skip export's parity run.
    out = ensure_export(path, workdir, with_dense=True, log=log, validate_engines=())
    return resolve_path(out, graph, override, workdir, log)


def _fp32_dense_of(int8_folder: Path, graph: str, override, workdir: Path, log) -> BenchModel | None:
    manifest = read_manifest(int8_folder)
    source = manifest.source_export
    if source and is_export(Path(source) / DENSE_DIR):
        return manifest_model(Path(source) / DENSE_DIR, graph, override)
    ticket = manifest.ticket_path
    if not ticket or not is_ticket(Path(ticket)):
        return None
    out = ensure_export(Path(ticket), workdir, with_dense=True, log=log, validate_engines=())
    return manifest_model(out / DENSE_DIR, graph, override)


def unique_names(models: list[BenchModel]) -> list[BenchModel]:
    """Labels must tell rows apart: clashing names get their export folder appended."""
    from collections import Counter

    counts = Counter(m.name for m in models)

    def folder(m: BenchModel) -> str:
        parent = m.onnx_path.parent
        return parent.parent.name if parent.name == "dense" else parent.name

    return [BenchModel(**{**m.__dict__, "name": f"{m.name}@{folder(m)}"}) if counts[m.name] > 1 else m for m in models]


def baseline_from(path: Path, graph: str, override, workdir: Path, log) -> BenchModel:
    """``--baseline PATH``: an export folder's model or a .onnx file used as every target's baseline."""
    target = resolve_path(path, graph, override, workdir, log)
    return BenchModel(**{**target.model.__dict__, "variant": "dense" if target.model.variant != "onnx" else "onnx"})
