"""``export_ticket(ExportOptions) -> ExportResult``: export a ticket's classifier and backbone
to ONNX, validate them (engine parity, zero audit), then write the folder."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from .. import __version__
from ..backbones import get_backbone_cfg, split_backbone
from ..engines import get_engine
from ..fileio import atomic_output_dir, check_output_dir
from ..formats import DENSE_DIR, EXPORT_SCHEMA, MANIFEST_FILE, UNTRAINED_LABEL, ExportManifest
from ..onnx_io import load_onnx
from ..ticket import load_ticket
from ..validation import ValidationReport, audit_zeros, check_parity, fp32_weights, seeded_input
from .graph import export_onnx
from .options import BACKBONE_FILE, MODEL_FILE, ExportOptions, ExportResult


def _export_variant(model, folder: Path, ticket, opts: ExportOptions, variant: str, log: Callable):
    """Export one model (ticket or dense) as classifier + backbone, validate; returns its
    manifest and its ValidationReport."""
    cfg = get_backbone_cfg(ticket.arch)
    folder.mkdir(parents=True, exist_ok=True)
    backbone, head = split_backbone(model, cfg)
    input_size = ticket.meta.input_size
    graphs = {MODEL_FILE: (model, "logits"), BACKBONE_FILE: (backbone, "features")}
    engines = [get_engine(name) for name in opts.validate_engines]
    inputs = seeded_input(input_size, opts.validation_batch, opts.seed)
    prefix = f"{DENSE_DIR}/" if variant == "dense" else ""
    files, report = {}, ValidationReport()
    for filename, (module, output_name) in graphs.items():
        start = time.perf_counter()
        path = folder / filename
        signature = export_onnx(module, path, input_size, opts.batch_size, opts.opset, output_name)
        log(f"  {prefix}{filename}: exported in {time.perf_counter() - start:.1f}s")
        if variant == "ticket":
            report.audit += audit_zeros(filename, fp32_weights(load_onnx(path)), model, list(ticket.masks))
        report.parity += check_parity(f"{prefix}{filename}", path, module, inputs, engines, cfg.rel_tolerance)
        files[filename] = ExportManifest.file_entry(path, **signature)
    manifest = ExportManifest(
        schema=EXPORT_SCHEMA,
        variant=variant,
        label=ticket.label if variant == "ticket" else f"{ticket.arch} dense baseline"
        + (f" ({UNTRAINED_LABEL})" if ticket.meta.untrained else ""),
        ticket_path=str(ticket.path.resolve()),
        ticket=ticket.meta if variant == "ticket" else None,
        arch=ticket.arch,
        sparsity=ticket.meta.achieved_sparsity if variant == "ticket" else 0.0,
        untrained=ticket.meta.untrained,
        opset=opts.opset,
        batch_size=opts.batch_size or "dynamic",
        input_size=input_size,
        mean=ticket.meta.mean,
        std=ticket.meta.std,
        num_classes=head.out_features,
        feature_dim=head.in_features,
        files=files,
        validation={"seed": opts.seed, "batch_size": opts.validation_batch, **report.to_dict()},
        tool_version=__version__,
    )
    manifest.write(folder / MANIFEST_FILE)
    return manifest, report


def export_ticket(opts: ExportOptions, log: Callable[[str], None] = lambda _msg: None) -> ExportResult:
    opts.validate()
    check_output_dir(opts.output, opts.force, (opts.ticket,))
    ticket = load_ticket(opts.ticket)
    with atomic_output_dir(opts.output, opts.force, (opts.ticket,)) as tmp:
        log(f"exporting {ticket.label}")
        manifest, report = _export_variant(ticket.model, tmp, ticket, opts, "ticket", log)
        if opts.with_dense:
            log("exporting the dense baseline")
            report += _export_variant(ticket.dense_model(), tmp / DENSE_DIR, ticket, opts, "dense", log)[1]
            manifest = dataclasses.replace(manifest, dense=f"{DENSE_DIR}/{MANIFEST_FILE}")
        report.raise_on_failure("the export", "PyTorch", "try another --opset or report the engine version")
        manifest.write(tmp / MANIFEST_FILE)
    return ExportResult(path=Path(opts.output), manifest=manifest)
