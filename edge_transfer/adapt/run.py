"""``adapt(AdaptOptions) -> AdaptResult``: compile the backbone, learn the head epoch by epoch
(or fit the probe on cached features), write the run folder."""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..bench.timing import backbone_speedup
from ..cores import pinned
from ..data import batches, dataset_stats, load_task
from ..data.batches import Preprocess
from ..data.datasets import crop_scale, limit_train
from ..engines import get_engine
from ..errors import CheckpointError, OptionError, OutputExistsError
from ..export.resolve import ensure_export, read_manifest
from ..fileio import atomic_output_dir, write_json
from ..formats import ADAPT_SCHEMA, BACKBONE_FILE, DENSE_DIR, ExportManifest, is_ticket
from ..metrics import accuracy
from ..system import system_info
from ..ticket import ModuleFactory
from ..train.loop import step_lr
from .learner import OnlineLearner
from .options import BACKBONE_TICKET_DIR, CHECKPOINT_FILE, RESULTS_FILE, RESUME_KEYS, AdaptOptions, AdaptResult
from .probe import probe_record
from .report import write_reports
from .source import fresh_statistics, source_input_size
from .summary import summarise


@dataclass
class _Variant:
    """One backbone (sparse ticket or dense baseline) with its learner and cached val features."""

    name: str
    manifest: ExportManifest
    compiled: object
    learner: object
    val_features: object = None
    train_features: object = None  # --precompute only
    train_labels: object = None


def _check_output(opts: AdaptOptions) -> None:
    checkpoint = Path(opts.output) / CHECKPOINT_FILE
    if opts.resume and not checkpoint.is_file():
        raise CheckpointError(f"--resume needs {checkpoint}, which does not exist; run without --resume first")
    if not opts.resume and checkpoint.is_file() and not opts.force:
        raise OutputExistsError(f"{opts.output} already holds an adapt run; pass --resume to continue it, "
                                "--force to start over, or choose another --output")


def _extract(learner, dataset, preprocess, batch_size: int):
    import numpy as np

    feats, labels = [], []
    for images, y in batches(dataset, preprocess, batch_size, shuffle=False, seed=0):
        feats.append(learner.features(images))
        labels.append(y)
    if not feats:
        raise OptionError("no readable images in the data set")
    return np.concatenate(feats), np.concatenate(labels)


def _feature_batches(features, labels, batch_size: int, seed: int):
    import torch

    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed)).numpy()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield features[idx], labels[idx]


def _torch_backbone(manifest: ExportManifest, variant: str):
    """The backbone as an nn.Module builder, for the torch engine (None if the ticket moved)."""
    ticket_path = manifest.ticket_path
    if not ticket_path or not is_ticket(Path(ticket_path)):
        return None
    return ModuleFactory(ticket_path, variant="dense" if variant == "dense" else "ticket", backbone=True)


def _keep_backbone(source: Path, output: Path) -> str | None:
    """Copy the ticket the head was trained on (with its fresh BatchNorm statistics) into the
    run folder, replacing a previous copy in one rename; None when the source was an export."""
    import shutil

    if not is_ticket(source):
        return None
    with atomic_output_dir(output / BACKBONE_TICKET_DIR, force=True, inputs=(source,)) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
    return BACKBONE_TICKET_DIR


