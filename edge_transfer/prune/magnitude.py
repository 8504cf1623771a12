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


def magnitude_masks(weights: dict, sparsity: float, scope: str) -> dict:
    """Return ``{name: bool mask}`` (True = kept) for ``weights`` at ``sparsity``.

    scope="global": one ranking over all weights together (layers end up unevenly sparse);
    scope="layer": each layer pruned to ``sparsity`` on its own.
    """
    import torch

    if scope == "layer":
        return {
            name: _mask_smallest(w.detach().abs(), round(sparsity * w.numel())).view_as(w)
            for name, w in weights.items()
        }
    flat = torch.cat([w.detach().abs().flatten() for w in weights.values()])
    keep = _mask_smallest(flat, round(sparsity * flat.numel()))
    masks, offset = {}, 0
    for name, w in weights.items():
        masks[name] = keep[offset : offset + w.numel()].view_as(w)
        offset += w.numel()
    return masks
