"""Iterative magnitude pruning: ``imp`` (natural training) and ``aimp`` (the robust-tickets
paper's A-IMP, eq. 1: each round trains m*theta against a PGD inner maximisation).

A round trains the masked model for ``--epochs`` epochs, prunes the smallest surviving
weights (whole 1xB blocks with ``--block B``; pruned blocks stay pruned) by magnitude to
the round's sparsity, and (``--rewind``, the default) rewinds every surviving weight,
BatchNorm statistic and the head to the source checkpoint, so the ticket is m * theta_pre
as in the paper. Rounds follow ``--prune-ratio-per-round p`` (each round
removes p of what is left) or ``--rounds R`` (p = 1 - (1 - s)^(1/R)); the last round of
each requested sparsity lands on it exactly, so one run yields every sparsity of a study.
"""

from __future__ import annotations

import copy
import time

from ..train import make_optimizer, pixel_model, reapply_masks, train_epochs
from ._registry import DrawContext, Drawn, register_method
from .magnitude import allocation_sparsity, masks_from_scores


def sparsity_schedule(targets: list[float], ratio: float) -> list[tuple[float, bool]]:
    """Cumulative sparsity after each round, and whether it is a requested target.
    Each round removes ``ratio`` of the remaining weights, clamped to land on targets."""
    levels, current = [], 0.0
    for target in sorted(targets):
        if target <= current:
            levels.append((target, True))  # already there (sparsity 0, or a repeated target)
            continue
        while True:
            following = 1 - (1 - current) * (1 - ratio)
            if following >= target - 1e-9:
                levels.append((target, True))
                current = target
                break
            levels.append((following, False))
            current = following
    return levels


def allocated_level(layer_sparsity: float, level: float, final: float) -> float:
    """A layer's sparsity when the whole model is at ``level`` on its way to ``final``, for an
    allocation that gives the layer ``layer_sparsity`` at the end: each round removes the same
    fraction of what the layer has left, as it does of the model's, so the layer lands on its
    own sparsity exactly in the last round."""
    import math

    if final <= 0 or layer_sparsity <= 0:
        return 0.0
    if level >= final:
        return layer_sparsity
    return 1 - (1 - layer_sparsity) ** (math.log1p(-level) / math.log1p(-final))


def _round_masks(scores: dict, level: float, opts, final: float) -> dict:
    """The masks after a round that brings the model to ``level``: one ranking (``--scope``), or
    with an allocation each layer ranked on its own towards its allocated sparsity."""
    if opts.allocation is None:
        return masks_from_scores(scores, level, opts.scope, opts.block)
    return {n: masks_from_scores({n: s}, allocated_level(opts.allocation.get(n, 0.0), level, final), "layer",
                                 opts.block)[n] for n, s in scores.items()}


def _mask_sparsity(masks: dict) -> float:
    total = sum(m.numel() for m in masks.values())
    return 1 - sum(int(m.sum()) for m in masks.values()) / total


def _iterative(ctx: DrawContext, targets: list, robustness, name: str):
    import torch

    opts, tr = ctx.opts, ctx.opts.train
    labels = {t: t for t in targets}
    if opts.allocation is not None:  # one ticket: the model's overall sparsity under the allocation
        final = allocation_sparsity(ctx.weights, opts.allocation)
        labels = {final: targets[0]}
        targets = [final]
    ratio = opts.per_round_ratio(max(targets))
    schedule = sparsity_schedule(targets, ratio)
    rounds_total = sum(1 for i, (level, _) in enumerate(schedule) if level > (schedule[i - 1][0] if i else 0.0))
    source_state = copy.deepcopy(ctx.model.state_dict())
    masks = {n: torch.ones_like(w, dtype=torch.bool) for n, w in ctx.weights.items()}
    net = pixel_model(ctx.model, ctx.cfg.mean, ctx.cfg.std)
    generator = torch.Generator().manual_seed(tr.seed)
    history, current, round_no = [], 0.0, 0
    for level, is_target in schedule:
        if level > current:
            round_no += 1
            t0 = time.perf_counter()
            optimizer = make_optimizer(net.parameters(), tr.lr, tr.momentum, tr.weight_decay)
            for _epoch, _lr, stats in train_epochs(
                    net, optimizer, ctx.data, tr, desc=f"{name} round {round_no}/{rounds_total}", robustness=robustness,
                    after_step=lambda: reapply_masks(ctx.weights, masks), generator=generator,
                    postfix=lambda: {"sparsity": f"{_mask_sparsity(masks):.1%}"}, seed_offset=round_no * 1000):
                pass
            scores = {n: torch.where(masks[n], w.detach().abs(), torch.tensor(float("-inf")))
                      for n, w in ctx.weights.items()}
            masks = _round_masks(scores, level, opts, max(targets))
            if opts.rewind:
                ctx.model.load_state_dict(source_state)
            reapply_masks(ctx.weights, masks)
            history.append({"round": round_no, "sparsity": level, "train_loss": round(stats["loss"], 5),
                            "train_acc": round(stats["acc"], 5), "seconds": round(time.perf_counter() - t0, 2)})
            ctx.log(f"{name} round {round_no}/{rounds_total}: pruned to {level:.2%} (train loss {stats['loss']:.3f}, "
                    f"acc {stats['acc']:.3f}, {history[-1]['seconds']:.1f}s)")
            current = level
        if is_target:
            yield Drawn(labels[level], {n: m.clone() for n, m in masks.items()}, {
                "prune_ratio_per_round": ratio, "rounds": round_no, "rewind": opts.rewind,
                "epochs_per_round": tr.epochs,
                "inner_maximisation": robustness.to_dict() if robustness is not None else None,
                "history": list(history), **({"scope": "layer"} if opts.allocation is not None else {})})


@register_method("imp", trains=True, summary="iterative magnitude pruning with natural training, rewinding to the source",
                 shares_trajectory=True, takes_blocks=True, takes_allocation=True)
def _imp(ctx: DrawContext, targets: list):
    yield from _iterative(ctx, targets, None, "imp")


@register_method("aimp", trains=True, summary="adversarial IMP (robust-tickets eq. 1): PGD training in every round",
                 shares_trajectory=True, takes_blocks=True, takes_allocation=True)
def _aimp(ctx: DrawContext, targets: list):
    yield from _iterative(ctx, targets, ctx.opts.robust, "aimp")
