"""``adapt(AdaptOptions) -> AdaptResult``: compile the backbone, learn the head epoch by epoch
(or fit the probe on cached features), write the run folder."""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import CheckpointError, OptionError, OutputExistsError
from ..formats import ADAPT_SCHEMA, BACKBONE_FILE, DENSE_DIR, ExportManifest
from .options import BACKBONE_TICKET_DIR, CHECKPOINT_FILE, RESULTS_FILE, RESUME_KEYS, AdaptOptions, AdaptResult


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

    from ..data import batches

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
    from ..formats import is_ticket
    from ..ticket import ModuleFactory

    ticket_path = manifest.ticket_path
    if not ticket_path or not is_ticket(Path(ticket_path)):
        return None
    return ModuleFactory(ticket_path, variant="dense" if variant == "dense" else "ticket", backbone=True)


def _keep_backbone(source: Path, output: Path) -> str | None:
    """Copy the ticket the head was trained on (with its fresh BatchNorm statistics) into the
    run folder, replacing a previous copy in one rename; None when the source was an export."""
    import shutil

    from ..fileio import atomic_output_dir
    from ..formats import is_ticket

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
    import numpy as np

    from ..cores import pinned
    from ..bench.timing import backbone_speedup
    from ..data import batches, dataset_stats, load_task
    from ..data.batches import Preprocess
    from ..data.datasets import crop_scale, limit_train
    from ..engines import get_engine
    from ..export.resolve import ensure_export, read_manifest
    from ..fileio import write_json
    from ..metrics import accuracy
    from ..system import system_info
    from ..train.loop import step_lr
    from .learner import OnlineLearner
    from .loop import run_epoch
    from .probe import probe_record
    from .report import write_reports
    from .source import fresh_statistics, source_input_size
    from .summary import summarise

    opts.validate()
    _check_output(opts)
    tr = opts.train
    task = limit_train(load_task(tr.data, tr.val), tr.limit)
    started = time.perf_counter()
    with pinned(opts.cores) as core, _one_torch_thread(), tempfile.TemporaryDirectory(prefix="edge-transfer-adapt-") as tmp:
        norm = None
        if opts.dataset_stats:
            norm = dataset_stats(task.train, source_input_size(opts.source))
            log(f"dataset stats: mean {np.round(norm[0], 4).tolist()} std {np.round(norm[1], 4).tolist()}")
        source, batchnorm = fresh_statistics(opts, Path(tmp), norm, log)
        folder = ensure_export(source, Path(tmp), opts.compare_dense, log)
        manifests = {"sparse": read_manifest(folder)}
        if opts.compare_dense:
            manifests["dense"] = read_manifest(folder / DENSE_DIR)
        m = manifests["sparse"]
        input_size = m.input_size
        mean, std = norm or (m.mean, m.std)
        scale = crop_scale(tr.data)
        train_pre = Preprocess(input_size, mean, std, augment=tr.augment and not opts.precompute, crop_scale=scale)
        eval_pre = Preprocess(input_size, mean, std)
        engine = get_engine(opts.engine)
        variants = []
        for name, manifest in manifests.items():
            sub = folder if name == "sparse" else folder / DENSE_DIR
            t0 = time.perf_counter()
            compiled = engine.compile(sub / BACKBONE_FILE, tr.batch_size, core.cores,
                                      torch_model=_torch_backbone(manifest, name))
            learner = OnlineLearner(compiled, task.num_classes, feature_dim=manifest.feature_dim, lr=tr.lr,
                                    momentum=tr.momentum, weight_decay=tr.weight_decay, seed=tr.seed)
            v = _Variant(name, manifest, compiled, learner)
            v.val_features, val_labels = _extract(learner, task.val, eval_pre, tr.batch_size)
            if opts.precompute:
                v.train_features, v.train_labels = _extract(learner, task.train, eval_pre, tr.batch_size)
            log(f"{name} backbone ({manifest.label}): compiled and features cached in {time.perf_counter() - t0:.1f}s")
            variants.append(v)
        checkpoint_path = Path(opts.output) / CHECKPOINT_FILE
        records, start_epoch = [], 0
        if opts.resume:
            saved = variants[0].learner.load(checkpoint_path)
            if saved["settings"] != opts.resume_settings():
                changed = [k for k in RESUME_KEYS if saved["settings"].get(k) != opts.resume_settings()[k]]
                raise CheckpointError(f"--resume with different settings ({', '.join(changed)}) than the saved run; "
                                      "use the same options or start a new --output")
            for v in variants[1:]:
                v.learner.load_state(saved["variants"][v.name])
            records, start_epoch = list(saved["records"]), int(saved["epoch"])
            log(f"resuming {checkpoint_path} after epoch {start_epoch}")
        Path(opts.output).mkdir(parents=True, exist_ok=True)
        if opts.fits_probe:
            records = [probe_record(v.name, v.learner, v.train_features, v.train_labels, v.val_features, val_labels,
                                    task.num_classes, tr.seed, log) for v in variants]
            variants[0].learner.save(checkpoint_path, {
                "epoch": 1, "settings": opts.resume_settings(), "records": records,
                "variants": {v.name: v.learner.state() for v in variants[1:]}})
        for epoch in range(start_epoch, 0 if opts.fits_probe else tr.epochs):
            lr = step_lr(tr.lr, epoch, tr.epochs, opts.lr_decay, opts.lr_steps)
            # Alternate which backbone runs first, so slow drift of the machine cancels out.
            for v in variants if epoch % 2 == 0 else variants[::-1]:
                v.learner.set_lr(lr)
                epoch_seed = tr.seed * 100_003 + epoch
                if opts.precompute:
                    it = _feature_batches(v.train_features, v.train_labels, tr.batch_size, epoch_seed)
                    stats = run_epoch(v.learner, it, overlap=False, extract=lambda f: f)
                else:
                    it = batches(task.train, train_pre, tr.batch_size, shuffle=True, seed=epoch_seed)
                    stats = run_epoch(v.learner, it, overlap=opts.overlap)
                acc = accuracy(v.learner.predict_features(v.val_features), val_labels, task.num_classes)
                records.append({"epoch": epoch + 1, "variant": v.name, "lr": lr, **stats.to_dict(),
                                "val_top1": acc["top1"], "val_mean_class_acc": acc["mean_class_acc"]})
                r = records[-1]
                log(f"epoch {epoch + 1}/{tr.epochs} {v.name:6s} lr {lr:.4g}  {r['wall_s']:.2f}s "
                    f"({r['images_per_sec']:.0f} img/s; backbone {r['backbone_s']:.2f}s head {r['head_s']:.3f}s "
                    f"data {r['data_s']:.2f}s hidden {r['hidden_s']:.2f}s)  loss {r['train_loss']:.3f}  "
                    f"val top-1 {acc['top1']:.3f}")
            if (epoch + 1) % opts.checkpoint_every == 0 or epoch + 1 == tr.epochs:
                variants[0].learner.save(checkpoint_path, {
                    "epoch": epoch + 1, "settings": opts.resume_settings(), "records": records,
                    "variants": {v.name: v.learner.state() for v in variants[1:]}})
        kept = _keep_backbone(source, Path(opts.output)) if opts.keep_backbone else None
        val_predictions = variants[0].learner.predict_features(variants[0].val_features).tolist()
        bench = {}
        if opts.compare_dense:
            x = np.random.default_rng(0).standard_normal((tr.batch_size, *input_size), dtype=np.float32)
            bench = backbone_speedup(variants[0].compiled, variants[1].compiled, [x])
    summary = summarise(records, bench, task, tr.epochs)
    summary["batchnorm"] = batchnorm
    payload = {
        "schema": ADAPT_SCHEMA,
        "settings": {**opts.to_dict(),
                     "cores_used": core.cores, "mean": list(mean), "std": list(std), "num_classes": task.num_classes,
                     "train_images": len(task.train), "val_images": len(task.val)},
        "backbone": {v.name: {"label": v.manifest.label, "sparsity": v.manifest.sparsity,
                              "untrained": v.manifest.untrained} for v in variants},
        "classes": list(task.train.classes),
        "ticket": kept,
        "val_predictions": val_predictions,
        "system": system_info(),
        "epochs": records,
        "summary": summary,
        "seconds": time.perf_counter() - started,
    }
    write_json(Path(opts.output) / RESULTS_FILE, payload)
    write_reports(Path(opts.output), payload)
    return AdaptResult(Path(opts.output), summary, records, payload)
