"""Learnable mask pruning (the robust-tickets paper, eq. 2): the source weights stay frozen;
a real-valued score per prunable weight is trained on the task's data. The forward pass
uses the top-k scores as a binary mask (k per layer or over all layers, by ``--scope``);
the backward pass hands the mask's gradient straight through to the scores
(d loss / d m ~ d loss / d m_hat, as in edge-popup). A fresh dense head for the task is
trained alongside, so an lmp ticket is task-specific. BatchNorm keeps the source statistics.
"""

from __future__ import annotations

import copy
import time

from ..train import pixel_model, train_epoch
from ._registry import DrawContext, Drawn, register_method
from .magnitude import masks_from_scores


def _threshold_masks(scores: dict, sparsity: float, scope: str) -> dict:
    """Fast top-k masks for the training forward pass (ties are measure-zero for float scores;
    the exact count is taken once at the end with ``masks_from_scores``)."""
    import torch

    if sparsity <= 0:
        return {n: torch.ones_like(s, dtype=torch.bool) for n, s in scores.items()}
    if scope == "layer":
        out = {}
        for n, s in scores.items():
            k = round(sparsity * s.numel())
            out[n] = s > torch.kthvalue(s.detach().flatten(), k).values if k else torch.ones_like(s, dtype=torch.bool)
        return out
    flat = torch.cat([s.detach().flatten() for s in scores.values()])
    k = round(sparsity * flat.numel())
    cut = torch.kthvalue(flat, k).values
    return {n: s > cut for n, s in scores.items()}


def _scored_module(ctx: DrawContext, scores: dict, sparsity: float):
    import torch
    from torch.func import functional_call

    net = pixel_model(ctx.model, ctx.cfg.mean, ctx.cfg.std)
    frozen = {n: w.detach() for n, w in ctx.weights.items()}

    class _Scored(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def train(self, mode: bool = True):
            super().train(mode)
            self.net.eval()  # BatchNorm keeps the source statistics
            return self

        def forward(self, x):
            hard = _threshold_masks(scores, sparsity, ctx.opts.scope)
            # straight-through: forward uses the binary mask, backward d/dscore = d/dmask
            masked = {f"model.{n}": frozen[n] * (hard[n].float() + scores[n] - scores[n].detach()) for n in frozen}
            return functional_call(self.net, masked, (x,), strict=False)

    return _Scored()


@register_method("lmp", trains=True, draws_on="target", summary="learnable mask (robust-tickets eq. 2): top-k scores, straight-through")
def _lmp(ctx: DrawContext, targets: list):
    yield from _learned_masks(ctx, targets, None, "lmp")


@register_method("almp", trains=True, draws_on="target",
                 summary="adversarial learnable mask (robust-tickets' robust LMP): lmp's scores trained on PGD inputs")
def _almp(ctx: DrawContext, targets: list):
    yield from _learned_masks(ctx, targets, ctx.opts.robust, "almp")


def _learned_masks(ctx: DrawContext, targets: list, robustness, name: str):
    """lmp's scores trained on natural inputs (``robustness`` None) or on inputs the
    ``robustness`` attack makes against the masked model (the inner maximisation of eq. 2)."""
    import torch

    opts, tr = ctx.opts, ctx.opts.train
    for p in ctx.model.parameters():
        p.requires_grad_(False)
    head = ctx.model.get_submodule(ctx.cfg.head)
    source_state = copy.deepcopy(ctx.model.state_dict())
    generator = torch.Generator().manual_seed(tr.seed)
    for target in targets:
        t0 = time.perf_counter()
        ctx.model.load_state_dict(source_state)
        torch.manual_seed(tr.seed)
        head.reset_parameters()
        for p in head.parameters():
            p.requires_grad_(True)
        scores = {n: w.detach().abs().clone().requires_grad_(True) for n, w in ctx.weights.items()}
        initial = masks_from_scores(scores, target, opts.scope)
        model = _scored_module(ctx, scores, target)
        optimizer = torch.optim.Adam([{"params": list(scores.values()), "lr": opts.score_lr},
                                      {"params": list(head.parameters()), "lr": tr.lr}])
        stats = {}
        for epoch in range(tr.epochs):
            stats = train_epoch(model, optimizer, ctx.data.train_batches(tr.batch_size, tr.seed * 100_003 + epoch),
                                robustness, steps=ctx.data.steps_per_epoch(tr.batch_size), progress=tr.progress,
                                generator=generator, desc=f"{name} {target:.0%} epoch {epoch + 1}/{tr.epochs}",
                                postfix=lambda: {"sparsity": f"{target:.1%}"})
        masks = masks_from_scores(scores, target, opts.scope)
        changed = sum(int((masks[n] != initial[n]).sum()) for n in masks)
        ctx.log(f"{name} {target:.0%}: {changed:,} mask entries moved from the magnitude start "
                f"(train loss {stats.get('loss', float('nan')):.3f}, {time.perf_counter() - t0:.1f}s)")
        yield Drawn(target, masks, {"score_init": "|w| (the omp mask at the start)", "score_optimizer": "adam",
                                    "score_lr": opts.score_lr, "head_lr": tr.lr, "epochs": tr.epochs,
                                    "mask_entries_moved": changed,
                                    "inner_maximisation": robustness.to_dict() if robustness is not None else None, "train_loss": stats.get("loss"),
                                    "train_acc": stats.get("acc"), "seconds": round(time.perf_counter() - t0, 2)})
