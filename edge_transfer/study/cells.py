"""One study cell each: a source model pretrained (cached by content), a scheme's tickets
drawn from it, one transfer evaluation (linear probe or full fine-tuning); finished
evaluations are kept one JSON file each, so a stopped study resumes."""

from __future__ import annotations

import time
from pathlib import Path

from ..adapt import AdaptOptions, adapt
from ..adapt.options import default_train_settings as online_recipe
from ..batchnorm import recalibrated_ticket
from ..errors import OptionError
from ..fileio import write_json
from ..finetune import FinetuneOptions, finetune
from ..formats import PRETRAIN_SCHEMA, TICKET_FILE, read_json_file, read_record
from ..pretrain import PretrainOptions, default_train_settings, pretrain, sidecar
from ..prune import PruneOptions, draw_tickets
from ..prune._registry import get_method
from ..ticket import MASKS_FILE, load_ticket_meta
from .options import DENSE, DENSE_SCHEME, StudyOptions, digest


def pretrained_source(opts: StudyOptions, pretraining: str, seed: int, log) -> tuple[Path, dict]:
    """The source checkpoint for ``pretraining`` and source seed ``seed``, trained once per
    content hash."""
    schedule = default_train_settings()  # pretrain's own learning rate and weight decay
    train = opts.train_settings(opts.source, opts.pretrain_epochs, seed, lr=schedule.lr, wd=schedule.weight_decay,
                                limit=opts.source_limit)
    robust = opts.robustness(pretraining)
    key = digest({"arch": opts.arch, "train": {k: v for k, v in train.to_dict().items() if k != "progress"},
                  "robust": robust.to_dict(), "eval": PretrainOptions.eval_pgd_steps,
                  "eval_images": opts.robust_eval_limit})
    cache = Path(opts.cache_dir or Path(opts.output) / "cache")
    path = cache / f"{opts.arch}-{pretraining}-{key}.pt"
    if path.is_file() and sidecar(path).is_file():
        log(f"pretrained {pretraining} source: cached {path}")
        return path, read_record(sidecar(path), (PRETRAIN_SCHEMA,), OptionError, f"delete {path} to pretrain it again")
    log(f"pretraining the {pretraining} source, seed {seed} ({robust.describe()}, {train.epochs} epochs on "
        f"{opts.source})")
    result = pretrain(PretrainOptions(arch=opts.arch, output=path, train=train, robust=robust, force=True,
                                      eval_robust_limit=opts.robust_eval_limit),
                      log=lambda m: log("  " + m))
    return path, result.record


class Runs:
    """Finished evaluations, one JSON file each, so a stopped study resumes."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str):
        path = self.folder / f"{key}.json"
        return read_json_file(path, OptionError, f"delete {path} to run that cell again") if path.is_file() else None

    def put(self, key: str, record: dict) -> None:
        write_json(self.folder / f"{key}.json", record)


def draw_method(opts: StudyOptions, method: str, pretraining: str, ckpt: Path, seed: int, work: Path, log,
                donor: dict | None = None) -> dict:
    """Tickets of ``method`` (a --methods label: its scheme in this arm) at every sparsity (and
    the dense model for method DENSE), drawn from source seed ``seed``'s checkpoint with that
    seed; a mask transfer (ltht) takes ``donor``'s tickets' masks instead."""
    folder = work / "tickets" / pretraining / f"source{seed}"
    method = method if method == DENSE else opts.arm_method(method, pretraining)
    if donor is not None:
        return _transfer_masks(opts, method, pretraining, ckpt, seed, folder, donor, log)
    scheme = get_method(DENSE_SCHEME if method == DENSE else method)  # the dense baseline is OMP at sparsity 0
    targets = (0.0,) if method == DENSE else tuple(sorted(opts.sparsities))
    shared = method != DENSE and scheme.shares_trajectory
    # imp/aimp's rounds depend on every requested sparsity: name the trajectory, draw it whole
    stem = f"{method}[{','.join(f'{s:g}' for s in targets)}]" if shared else method
    outputs = {s: folder / f"{stem}-{s:g}" for s in targets}
    todo = {s: p for s, p in outputs.items() if not (p / TICKET_FILE).is_file()}
    if shared and todo:
        todo = outputs
    if todo:
        data = opts.target if scheme.draws_on == "target" else opts.source
        prune = PruneOptions(arch=opts.arch, output=next(iter(todo.values())), method=scheme.name,
                             scope=opts.scope, checkpoint=ckpt, pretraining=pretraining, seed=seed,
                             train=opts.train_settings(data, opts.draw_epochs, seed, limit=opts.draw_limit),
                             robust=opts.robustness("pgd"),
                             prune_ratio_per_round=opts.prune_ratio_per_round, force=True)
        t0 = time.perf_counter()
        draw_tickets(prune, todo)
        log(f"  drew {method} ({pretraining}, source seed {seed}) at {', '.join(f'{s:g}' for s in todo)} "
            f"in {time.perf_counter() - t0:.0f}s")
    return outputs


def _transfer_masks(opts: StudyOptions, method: str, pretraining: str, ckpt: Path, seed: int, folder: Path,
                    donor: dict, log) -> dict:
    """prune --mask-from: each donor ticket's mask on the source checkpoint's own weights; the
    donor ticket's hash is in the folder name, so a redrawn donor is transferred again."""
    import hashlib

    outputs = {}
    for sparsity in sorted(opts.sparsities):
        donor_id = hashlib.sha256((donor[sparsity] / TICKET_FILE).read_bytes()).hexdigest()[:12]
        outputs[sparsity] = out = folder / f"{method}-{sparsity:g}-{donor_id}"
        if not (out / TICKET_FILE).is_file():
            draw_tickets(PruneOptions(arch=opts.arch, output=out, checkpoint=ckpt, pretraining=pretraining,
                                      seed=seed, mask_from=donor[sparsity], force=True), {sparsity: out})
            log(f"  {method}: {donor[sparsity].name}'s mask on the {pretraining} source, seed {seed}")
    return outputs


