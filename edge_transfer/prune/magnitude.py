"""Magnitude masks with an exact count: ``round(sparsity * n)`` smallest |w| are removed.

Ties are broken by position (stable sort), so the count is exact even when many
weights share a magnitude (e.g. already-zero weights of a sparse checkpoint).
"""

from __future__ import annotations


def _mask_smallest(scores, k: int):
    import torch

    flat = scores.flatten()
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    if k > 0:
        order = torch.argsort(flat, stable=True)
        keep[order[:k]] = False
    return keep


def masks_from_scores(scores: dict, sparsity: float, scope: str) -> dict:
    """Return ``{name: bool mask}`` (True = kept) removing the ``round(sparsity * n)`` lowest
    scores, counted per layer (scope="layer") or over all layers together (scope="global").
    Give already-pruned weights a score of -inf to keep them pruned (iterative schemes)."""
    import torch

    if scope == "layer":
        return {name: _mask_smallest(s.detach(), round(sparsity * s.numel())).view_as(s) for name, s in scores.items()}
    flat = torch.cat([s.detach().flatten() for s in scores.values()])
    keep = _mask_smallest(flat, round(sparsity * flat.numel()))
    masks, offset = {}, 0
    for name, s in scores.items():
        masks[name] = keep[offset : offset + s.numel()].view_as(s)
        offset += s.numel()
    return masks


def magnitude_masks(weights: dict, sparsity: float, scope: str) -> dict:
    """Return ``{name: bool mask}`` (True = kept) for ``weights`` at ``sparsity``.

    scope="global": one ranking over all weights together (layers end up unevenly sparse);
    scope="layer": each layer pruned to ``sparsity`` on its own.
    """
    return masks_from_scores({name: w.detach().abs() for name, w in weights.items()}, sparsity, scope)
