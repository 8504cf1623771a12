"""``quantize(QuantizeOptions) -> QuantizeResult``: a ticket (or its export) to INT8.

Post-training static quantization calibrated on real images of a task through the
ticket's own preprocessing, optionally followed by quantization-aware fine-tuning with
the mask held fixed. Writes, for the classifier and the backbone, the QDQ form (ONNX
Runtime, OpenVINO) and the DeepSparse form, plus the dense baseline quantized the same
way in ``dense/``. Validated before the folder appears: engine parity against the
fake-quantized PyTorch model, the INT8 zero audit, and top-1 agreement and accuracy
change against the FP32 ticket on the task's held-out split (a drop above ``max_drop``
points writes nothing).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from .. import __version__
from ..backbones import get_backbone_cfg, split_backbone
from ..engines import get_engine
from ..errors import OptionError, TicketError
from ..export.options import ExportResult
from ..export.resolve import read_manifest
from ..fileio import atomic_output_dir, check_output_dir
from ..formats import (BACKBONE_FILE, DENSE_DIR, EXPORT_SCHEMA, FP32, INT8, MANIFEST_FILE, MODEL_FILE, TICKET_FILE,
                       ExportManifest, is_export, is_ticket)
from ..onnx_io import io_signature
from ..ticket import load_ticket
from ..tolerances import INT8_TOLERANCE
from ..train import TrainSettings, load_train_data, make_optimizer, pixel_model, reapply_masks, train_epoch
from ..validation import ValidationReport, audit_zeros, check_parity
from .forms import deepsparse_form, export_fake_quant, qdq_form, quantized_weights, save
from .images import CalibrationImages, accuracy_drop, int8_accuracy
from .options import QuantizeOptions

# Graph files per form; the QDQ form keeps the FP32 export's names so tools that read
# model.onnx find the model every engine but DeepSparse runs.
FORM_FILES = {
    "qdq": {"model": MODEL_FILE, "backbone": BACKBONE_FILE},
    "deepsparse": {"model": "model.deepsparse.onnx", "backbone": "backbone.deepsparse.onnx"},
}


class QuantizeResult(ExportResult):
    """An INT8 export folder: an ExportResult whose manifest records the accuracy check."""

    @property
    def accuracy(self) -> dict:
        return self.manifest.quantization["accuracy"]


def resolve_ticket(source: Path) -> tuple[Path, Path | None]:
    """(ticket folder, export folder or None). An export's recorded hashes are checked first."""
    source = Path(source)
    if is_export(source):
        manifest = read_manifest(source)
        if manifest.precision != FP32:
            raise OptionError(f"{source} is already quantized ({manifest.precision}); give the FP32 ticket or export")
        ticket_path = manifest.ticket_path
        if not ticket_path or not is_ticket(Path(ticket_path)):
            raise TicketError(f"the ticket of export {source} ({ticket_path}) is gone; give the ticket folder instead")
        return Path(ticket_path), source
    if is_ticket(source):
        return source, None
    raise TicketError(f"{source} is neither a ticket folder ({TICKET_FILE}) nor an export folder ({MANIFEST_FILE}); "
                      "give one made by `edge-transfer prune` or `edge-transfer export`")


def _fake_quant_models(model, cfg, images: CalibrationImages):
    """(classifier, backbone) fake-quantized and calibrated on the same images."""
    from .fakequant import ActivationQuant, calibrate, copy_ranges, fake_quantize

    classifier = fake_quantize(model)
    calibrate(classifier, images.calibration())
    backbone = fake_quantize(split_backbone(model, cfg)[0])
    copy_ranges(classifier, backbone)
    if any(m.observing for m in backbone.modules() if isinstance(m, ActivationQuant)):
        raise RuntimeError("backbone activation without a calibrated range; please report this")
    return classifier, backbone


