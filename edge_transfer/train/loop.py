"""The training loop, written out plainly: batches -> (robust) inputs -> loss -> step -> hook."""

from __future__ import annotations

from typing import Callable

from ..errors import OptionError
from ..metrics import accuracy, correct_bits


def make_optimizer(params, lr: float, momentum: float = 0.9, weight_decay: float = 1e-4):
    """SGD with momentum, the seed papers' optimiser for every training stage."""
    import torch

    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def check_sgd_settings(lr: float, momentum: float, weight_decay: float) -> None:
    """The optimiser flags every training command shares: a bad value is a one-line error."""
    import math

    if not (math.isfinite(lr) and lr > 0):  # nan compares false with everything: test what is allowed
        raise OptionError(f"--lr must be a finite number > 0, got {lr}")
    if not 0 <= momentum < 1:
        raise OptionError(f"--momentum must be in [0, 1), got {momentum}; the papers use 0.9")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise OptionError(f"--weight-decay must be >= 0, got {weight_decay}")


def decay_epochs(epochs: int) -> tuple[int, ...]:
    """Where the papers' step decay drops the lr: 1/3 and 2/3 of the run (50 and 100 of 150)."""
    return tuple(m for m in (epochs // 3, 2 * epochs // 3) if m > 0)


def step_lr(base_lr: float, epoch: int, epochs: int, decay: float = 0.1, steps: tuple[int, ...] | None = None) -> float:
    """The papers' step decay: x``decay`` at each step epoch already reached (epochs count
    from 0); ``steps`` defaults to ``decay_epochs(epochs)``."""
    return base_lr * decay ** sum(epoch >= m for m in (decay_epochs(epochs) if steps is None else steps))


def train_epochs(net, optimizer, data, tr, *, desc: str, robustness=None, after_step=None, generator=None,
                 postfix=None, seed_offset: int = 0, lr_steps: tuple[int, ...] | None = None):
    """The epoch loop every training stage shares (pretrain, finetune, imp/aimp rounds):
    the step lr (decays at ``lr_steps``, default ``decay_epochs``), a batch order drawn from
    ``tr.seed`` (plus ``seed_offset``) and the epoch, one ``train_epoch`` each. Yields
    ``(epoch, lr, train stats)`` after every epoch."""
    for epoch in range(tr.epochs):
        lr = step_lr(tr.lr, epoch, tr.epochs, steps=lr_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        stats = train_epoch(net, optimizer, data.train_batches(tr.batch_size, tr.seed * 100_003 + seed_offset + epoch),
                            robustness, steps=data.steps_per_epoch(tr.batch_size), progress=tr.progress,
                            after_step=after_step, generator=generator, postfix=postfix,
                            desc=f"{desc} epoch {epoch + 1}/{tr.epochs}")
        yield epoch, lr, stats


def reapply_masks(weights: dict, masks: dict) -> None:
    """Zero the pruned weights again (after every optimiser step, so momentum and weight
    decay cannot revive them)."""
    import torch

    with torch.no_grad():
        for name, w in weights.items():
            w.mul_(masks[name])


def train_epoch(model, optimizer, batches, robustness=None, *, steps: int | None = None,
                after_step: Callable[[], None] | None = None, progress: bool = True, desc: str = "train",
                postfix: Callable[[], dict] | None = None, generator=None) -> dict:
    """One pass over ``batches`` of ``(x, y)``; returns mean loss and train accuracy.

    ``robustness.training_inputs`` turns each batch into PGD or noisy inputs; ``after_step``
    runs after each optimiser step (mask re-application); ``postfix`` adds figures (e.g.
    the current sparsity) to the progress bar.
    """
    import torch.nn.functional as F
    from tqdm import tqdm

    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(batches, total=steps, desc=desc, disable=not progress, leave=False, mininterval=1.0, unit="batch")
    for x, y in bar:
        if robustness is not None:
            x = robustness.training_inputs(model, x, y, generator)
        out = model(x)
        loss = F.cross_entropy(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        total_loss += float(loss.detach()) * len(y)
        correct += int((out.argmax(1) == y).sum())
        seen += len(y)
        if progress:
            bar.set_postfix({"loss": f"{total_loss / seen:.3f}", **(postfix() if postfix else {})}, refresh=False)
    bar.close()
    if not seen:
        raise RuntimeError("training saw no batches")
    return {"loss": total_loss / seen, "acc": correct / seen, "images": seen}


def evaluate(model, batches, num_classes: int, robustness=None, generator=None, keep_correct: bool = False) -> dict:
    """Top-1 and mean per-class accuracy; with ``robustness`` (a PGD setting) on attacked inputs;
    with ``keep_correct`` also which images were right (``metrics.correct_bits``)."""
    import numpy as np
    import torch

    model.eval()
    preds, labels = [], []
    for x, y in batches:
        if robustness is not None and robustness.robust:
            x = robustness.training_inputs(model, x, y, generator)
        with torch.no_grad():
            preds.append(model(x).argmax(1).numpy())
        labels.append(y.numpy())
    preds, labels = np.concatenate(preds), np.concatenate(labels)
    found = accuracy(preds, labels, num_classes)
    if keep_correct:
        found["correct"] = correct_bits(preds, labels)
    return found


def recalibrate_batchnorm(net, batches) -> int:
    """Re-estimate every BatchNorm's running mean and variance on ``batches`` (a cumulative
    average over all of them, no gradient, no weight change); returns the images seen.

    A ticket keeps its dense source's statistics while pruning shrinks the activations
    (between-image feature std 0.37 dense, 0.007 at 90% OMP on resnet18-cifar): in eval mode
    such a net sends every image to one class until enough training steps have replaced them."""
    import torch

    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    was_training = net.training
    net.train()
    seen = 0
    try:
        with torch.no_grad():
            for images, _labels in batches:
                net(images)
                seen += len(images)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        net.train(was_training)
    return seen
