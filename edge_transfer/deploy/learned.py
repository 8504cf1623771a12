"""Learning goes on on the device: ``learn(LearnOptions)`` continues a deployed artifact's head
on new labelled images (the same classes or new ones) and writes a new validated artifact
with ``save.save_learned`` (what ``DeployedModel.save`` runs too)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..cores import pinned
from ..data import batches, load_task
from ..data.batches import Preprocess
from ..data.datasets import crop_scale, limit_train, skipped_note
from ..errors import OptionError
from .artifact import DeployedModel, load
from .options import LearnOptions, LearnResult, VAL_BATCH
from .save import save_learned


def learn(opts: LearnOptions, log: Callable[[str], None] = lambda _m: None) -> LearnResult:
    import numpy as np

    opts.validate()
    tr = opts.train
    task = limit_train(load_task(tr.data, tr.val), tr.limit)
    with pinned(opts.cores) as core:
        model = load(opts.artifact, opts.engine, core.cores, batch_size=tr.batch_size)
        new = [c for c in task.train.classes if c not in model.labels]
        classes = model.labels + new
        to_artifact = np.asarray([classes.index(c) for c in task.train.classes])
        learner = model.learner(classes, lr=tr.lr, momentum=tr.momentum, weight_decay=tr.weight_decay, seed=tr.seed)
        log(f"learning on {tr.data}: {len(task.train)} images, classes {task.train.classes}"
            + (f" ({len(new)} new: {new})" if new else " (all known)"))
        absent = [c for c in model.labels if c not in task.train.classes]
        if absent:  # measured: 5-9 learned, then 0-4 alone for 3 epochs: the 5-9 images all went to 0-4
            log(f"warning: --data has no images of {', '.join(absent)}: the head will learn to predict them less, "
                "and val scores only the classes in --data; include their images to keep them")
        m = model.manifest
        scale = crop_scale(tr.data)
        # [0, 1] pixels, then the artifact's own input form (normalised, or uint8 when folded)
        unit = Preprocess(tuple(m.input_size), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), augment=tr.augment, crop_scale=scale)
        for epoch in range(tr.epochs):
            t0, losses = time.perf_counter(), []
            for x, y in batches(task.train, unit, tr.batch_size, shuffle=True, seed=tr.seed * 100_003 + epoch):
                losses.append(learner.partial_fit(model.from_unit(x), to_artifact[y]))
            if not losses:
                raise OptionError(f"none of the {len(task.train)} training images of {tr.data} could be read; "
                                  "give PNG or JPEG files in one sub-folder per class")
            log(f"epoch {epoch + 1}/{tr.epochs}: loss {np.mean(losses):.3f}, {time.perf_counter() - t0:.1f}s")
        before = _top1(model, task, core.cores, opts.engine) if not new else None
        manifest = save_learned(model, opts.output, learner, val=task, force=opts.force,
                                note=f"learned {tr.epochs} epochs on {tr.data}",
                                extra={"val_top1_before": before, "classes_in_data": list(task.train.classes),
                                       "classes_absent_from_data": absent})
    skipped = task.train.unreadable | task.val.unreadable
    if skipped:
        log(skipped_note(skipped, tr.data))
    last = manifest.history[-1]
    return LearnResult(Path(opts.output), manifest, last["val_top1"], before, last["val_images"],
                       list(task.train.classes))


def _top1(model, task, cores, engine) -> float:
    """The source artifact's val top-1 on ``task`` (its head is untouched: the learner holds the new one)."""
    preds, labels = DeployedModel(model.folder, model.manifest, model.labels, engine, cores, VAL_BATCH).evaluate(task)
    return float((preds == labels).mean())