def _qat(classifier, backbone, ticket, opts: QuantizeOptions, input_size, log) -> dict:
    """Quantization-aware fine-tuning of the classifier with the mask fixed; the backbone
    takes the trained weights (it is the same network without the head)."""
    import torch

    data = load_train_data(TrainSettings(data=opts.qat_data, seed=opts.seed), input_size)
    if data.num_classes != ticket.meta.num_classes:
        raise OptionError(f"--data {opts.qat_data} has {data.num_classes} classes but the ticket's head has "
                          f"{ticket.meta.num_classes}; fine-tune the ticket on that task first (`edge-transfer finetune`)")
    params = dict(classifier.named_parameters())
    weights = {name: params[name] for name in ticket.masks}
    net = pixel_model(classifier, ticket.meta.mean, ticket.meta.std)
    optimizer = make_optimizer(classifier.parameters(), opts.qat_lr, 0.9, 0.0)
    torch.manual_seed(opts.seed)
    history = []
    for epoch in range(opts.qat_epochs):
        stats = train_epoch(net, optimizer, data.train_batches(64, opts.seed * 100_003 + epoch),
                            steps=data.steps_per_epoch(64), progress=opts.progress,
                            after_step=lambda: reapply_masks(weights, ticket.masks), desc=f"qat epoch {epoch + 1}")
        history.append({"epoch": epoch + 1, "loss": stats["loss"], "train_acc": stats["acc"]})
        log(f"  QAT epoch {epoch + 1}/{opts.qat_epochs}: loss {stats['loss']:.3f}, train top-1 {stats['acc']:.3f}")
    classifier.eval()
    backbone.load_state_dict({k: v for k, v in classifier.state_dict().items() if k in backbone.state_dict()})
    return {"epochs": opts.qat_epochs, "lr": opts.qat_lr, "data": opts.qat_data, "history": history}


def _parity(name: str, paths: dict, reference, x, engines) -> list:
    """Each engine's own INT8 form against the fake-quantized PyTorch model, relative RMS error
    (INT8_TOLERANCE says why not the max element)."""
    records = []
    for engine in engines:
        records += check_parity(name, paths[engine.int8_form], reference, x, [engine], INT8_TOLERANCE, "rms_rel_diff")
    return records


def _write_variant(folder: Path, classifier, backbone, model, ticket, images: CalibrationImages, engines, opts, variant: str,
                   log) -> tuple[dict, ValidationReport]:
    """Both graphs in both forms into ``folder``; returns their file records and validation."""
    folder.mkdir(parents=True, exist_ok=True)
    x = images.held_out(8)[0][0][:8]
    files, report = {}, ValidationReport()
    prefix = "dense/" if variant == "dense" else ""
    for graph, module, output in (("model", classifier, "logits"), ("backbone", backbone, "features")):
        start = time.perf_counter()
        source = export_fake_quant(module, ticket.meta.input_size, output)
        forms = {"qdq": qdq_form(source), "deepsparse": deepsparse_form(source)}
        paths = {}
        for form, proto in forms.items():
            filename = FORM_FILES[form][graph]
            paths[form] = folder / filename
            save(proto, paths[form])
            if variant == "ticket":
                report.audit += audit_zeros(filename, quantized_weights(proto), model, list(ticket.masks))
        for form, path in paths.items():
            files[path.name] = ExportManifest.file_entry(path, form=form, **io_signature(forms[form]))
        report.parity += _parity(f"{prefix}{graph}", paths, module, x, engines)
        log(f"  {prefix}{graph}: INT8 QDQ + DeepSparse forms in {time.perf_counter() - start:.1f}s")
    return files, report


def _check(report: ValidationReport, accuracy: dict, opts: QuantizeOptions, untrained: bool) -> None:
    report.raise_on_failure("the INT8 export", "the fake-quantized PyTorch model", "report the engine version")
    drop = accuracy_drop(accuracy)
    if drop is not None and drop > opts.max_drop and not untrained:
        raise OptionError(f"INT8 loses {drop:.2f} accuracy points on {accuracy['data']} (FP32 {accuracy['fp32_top1']:.2%}, "
                          f"INT8 {accuracy['int8_top1']:.2%}), more than --max-drop {opts.max_drop}; nothing was written: "
                          "calibrate on more --samples, add --qat-epochs, or raise --max-drop")