@contextmanager
def _one_torch_thread():
    """The head is one small matmul: more torch threads only fight the backbone engine for
    the same cores (measured: head time x10, backbone -25% when torch had 2 threads)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def adapt(opts: AdaptOptions, log: Callable[[str], None] = lambda _m: None) -> AdaptResult:
    """Compile the backbone (and the dense one with --compare-dense), learn the head epoch by
    epoch or fit the probe, time the backbones against each other, write the run folder."""
    opts.validate()
    _check_output(opts)
    tr = opts.train
    task = limit_train(load_task(tr.data, tr.val), tr.limit)
    started = time.perf_counter()
    with pinned(opts.cores) as core, _one_torch_thread(), tempfile.TemporaryDirectory(prefix="edge-transfer-adapt-") as tmp:
        backbones = _backbones(opts, task, Path(tmp), log)
        variants, val_labels = _compile(opts, task, backbones, core.cores, log)
        checkpoint = Path(opts.output) / CHECKPOINT_FILE
        records, start_epoch = _resumed(opts, variants, checkpoint, log)
        Path(opts.output).mkdir(parents=True, exist_ok=True)
        if opts.fits_probe:
            records = _fit_probes(opts, task, variants, val_labels, checkpoint, log)
        else:
            records = _train(opts, task, backbones, variants, val_labels, records, start_epoch, checkpoint, log)
        kept = _keep_backbone(backbones.source, Path(opts.output)) if opts.keep_backbone else None
        bench = {}
        if opts.compare_dense:
            x = _example(tr.batch_size, backbones.input_size)
            bench = backbone_speedup(variants[0].compiled, variants[1].compiled, [x])
    payload = _payload(opts, task, backbones, variants, records, bench, kept, core.cores, started)
    _write(Path(opts.output), payload)
    return AdaptResult(Path(opts.output), payload["summary"], records, payload)


@dataclass
class _Backbones:
    """What the head learns on: the export (made from the ticket with fresh BatchNorm statistics
    if needed) and the input pipeline the features are computed with."""
    source: Path
    batchnorm: dict | None
    folder: Path
    manifests: dict  # sparse (and dense) -> ExportManifest
    mean: tuple
    std: tuple

    @property
    def input_size(self) -> tuple:
        return self.manifests["sparse"].input_size

    def preprocess(self, augment: bool = False, crop_scale: tuple[float, float] = (0.08, 1.0)):
        return Preprocess(self.input_size, self.mean, self.std, augment=augment, crop_scale=crop_scale)


def _backbones(opts: AdaptOptions, task, tmp: Path, log) -> _Backbones:
    import numpy as np

    norm = None
    if opts.dataset_stats:
        norm = dataset_stats(task.train, source_input_size(opts.source))
        log(f"dataset stats: mean {np.round(norm[0], 4).tolist()} std {np.round(norm[1], 4).tolist()}")
    source, batchnorm = fresh_statistics(opts, tmp, norm, log)
    folder = ensure_export(source, tmp, opts.compare_dense, log)
    manifests = {"sparse": read_manifest(folder)}
    if opts.compare_dense:
        manifests["dense"] = read_manifest(folder / DENSE_DIR)
    mean, std = norm or (manifests["sparse"].mean, manifests["sparse"].std)
    return _Backbones(source, batchnorm, folder, manifests, tuple(mean), tuple(std))


def _compile(opts: AdaptOptions, task, backbones: _Backbones, cores: int, log) -> tuple[list[_Variant], object]:
    """Each backbone compiled with its learner, and its val (and with --precompute train)
    features extracted once."""
    tr, engine, eval_pre = opts.train, get_engine(opts.engine), backbones.preprocess()
    variants, val_labels = [], None
    for name, manifest in backbones.manifests.items():
        sub = backbones.folder if name == "sparse" else backbones.folder / DENSE_DIR
        t0 = time.perf_counter()
        compiled = engine.compile(sub / BACKBONE_FILE, tr.batch_size, cores, torch_model=_torch_backbone(manifest, name))
        learner = OnlineLearner(compiled, task.num_classes, feature_dim=manifest.feature_dim, lr=tr.lr,
                                momentum=tr.momentum, weight_decay=tr.weight_decay, seed=tr.seed)
        v = _Variant(name, manifest, compiled, learner)
        v.val_features, val_labels = _extract(learner, task.val, eval_pre, tr.batch_size)
        if opts.precompute:
            v.train_features, v.train_labels = _extract(learner, task.train, eval_pre, tr.batch_size)
        log(f"{name} backbone ({manifest.label}): compiled and features cached in {time.perf_counter() - t0:.1f}s")
        variants.append(v)
    return variants, val_labels


def _save(opts: AdaptOptions, variants: list[_Variant], checkpoint: Path, epoch: int, records: list) -> None:
    variants[0].learner.save(checkpoint, {"epoch": epoch, "settings": opts.resume_settings(), "records": records,
                                          "variants": {v.name: v.learner.state() for v in variants[1:]}})


def _resumed(opts: AdaptOptions, variants: list[_Variant], checkpoint: Path, log) -> tuple[list, int]:
    """(records, epochs done) of the run --resume continues; ([], 0) for a new run."""
    if not opts.resume:
        return [], 0
    saved = variants[0].learner.load(checkpoint)
    if saved["settings"] != opts.resume_settings():
        changed = [k for k in RESUME_KEYS if saved["settings"].get(k) != opts.resume_settings()[k]]
        raise CheckpointError(f"--resume with different settings ({', '.join(changed)}) than the saved run; "
                              "use the same options or start a new --output")
    for v in variants[1:]:
        v.learner.load_state(saved["variants"][v.name])
    log(f"resuming {checkpoint} after epoch {int(saved['epoch'])}")
    return list(saved["records"]), int(saved["epoch"])


def _fit_probes(opts: AdaptOptions, task, variants: list[_Variant], val_labels, checkpoint: Path, log) -> list:
    records = [probe_record(v.name, v.learner, v.train_features, v.train_labels, v.val_features, val_labels,
                            task.num_classes, opts.train.seed, log) for v in variants]
    _save(opts, variants, checkpoint, 1, records)
    return records


def _train(opts: AdaptOptions, task, backbones: _Backbones, variants: list[_Variant], val_labels, records: list,
           start_epoch: int, checkpoint: Path, log) -> list:
    """The online loop: one epoch per backbone in turn, checkpointed every --checkpoint-every."""
    tr = opts.train
    train_pre = backbones.preprocess(augment=tr.augment and not opts.precompute, crop_scale=crop_scale(tr.data))
    records = list(records)
    for epoch in range(start_epoch, tr.epochs):
        lr = step_lr(tr.lr, epoch, tr.epochs, opts.lr_decay, opts.lr_steps)
        # Alternate which backbone runs first, so slow drift of the machine cancels out.
        for v in variants if epoch % 2 == 0 else variants[::-1]:
            records.append(_epoch(opts, task, v, val_labels, train_pre, epoch, lr))
            r = records[-1]
            log(f"epoch {epoch + 1}/{tr.epochs} {v.name:6s} lr {lr:.4g}  {r['wall_s']:.2f}s "
                f"({r['images_per_sec']:.0f} img/s; backbone {r['backbone_s']:.2f}s head {r['head_s']:.3f}s "
                f"data {r['data_s']:.2f}s hidden {r['hidden_s']:.2f}s)  loss {r['train_loss']:.3f}  "
                f"val top-1 {r['val_top1']:.3f}")
        if (epoch + 1) % opts.checkpoint_every == 0 or epoch + 1 == tr.epochs:
            _save(opts, variants, checkpoint, epoch + 1, records)
    return records


def _epoch(opts: AdaptOptions, task, v: _Variant, val_labels, train_pre, epoch: int, lr: float) -> dict:
    from .loop import run_epoch

    tr = opts.train
    v.learner.set_lr(lr)
    epoch_seed = tr.seed * 100_003 + epoch
    if opts.precompute:
        it = _feature_batches(v.train_features, v.train_labels, tr.batch_size, epoch_seed)
        stats = run_epoch(v.learner, it, overlap=False, extract=lambda f: f)
    else:
        it = batches(task.train, train_pre, tr.batch_size, shuffle=True, seed=epoch_seed)
        stats = run_epoch(v.learner, it, overlap=opts.overlap)
    acc = accuracy(v.learner.predict_features(v.val_features), val_labels, task.num_classes)
    return {"epoch": epoch + 1, "variant": v.name, "lr": lr, **stats.to_dict(),
            "val_top1": acc["top1"], "val_mean_class_acc": acc["mean_class_acc"]}


def _example(batch_size: int, input_size) -> object:
    import numpy as np

    return np.random.default_rng(0).standard_normal((batch_size, *input_size), dtype=np.float32)


def _payload(opts: AdaptOptions, task, backbones: _Backbones, variants: list[_Variant], records: list, bench: dict,
             kept: str | None, cores: int, started: float) -> dict:
    summary = summarise(records, bench, task, opts.train.epochs)
    summary["batchnorm"] = backbones.batchnorm
    return {
        "schema": ADAPT_SCHEMA,
        "settings": {**opts.to_dict(), "cores_used": cores, "mean": list(backbones.mean), "std": list(backbones.std),
                     "num_classes": task.num_classes, "train_images": len(task.train), "val_images": len(task.val)},
        "backbone": {v.name: {"label": v.manifest.label, "sparsity": v.manifest.sparsity,
                              "untrained": v.manifest.untrained} for v in variants},
        "classes": list(task.train.classes),
        "ticket": kept,
        "val_predictions": variants[0].learner.predict_features(variants[0].val_features).tolist(),
        "system": system_info(),
        "epochs": records,
        "summary": summary,
        "seconds": time.perf_counter() - started,
    }


def _write(output: Path, payload: dict) -> None:
    write_json(output / RESULTS_FILE, payload)
    write_reports(output, payload)