def draw_figures(ticket: Path, omp_ticket: Path | None) -> dict:
    """What the draw did: its last training loss (None for one-shot schemes), the share of the
    OMP ticket's kept weights (same source and sparsity) that it keeps too, and the share of
    output channels it prunes whole (seed 004's structural account of schemes that transfer
    worse: a channel with no weight left carries nothing a head can use)."""
    from safetensors.torch import load_file

    params = load_ticket_meta(ticket, verify_hashes=False).method_params
    history = params.get("history") or [{}]
    loss = params.get("train_loss", history[-1].get("train_loss"))
    mine = load_file(str(ticket / MASKS_FILE))
    overlap = None
    if omp_ticket is not None and omp_ticket != ticket:
        omp = load_file(str(omp_ticket / MASKS_FILE))
        both = sum(int((mine[n].bool() & omp[n].bool()).sum()) for n in omp)
        overlap = both / max(sum(int(m.bool().sum()) for m in omp.values()), 1)
    channels = sum(m.shape[0] for m in mine.values())
    empty = sum(int((~m.bool().flatten(1).any(1)).sum()) for m in mine.values())
    return {"draw_train_loss": loss, "omp_overlap": overlap, "empty_channels": empty / max(channels, 1)}


def evaluate_transfer(opts: StudyOptions, mode: str, ticket: Path, seed: int, work: Path) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory(dir=work, prefix="bn-") as tmp:
        start = _batchnorm_start(opts, ticket, Path(tmp), seed)
        return _transfer(opts, mode, ticket, start, seed, work)


def _batchnorm_start(opts: StudyOptions, ticket: Path, tmp: Path, seed: int) -> Path:
    """The ticket the transfer starts from under --batchnorm: itself (target: the transfer
    re-estimates on target images; source: it keeps its own), or a copy re-estimated on the
    source's images (at most --draw-limit of them)."""
    if opts.batchnorm != "source-images":
        return ticket

    recalibrated_ticket(ticket, opts.source, tmp / ticket.name, limit=opts.draw_limit, seed=seed)
    return tmp / ticket.name


def _transfer(opts: StudyOptions, mode: str, ticket: Path, start: Path, seed: int, work: Path) -> dict:
    keep_statistics = opts.batchnorm != "target"
    if mode == "full":
        r = finetune(FinetuneOptions(ticket=start, keep_bn_stats=keep_statistics,
                                     train=opts.train_settings(opts.target, opts.finetune_epochs, seed,
                                                               lr=opts.finetune_lr, limit=opts.train_limit)))
        last = r.record["epochs"][-1]
        return {"acc": r.top1, "mean_class_acc": r.mean_class_acc, "val_correct": r.record["val_correct"],
                "train_loss": last["train_loss"],
                "converged": r.record["converged"],
                "curve": [e["val_top1"] for e in r.record["epochs"]], "seconds": r.record["seconds"]}
    from dataclasses import replace

    t0 = time.perf_counter()
    run_folder = work / "linear" / ticket.relative_to(work / "tickets") / f"seed{seed}"
    train = replace(online_recipe(), data=opts.target, limit=opts.train_limit, augment=False, seed=seed)
    r = adapt(AdaptOptions(source=start, train=train, output=run_folder, precompute=True, probe="lbfgs",
                           engine=opts.engine, cores=opts.cores, force=True, keep_backbone=False,
                           keep_bn_stats=keep_statistics))
    return {"acc": r.summary["val_top1"], "mean_class_acc": r.summary["val_mean_class_acc"],
            "val_correct": r.summary["val_correct"],
            "train_loss": r.summary["probe"]["train_loss"], "probe_C": r.summary["probe"]["C"],
            "probe_converged": r.summary["probe"]["converged"], "seconds": time.perf_counter() - t0}
