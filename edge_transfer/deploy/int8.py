"""``deploy --int8``: the backbone quantized by the quantize stage (calibrated on the task's
training images, with its parity checks and INT8 zero audit), then the engine's INT8 form of
the backbone with the FP32 head appended (so learning on the device can still replace it)."""

from __future__ import annotations

from pathlib import Path


def calibration_ticket(ticket, src, folder: Path) -> Path:
    """The backbone ticket with the run's input normalisation, for ``quantize`` to calibrate.
    Its head stays the ticket's own: quantize checks the classifier it writes, and a deployed
    head with the standardisation folded in multiplies the features' INT8 rounding by about
    1/spread (measured: relative RMS 0.11-0.18 on logits, over quantize's tolerance), while the
    artifact keeps its head FP32 on FP32 features anyway and is gated on its own val top-1."""
    import dataclasses

    from safetensors.torch import load_file

    from ..ticket import DENSE_FILE, save_ticket

    meta = dataclasses.replace(ticket.meta, mean=tuple(src.mean), std=tuple(src.std))
    folder.mkdir(parents=True)
    save_ticket(folder, ticket.model, ticket.masks, load_file(str(ticket.path / DENSE_FILE)), meta)
    return folder


def int8_graphs(ticket, src, weight, bias, opts, workdir: Path, sparse_out: Path, dense_out: Path, log) -> tuple:
    """Write the INT8 artifact graph to ``sparse_out`` and its dense twin (timing only) to
    ``dense_out``; returns (head initializer names, the quantization record, INT8 zero audit)."""
    import onnx

    from ..engines import get_engine
    from ..onnx_io import load_onnx
    from ..quantize import FORM_FILES, QuantizeOptions, quantize
    from ..quantize.forms import audit_int8_zeros
    from .graph import append_head

    form = get_engine(opts.engine).int8_form
    if form is None:
        from ..errors import OptionError

        raise OptionError(f"--engine {opts.engine} does not run INT8 models; use deepsparse, onnxruntime or openvino")
    source = calibration_ticket(ticket, src, workdir / "calibration-ticket")
    # quantize's accuracy gate scores the ticket's own (source-task) head: opened here, the
    # artifact's gate is its own val top-1 (build._check_on_task)
    q = quantize(QuantizeOptions(source=source, output=workdir / "int8", calibration=src.data,
                                 samples=opts.calibration_samples, max_drop=100.0, progress=False),
                 log=lambda m: log("  " + m))
    backbone = FORM_FILES[form]["backbone"]
    names = None
    for folder, out in ((workdir / "int8", sparse_out), (workdir / "int8" / "dense", dense_out)):
        merged, names = append_head(load_onnx(folder / backbone), weight, bias)
        onnx.save(merged, str(out))
    audit = audit_int8_zeros("model.onnx", load_onnx(sparse_out), ticket.model, list(ticket.masks))
    accuracy = q.manifest.quantization.get("accuracy") or {}
    record = {"form": form, "calibration": src.data, "samples": opts.calibration_samples,
              "scheme": q.manifest.quantization.get("scheme"),
              "source_head_int8_agreement": accuracy.get("top1_agreement"),  # the ticket's own head, INT8 vs FP32
              "backbone_parity": [p for p in q.manifest.validation["parity"] if "backbone" in p["graph"]]}
    return names, record, audit
