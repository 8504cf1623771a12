"""``save_learned``: a deployed model with a head learned on the device, written as a new
artifact (``DeployedModel.save`` and ``learn`` both end here)."""

from __future__ import annotations

from pathlib import Path

from ..engines import reference_engine
from ..errors import DeployError, OptionError
from ..fileio import atomic_output_dir
from ..formats import DEPLOY_FILE
from ..onnx_io import load_onnx
from ..validation import ValidationReport
from .files import file_records, write_head
from .graph import backbone_unchanged, head_parity, with_new_head
from .options import MODEL_FILE
from .source import HeadState


def save_learned(model, output: Path, learner, *, val=None, force: bool = False, note: str = "",
                 extra: dict | None = None):
    """Write ``model`` with ``learner``'s head as a new artifact: the backbone's initializers
    are kept byte for byte (so every pruned zero stays zero), the new graph's probabilities
    must match the head applied to its own features, and ``val`` (a Task) is scored."""
    import dataclasses

    import onnx

    classes = list(getattr(learner, "classes", model.labels))
    if len(classes) != learner.num_classes:
        raise OptionError(f"the learner has {learner.num_classes} classes but {len(classes)} names")
    head = HeadState(learner.head.weight.detach().numpy().copy(), learner.head.bias.detach().numpy().copy(),
                     learner.stats.mean.copy(), learner.stats.m2.copy(), learner.stats.count)
    weight, bias = head.folded()
    before = load_onnx(model.folder / MODEL_FILE)
    after = with_new_head(before, model.manifest.head, weight, bias)
    changed = backbone_unchanged(before, after, model.manifest.head)
    if changed:
        raise DeployError(f"{changed} backbone initializers changed while replacing the head; please report this")
    manifest = dataclasses.replace(model.manifest, num_classes=len(classes))
    with atomic_output_dir(Path(output), force, (model.folder,)) as out:
        onnx.save(after, str(out / MODEL_FILE))
        write_head(out, head, classes)
        report = ValidationReport(head_parity(out / MODEL_FILE, [reference_engine()], head, model.example_input(2)))
        report.raise_on_failure("the new graph", "the learned head", "please report this")
        parity = [p.to_dict() for p in report.parity]
        record = {"step": "learn", "note": note, "classes": len(classes), **(extra or {})}
        if val is not None:
            preds, labels = model.reopened(out, manifest, classes).evaluate(val)
            record.update(val_data=val.name, val_images=int(len(labels)), val_top1=float((preds == labels).mean()))
        deployed = model.manifest.validation.get("deployed", model.manifest.validation)
        validation = {"passed": True, "learned": {"parity": parity, "backbone_initializers_changed": changed,
                                                  **record}, "deployed": deployed}
        manifest = dataclasses.replace(manifest, kind="learned", source=str(Path(model.folder).resolve()),
                                       files=file_records(out), validation=validation,
                                       history=tuple(model.manifest.history) + (record,))
        manifest.write(out / DEPLOY_FILE)
    return manifest
