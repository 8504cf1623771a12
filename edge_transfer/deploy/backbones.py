"""The backbone graph an artifact is built on, made and validated by the existing stages:
``export`` for FP32 (parity with PyTorch, zero audit), ``quantize`` for INT8 (calibration on the
task's training images, parity with the fake-quant model, INT8 zero audit) in the engine's INT8
form. Each comes with its dense twin (timing only). The head is appended in FP32 afterwards
(graph.append_head), so learning on the device can still replace it."""

from __future__ import annotations

from pathlib import Path

from ..ticket import DENSE_FILE, save_ticket
from ..export import ExportOptions, export_ticket
from ..export.options import BACKBONE_FILE
from ..formats import DENSE_DIR
from ..engines import get_engine
from ..quantize import FORM_FILES, QuantizeOptions, quantize


def calibration_ticket(ticket, src, folder: Path) -> Path:
    """The backbone ticket with the run's input normalisation, for ``quantize`` to calibrate.
    Its head stays the ticket's own: quantize checks the classifier it writes, and a deployed
    head with the standardisation folded in multiplies the features' INT8 rounding by about
    1/spread (measured: relative RMS 0.11-0.18 on logits, over quantize's tolerance), while the
    artifact keeps its head FP32 on FP32 features anyway and is gated on its own val top-1."""
    import dataclasses

    from safetensors.torch import load_file

    meta = dataclasses.replace(ticket.meta, mean=tuple(src.mean), std=tuple(src.std))
    folder.mkdir(parents=True)
    save_ticket(folder, ticket.model, ticket.masks, load_file(str(ticket.path / DENSE_FILE)), meta)
    return folder


def fp32_backbones(ticket, workdir: Path, log) -> tuple[Path, Path, dict]:
    result = export_ticket(ExportOptions(ticket=ticket.path, output=workdir / "fp32", with_dense=True),
                           log=lambda m: log("  " + m))
    parity = [p for p in result.manifest.validation["parity"] if p["graph"].endswith(BACKBONE_FILE)]
    return workdir / "fp32" / BACKBONE_FILE, workdir / "fp32" / DENSE_DIR / BACKBONE_FILE, {"backbone_parity": parity}


def int8_backbones(ticket, src, opts, workdir: Path, log) -> tuple[Path, Path, dict]:
    form = get_engine(opts.engine).int8_form
    source = calibration_ticket(ticket, src, workdir / "calibration-ticket")
    # quantize's accuracy gate scores the ticket's own (source-task) head: opened here, the
    # artifact's gate is its own val top-1 (build._check_on_task)
    q = quantize(QuantizeOptions(source=source, output=workdir / "int8", calibration=src.data,
                                 samples=opts.calibration_samples, max_drop=100.0, progress=False),
                 log=lambda m: log("  " + m))
    backbone = FORM_FILES[form]["backbone"]
    accuracy = q.manifest.quantization.get("accuracy") or {}
    record = {"form": form, "calibration": src.data, "samples": opts.calibration_samples,
              "scheme": q.manifest.quantization.get("scheme"),
              "source_head_int8_agreement": accuracy.get("top1_agreement"),  # the ticket's own head, INT8 vs FP32
              "backbone_parity": [p for p in q.manifest.validation["parity"] if "backbone" in p["graph"]]}
    return workdir / "int8" / backbone, workdir / "int8" / DENSE_DIR / backbone, record