def quantize(opts: QuantizeOptions, log: Callable[[str], None] = lambda _m: None) -> QuantizeResult:
    opts.validate()
    check_output_dir(opts.output, opts.force, (opts.source,))
    ticket_path, export_path = resolve_ticket(opts.source)
    ticket = load_ticket(ticket_path)
    images = CalibrationImages(opts.calibration, ticket.meta.input_size, ticket.meta.mean, ticket.meta.std,
                               opts.samples, opts.seed)
    start = time.perf_counter()
    log(f"quantizing {ticket.label}: calibration on {opts.samples} images of {opts.calibration}")
    variants, qat = _fake_quant_variants(ticket, images, opts, log)
    with atomic_output_dir(opts.output, opts.force, (opts.source, ticket_path)) as tmp:
        manifests = {}
        for variant, model, cls_q, bb_q in variants:
            folder = tmp / DENSE_DIR if variant == "dense" else tmp
            files, report = _write_variant(folder, cls_q, bb_q, model, ticket, images, _engines(opts), opts, variant,
                                           log)
            accuracy = int8_accuracy(ticket, folder / FORM_FILES["qdq"]["model"], images) if variant == "ticket" else None
            _check(report, accuracy or {}, opts, ticket.meta.untrained)
            quantization = {"calibration": opts.calibration, "samples": opts.samples, "seed": opts.seed, "qat": qat,
                            "accuracy": accuracy, "max_drop": opts.max_drop}
            manifests[variant] = _manifest(ticket, variant, export_path, files, report, quantization,
                                           time.perf_counter() - start)
        if opts.with_dense:
            manifests["ticket"] = dataclasses.replace(manifests["ticket"], dense=f"{DENSE_DIR}/{MANIFEST_FILE}")
            manifests["dense"].write(tmp / DENSE_DIR / MANIFEST_FILE)
        manifests["ticket"].write(tmp / MANIFEST_FILE)
    return QuantizeResult(path=Path(opts.output), manifest=manifests["ticket"])


def _engines(opts: QuantizeOptions) -> list:
    return [get_engine(n) for n in opts.validate_engines]


def _fake_quant_variants(ticket, images: CalibrationImages, opts: QuantizeOptions, log) -> tuple[list, dict | None]:
    """(variant, FP32 model, fake-quantized classifier, backbone) for the ticket (after QAT, if
    asked) and the dense baseline; and the QAT record."""
    cfg = get_backbone_cfg(ticket.arch)
    classifier, backbone = _fake_quant_models(ticket.model, cfg, images)
    qat = _qat(classifier, backbone, ticket, opts, ticket.meta.input_size, log) if opts.qat_epochs else None
    variants = [("ticket", ticket.model, classifier, backbone)]
    if opts.with_dense:
        dense = ticket.dense_model()
        variants.append(("dense", dense, *_fake_quant_models(dense, cfg, images)))
    return variants, qat


SCHEME = ("static, activations uint8 asymmetric per tensor (min/max), weights int8 symmetric per tensor (zero point "
          "0); inputs of every conv, linear and residual add quantized")


def _manifest(ticket, variant: str, export_path: Path | None, files: dict, report: ValidationReport,
              quantization: dict, seconds: float) -> ExportManifest:
    is_ticket = variant == "ticket"
    return ExportManifest(
        schema=EXPORT_SCHEMA, variant=variant, precision=INT8,
        label=(ticket.label if is_ticket else f"{ticket.arch} dense baseline") + " INT8",
        ticket_path=str(ticket.path.resolve()), source_export=str(export_path.resolve()) if export_path else None,
        ticket=ticket.meta if is_ticket else None, arch=ticket.arch,
        sparsity=ticket.meta.achieved_sparsity if is_ticket else 0.0, untrained=ticket.meta.untrained,
        input_size=ticket.meta.input_size, mean=ticket.meta.mean, std=ticket.meta.std,
        num_classes=ticket.meta.num_classes, forms=FORM_FILES, files=files,
        quantization={"scheme": SCHEME, **quantization}, validation=report.to_dict(), seconds=seconds,
        tool_version=__version__)
