"""Magnitude masks with an exact count: ``round(sparsity * n)`` smallest |w| are removed.

Ties are broken by position (stable sort), so the count is exact even when many
weights share a magnitude (e.g. already-zero weights of a sparse checkpoint).

With ``block=B > 1`` the unit is a block, not a weight: the B consecutive input channels
``in[j*B:(j+1)*B]`` of a weight ``[out, in, *kernel]`` at one (out, *kernel) position (a
Linear ``[out, in]``: B consecutive inputs of one output row), scored by the L1 sum of its
weights; ``round(sparsity * n_blocks)`` whole blocks are removed. B=4 is sparseml's
``mask_type: [1, 4]``, the layout DeepSparse's INT8 (VNNI) kernels run fastest.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._registry import DrawContext, Drawn, register_method


def _grouped(t, block: int):
    """``t`` of shape [out, in, *rest] viewed as [out, in // block, block, *rest]."""
    out, inp, *rest = t.shape
    return t.reshape(out, inp // block, block, *rest)


def _block_scores(scores, block: int):
    """One score per block: the sum over its ``block`` entries (the entries themselves for 1)."""
    return scores if block == 1 else _grouped(scores, block).sum(2)


def _expand(keep_blocks, shape, block: int):
    """A per-block keep mask back to the weight's ``shape``, each block all-kept or all-pruned."""
    if block == 1:
        return keep_blocks.view(shape)
    out, inp, *rest = shape
    per_block = keep_blocks.view(out, inp // block, 1, *rest)
    return per_block.expand(out, inp // block, block, *rest).reshape(shape)


def _mask_smallest(scores, k: int):
    import torch

    flat = scores.flatten()
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    if k > 0:
        order = torch.argsort(flat, stable=True)
        keep[order[:k]] = False
    return keep


def masks_from_scores(scores: dict, sparsity: float, scope: str, block: int = 1) -> dict:
    """Return ``{name: bool mask}`` (True = kept) removing the ``round(sparsity * n)`` lowest
    scores, counted per layer (scope="layer") or over all layers together (scope="global").
    With ``block > 1``, n counts blocks of ``block`` input channels, each scored by the sum of
    its entries, and whole blocks are removed (dim 1 of every score must divide by ``block``).
    Give already-pruned weights a score of -inf to keep them pruned (iterative schemes)."""
    import torch

    units = {name: _block_scores(s.detach(), block) for name, s in scores.items()}
    if scope == "layer":
        return {name: _expand(_mask_smallest(u, round(sparsity * u.numel())), scores[name].shape, block)
                for name, u in units.items()}
    flat = torch.cat([u.flatten() for u in units.values()])
    keep = _mask_smallest(flat, round(sparsity * flat.numel()))
    masks, offset = {}, 0
    for name, u in units.items():
        masks[name] = _expand(keep[offset : offset + u.numel()], scores[name].shape, block)
        offset += u.numel()
    return masks


def magnitude_masks(weights: dict, sparsity: float, scope: str, block: int = 1) -> dict:
    """Return ``{name: bool mask}`` (True = kept) for ``weights`` at ``sparsity``.

    scope="global": one ranking over all weights together (layers end up unevenly sparse);
    scope="layer": each layer pruned to ``sparsity`` on its own. ``block``: see the module.
    """
    return masks_from_scores({name: w.detach().abs() for name, w in weights.items()}, sparsity, scope, block)


@dataclass(frozen=True)
class BlockCount:
    blocks: int
    pruned: int  # blocks with every entry pruned
    whole: bool  # every pruned entry lies in a fully pruned block


def block_counts(mask, block: int) -> BlockCount:
    """How one bool mask (True = kept) of shape [out, in, *rest] splits into blocks of ``block``
    input channels (``in`` must divide by ``block``)."""
    pruned = _grouped(~mask, block)
    full, touched = pruned.all(2), pruned.any(2)
    return BlockCount(full.numel(), int(full.sum()), bool((full == touched).all()))


def allocated_masks(weights: dict, allocation: dict, block: int = 1) -> dict:
    """Each layer pruned on its own to ``allocation[name]`` (layers it does not name stay dense):
    exactly ``round(s * n)`` weights or blocks of that layer."""
    return {name: masks_from_scores({name: w.detach().abs()}, allocation.get(name, 0.0), "layer", block)[name]
            for name, w in weights.items()}


def allocation_sparsity(weights: dict, allocation: dict) -> float:
    """The model's overall sparsity when each layer holds its allocated one (unnamed: dense)."""
    sizes = {name: w.numel() for name, w in weights.items()}
    return sum(allocation.get(name, 0.0) * n for name, n in sizes.items()) / sum(sizes.values())


def magnitude_removed(weights: dict, sparsities, block: int = 1) -> dict:
    """``{name: [share of the model's total |w| that pruning this layer alone to s removes, for
    each s]}``: the cost of a choice when no loss can be measured (untrained weights)."""
    import torch

    total = float(sum(w.detach().abs().sum() for w in weights.values()))
    out = {}
    for name, w in weights.items():
        scores = torch.sort(_block_scores(w.detach().abs(), block).flatten()).values
        cumulative = torch.cat([torch.zeros(1, dtype=scores.dtype), torch.cumsum(scores, 0)])
        out[name] = [float(cumulative[round(s * scores.numel())]) / total for s in sparsities]
    return out


@register_method("omp", trains=False, summary="one-shot magnitude pruning of the source weights", takes_blocks=True,
                 deterministic=True, takes_allocation=True, takes_mask_from=True)
def _omp(ctx: DrawContext, targets: list):
    """One-shot magnitude pruning (scheme 1 of the robust-tickets paper); with an allocation,
    each layer to its own sparsity."""
    if ctx.opts.allocation is not None:
        yield Drawn(targets[0], allocated_masks(ctx.weights, ctx.opts.allocation, ctx.opts.block), {"scope": "layer"})
        return
    for target in targets:
        yield Drawn(target, magnitude_masks(ctx.weights, target, ctx.opts.scope, ctx.opts.block))
