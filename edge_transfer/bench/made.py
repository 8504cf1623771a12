"""The models bench makes when a run needs them: the embedded default set (OMP tickets of one
random init, exported and quantized: speed only) and the INT8 dense peer of an FP32 dense model.
They come from the stages that make models (prune, export, quantize); targets.py only resolves."""

from __future__ import annotations

from pathlib import Path

from ..export import ExportOptions, export_ticket
from ..formats import FP32, INT8, is_export, is_ticket, ticket_tag
from ..prune import PruneOptions, draw_ticket
from ..quantize import QuantizeOptions, RANDOM_CALIBRATION, quantize
from .targets import BenchModel, BenchTarget, manifest_model

DEFAULT_SPARSITIES = (0.8, 0.9, 0.95)


def speed_only_tickets(workdir: Path, arch: str, sparsities, log, block: int = 1, seed: int = 0) -> dict:
    """{sparsity: ticket folder}: OMP tickets drawn per layer from one random init
    (untrained weights: speed only); sparsity 0.0 is the dense model of the same init."""
    out = {}
    for sparsity in sparsities:
        folder = workdir / "tickets" / f"{arch}-{ticket_tag('omp', sparsity, block)}"
        if not is_ticket(folder):
            log(f"drawing {folder.name} (untrained weights: speed only)")
            draw_ticket(PruneOptions(arch=arch, output=folder, sparsity=sparsity, scope="layer", seed=seed,
                                     block=block if sparsity > 0 else 1))
        out[sparsity] = folder
    return out


def default_targets(workdir: Path, graph: str, log, arch: str = "resnet50",
                    sparsities: tuple[float, ...] = DEFAULT_SPARSITIES, block: int = 1, int8: bool = True,
                    calibration: str = "embedded:mnist-5to9", samples: int = 64) -> list[BenchTarget]:
    """The embedded default: OMP tickets of one random init (untrained: speed only), FP32
    and (``int8``) INT8, each against the 0% model of the same init in both precisions.

    Drawn per layer: ranking a random init globally prunes by kaiming's fan-in scaling,
    not by learned importance, and strips the large late layers bare, which no trained
    ticket looks like."""
    tickets = speed_only_tickets(workdir, arch, (0.0, *sparsities), log, block)
    fp32, int8_models = {}, {}
    for sparsity, folder in tickets.items():
        out = workdir / "exports" / folder.name
        if not is_export(out):
            log(f"exporting {folder.name}")
            export_ticket(ExportOptions(ticket=folder, output=out, validate_engines=()))
        fp32[sparsity] = manifest_model(out, graph, None)
        if int8:
            qout = workdir / "int8" / folder.name
            if not is_export(qout):
                log(f"quantizing {folder.name} to INT8 (calibrated on {samples} images of {calibration})")
                quantize(QuantizeOptions(source=folder, output=qout, calibration=calibration, samples=samples,
                                         with_dense=False, validate_engines=(), progress=False))
            int8_models[sparsity] = manifest_model(qout, graph, None)

    def as_dense(m: BenchModel) -> BenchModel:
        return BenchModel(**{**m.__dict__, "name": f"{arch}-dense" + ("-int8" if m.precision == INT8 else ""),
                             "variant": "dense", "ideal_speedup": 1.0})

    dense = as_dense(fp32.pop(0.0))
    peers = (as_dense(int8_models.pop(0.0)),) if int8 else ()
    return [BenchTarget(m, dense, peers) for m in [*fp32.values(), *int8_models.values()]]


def add_int8_peers(targets: list[BenchTarget], workdir: Path, log) -> tuple[list[BenchTarget], list[str]]:
    """Every group with an FP32 dense model of a known ticket but no INT8 dense model gets
    one (made by the quantize path) so the run times every dense peer a user could deploy."""
    have = {m.group for t in targets for m in t.models() if m.variant == "dense" and m.precision == INT8}
    made: dict = {}
    notes = []
    out = []
    for t in targets:
        extra = ()
        b = t.baseline
        if b is not None and b.precision == FP32 and b.group not in have:
            if b.group not in made:
                made[b.group] = int8_peer(b, workdir, log)
                if made[b.group] is None:
                    notes.append(f"no INT8 dense peer for {b.name}: a bare ONNX file carries no model to quantize")
            extra = (made[b.group],) if made[b.group] is not None else ()
        out.append(BenchTarget(t.model, t.baseline, (*t.peers, *extra)))
    return out, notes


def int8_peer(dense: BenchModel, workdir: Path, log) -> BenchModel | None:
    """The dense INT8 peer of an FP32 dense model, made by the quantize path (calibrated on
    seeded random inputs: speed only); None when no ticket is known (a bare .onnx)."""
    if dense.ticket_path is None:
        return None
    out = workdir / f"int8-peer-{dense.name}"
    if not is_export(out):
        log(f"quantizing {dense.name} to INT8 (calibrated on random inputs: speed only) as a dense peer")
        quantize(QuantizeOptions(source=dense.ticket_path, output=out, calibration=RANDOM_CALIBRATION, samples=32,
                                 validate_engines=(), progress=False))
    return manifest_model(out / "dense", dense.onnx_path.name, tuple(dense.input_shape))
