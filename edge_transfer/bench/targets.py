"""Resolve bench PATHs into models to time: export folders, ticket folders (exported on
the fly), bare .onnx files, or the embedded default set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import OnnxModelError, OptionError

DEFAULT_SPARSITIES = (0.8, 0.9, 0.95)


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

    def torch_factory(self):
        """Zero-argument builder of the PyTorch module, or None for a bare ONNX file."""
        from ..ticket import ModuleFactory

        if self.ticket_path is None:
            return None
        return ModuleFactory(str(self.ticket_path), self.variant, self.onnx_path.name == "backbone.onnx")


@dataclass(frozen=True)
class BenchTarget:
    model: BenchModel
    baseline: BenchModel | None


def _shape_from_onnx(path: Path, override: tuple[int, ...] | None) -> tuple[int, ...]:
    from ..onnx_io import io_signature, load_onnx

    inputs = io_signature(load_onnx(path, load_external=False))["inputs"]
    if len(inputs) != 1:
        raise OnnxModelError(f"{path} has {len(inputs)} inputs; bench supports single-input image models")
    dims = inputs[0]["shape"][1:]
    if override is not None:
        return override
    if any(not isinstance(d, int) or d <= 0 for d in dims):
        raise OptionError(f"{path} has dynamic input dims {dims}; give them with --input-shape, e.g. 3x224x224")
    return tuple(dims)


def manifest_model(folder: Path, graph: str, override) -> BenchModel:
    from ..export.resolve import read_manifest

    manifest = read_manifest(folder)  # raises if any file it lists is missing
    onnx_path = folder / graph
    if not onnx_path.is_file():
        raise OnnxModelError(f"{folder / 'manifest.json'} has no {graph}; re-export with `edge-transfer export`")
    ticket_path = Path(manifest["ticket_path"]) if manifest.get("ticket_path") else None
    if ticket_path is not None and not (ticket_path / "ticket.json").is_file():
        ticket_path = None  # ticket moved away: ONNX engines still run, torch does not
    ticket = manifest.get("ticket") or {}
    ideal = ticket.get("totals", {}).get("ideal_speedup")
    tag = f"{manifest['arch']}-" + (
        "dense" if manifest["variant"] == "dense"
        else f"{ticket.get('method', 'sparse')}{round(manifest['sparsity'] * 100):02d}" + ("-layer" if ticket.get("scope") == "layer" else "")
    )
    return BenchModel(
        name=tag,
        onnx_path=onnx_path,
        input_shape=override or tuple(manifest["input_size"]),
        sparsity=manifest["sparsity"],
        ideal_speedup=ideal if manifest["variant"] == "ticket" else 1.0,
        untrained=bool(manifest.get("untrained")),
        ticket_path=ticket_path,
        variant=manifest["variant"],
        arch=manifest["arch"],
    )


def resolve_path(path: Path, graph: str, override, workdir: Path, log) -> BenchTarget:
    """An export folder, a ticket folder (exported to ``workdir``) or a bare .onnx file."""
    path = Path(path)
    if path.is_file() and path.suffix == ".onnx":
        model = BenchModel(path.stem, path, _shape_from_onnx(path, override), None, None, False, variant="onnx")
        return BenchTarget(model, None)
    if (path / "manifest.json").is_file():
        dense_dir = path / "dense"
        baseline = manifest_model(dense_dir, graph, override) if (dense_dir / "manifest.json").is_file() else None
        return BenchTarget(manifest_model(path, graph, override), baseline)
    if not path.exists():
        raise OnnxModelError(f"{path} not found; give an export folder, a ticket folder or a .onnx file")
    from ..export.resolve import ensure_export

    # Correctness is checked by bench itself on every engine, so skip export's parity run.
    out = ensure_export(path, workdir, with_dense=True, log=log, validate_engines=())
    return resolve_path(out, graph, override, workdir, log)


def default_targets(workdir: Path, graph: str, log, arch: str = "resnet50",
                    sparsities: tuple[float, ...] = DEFAULT_SPARSITIES) -> list[BenchTarget]:
    """The embedded default: OMP tickets of one random init (untrained: speed only);
    the 0% ticket of the same init is every ticket's dense baseline.

    Drawn per layer: ranking a random init globally prunes by kaiming's fan-in scaling,
    not by learned importance, and strips the large late layers bare, which no trained
    ticket looks like."""
    from ..export import ExportOptions, export_ticket
    from ..prune import PruneOptions, draw_ticket

    def make(sparsity: float) -> BenchModel:
        tag = f"{arch}-omp{round(sparsity * 100):02d}"
        log(f"drawing and exporting {tag} (untrained weights: speed only)")
        draw_ticket(PruneOptions(arch=arch, output=workdir / "tickets" / tag, sparsity=sparsity, scope="layer", seed=0))
        export_ticket(ExportOptions(ticket=workdir / "tickets" / tag, output=workdir / tag, validate_engines=()))
        return manifest_model(workdir / tag, graph, None)

    dense = make(0.0)
    dense = BenchModel(**{**dense.__dict__, "name": f"{arch}-dense", "variant": "dense", "ideal_speedup": 1.0})
    return [BenchTarget(make(s), dense) for s in sparsities]


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
