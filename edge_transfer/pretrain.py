"""``pretrain(PretrainOptions) -> PretrainResult``: train a dense source model, naturally,
with PGD adversarial training (Madry et al.) or with Gaussian-noise augmentation
(randomized smoothing), and save a checkpoint that ``prune --checkpoint`` loads.

The checkpoint is a plain state_dict (safetensors when the name ends in .safetensors, else
a tensors-only torch file that loads with weights_only); ``CKPT.json`` beside it records
the options, clean and PGD-robust validation accuracy (the attack is named) and time.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import __version__
from .backbones import create_backbone, get_backbone_cfg
from .errors import OptionError, OutputExistsError
from .fileio import atomic_write_bytes, sha256_file, write_json
from .formats import PRETRAIN_SCHEMA
from .system import system_info
from .train import Robustness, TrainSettings, evaluate, load_train_data, make_optimizer, pixel_model, train_epochs

EVAL_PGD_STEPS = 10


def default_train_settings() -> TrainSettings:
    return TrainSettings(epochs=10, lr=0.05, weight_decay=5e-4)


@dataclass
class PretrainOptions:
    arch: str
    output: Path
    train: TrainSettings = field(default_factory=default_train_settings)
    robust: Robustness = field(default_factory=Robustness)
    eval_pgd_steps: int = EVAL_PGD_STEPS
    # robust accuracy on the first N validation images (None: all); PGD-10 on 5,000 images costs
    # five times a natural epoch of resnet20-cifar, and a study measures ten sources per arm
    eval_robust_limit: int | None = None
    force: bool = False

    def validate(self) -> None:
        get_backbone_cfg(self.arch)
        self.train.validate()
        self.robust.validate()
        if self.eval_pgd_steps < 1:
            raise OptionError(f"--eval-pgd-steps must be >= 1, got {self.eval_pgd_steps}")
        if self.eval_robust_limit is not None and self.eval_robust_limit < 1:
            raise OptionError(f"the robust evaluation needs at least 1 image, got {self.eval_robust_limit}")
        out = Path(self.output)
        if out.is_dir():
            raise OptionError(f"--output {out} is a folder; give a checkpoint file name such as {out}/source.pt")
        if (out.exists() or sidecar(out).exists()) and not self.force:
            raise OutputExistsError(f"{out} already exists; choose another --output or pass --force to replace it")

    def eval_attack(self) -> Robustness:
        """The attack used to report robust accuracy: PGD with the training ball (or the
        --norm/--eps given), EVAL_PGD_STEPS steps, random start."""
        r = self.robust
        return Robustness(kind="pgd", norm=r.norm, eps=r.eps, steps=self.eval_pgd_steps)


@dataclass
class PretrainResult:
    path: Path
    record: dict = field(repr=False)


def sidecar(path: Path) -> Path:
    return Path(str(path) + ".json")


def save_state_dict(state: dict, path: Path) -> None:
    """Write a tensors-only state_dict atomically (safetensors by suffix, else torch)."""
    import io

    import torch

    state = {k: v.detach().contiguous().clone() for k, v in state.items()}
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import save

        atomic_write_bytes(Path(path), save(state))
        return
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def _first_images(batches, limit: int | None):
    """The batches cut after ``limit`` images (all of them for None)."""
    seen = 0
    for x, y in batches:
        if limit is not None and seen + len(y) > limit:
            if limit > seen:
                yield x[: limit - seen], y[: limit - seen]
            return
        seen += len(y)
        yield x, y


def _count(batches, limit: int | None) -> int:
    return sum(len(y) for _x, y in _first_images(batches, limit))


def pretrain(opts: PretrainOptions, log: Callable[[str], None] = lambda _m: None) -> PretrainResult:
    import torch

    opts.validate()
    tr = opts.train
    cfg = get_backbone_cfg(opts.arch)
    input_size = tr.input_size(cfg.input_size)
    data = load_train_data(tr, input_size, log)
    torch.manual_seed(tr.seed)
    model = create_backbone(opts.arch, num_classes=data.num_classes)
    net = pixel_model(model, cfg.mean, cfg.std)
    optimizer = make_optimizer(net.parameters(), tr.lr, tr.momentum, tr.weight_decay)
    generator = torch.Generator().manual_seed(tr.seed)
    log(f"pretraining {opts.arch} on {data.name} ({data.train_images} images, {data.num_classes} classes, "
        f"{input_size[1]}x{input_size[2]} px): {opts.robust.describe()}, {tr.epochs} epochs")
    start = time.perf_counter()
    epochs, clean = _train(net, optimizer, data, tr, opts.robust, generator, log)
    attack = opts.eval_attack()
    robust = evaluate(net, _first_images(data.val_batches(), opts.eval_robust_limit), data.num_classes, attack,
                      torch.Generator().manual_seed(0))
    robust["images"] = _count(data.val_batches(), opts.eval_robust_limit)
    log(f"val clean top-1 {clean['top1']:.3f}; robust top-1 {robust['top1']:.3f} under {attack.describe()} "
        f"({robust['images']} images)")
    sidecar(Path(opts.output)).unlink(missing_ok=True)  # never leave an old record beside a new checkpoint
    save_state_dict(model.state_dict(), Path(opts.output))
    record = {
        "schema": PRETRAIN_SCHEMA,
        "arch": opts.arch,
        "checkpoint": str(opts.output),
        "sha256": sha256_file(Path(opts.output)),
        "pretraining": opts.robust.pretraining,
        "robust": opts.robust.to_dict(),
        "train": tr.to_dict(),
        "input_size": list(input_size),
        "data": {"spec": data.name, "classes": data.classes, "train_images": data.train_images,
                 "val_images": data.val_images},
        "val_clean": clean,
        "val_robust": robust,
        "eval_attack": attack.describe(),
        "epochs": epochs,
        "seconds": time.perf_counter() - start,
        "system": system_info(),
        "tool_version": __version__,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
    }
    write_json(sidecar(Path(opts.output)), record)
    return PretrainResult(Path(opts.output), record)


def _train(net, optimizer, data, tr, robustness, generator, log) -> tuple[list[dict], dict]:
    """The epochs' records and the last epoch's clean val accuracy."""
    epochs, clean, t0 = [], {}, time.perf_counter()
    for epoch, lr, stats in train_epochs(net, optimizer, data, tr, desc="pretrain", robustness=robustness,
                                         generator=generator):
        clean = evaluate(net, data.val_batches(), data.num_classes)
        epochs.append({"epoch": epoch + 1, "lr": lr, "train_loss": stats["loss"], "train_acc": stats["acc"],
                       "val_top1": clean["top1"], "seconds": time.perf_counter() - t0})
        log(f"epoch {epoch + 1}/{tr.epochs} lr {lr:.4g}: train loss {stats['loss']:.3f} acc {stats['acc']:.3f}, "
            f"val top-1 {clean['top1']:.3f} ({epochs[-1]['seconds']:.1f}s)")
        t0 = time.perf_counter()
    return epochs, clean
