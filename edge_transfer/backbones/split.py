"""Split a classifier into backbone (pooled penultimate features) and head, and name
the layers that pruning may touch."""

from __future__ import annotations

import copy

from ._registry import BackboneCfg


def _set_submodule(model, dotted: str, module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def replace_head(model, cfg: BackboneCfg, num_classes: int) -> None:
    """Give ``model`` a freshly initialised dense head with ``num_classes`` outputs (in place;
    seed torch first for a reproducible init)."""
    import torch.nn as nn

    in_features = model.get_submodule(cfg.head).in_features
    _set_submodule(model, cfg.head, nn.Linear(in_features, num_classes))


def split_backbone(model, cfg: BackboneCfg):
    """Return ``(backbone, head)``: a copy of ``model`` whose head is Identity, and the head."""
    import torch.nn as nn

    head = model.get_submodule(cfg.head)
    backbone = copy.deepcopy(model)
    _set_submodule(backbone, cfg.head_container, nn.Identity())
    return backbone.eval(), head


def prunable_parameters(model, cfg: BackboneCfg, prune_first_conv: bool = False) -> dict:
    """Conv and linear weights, in model order. The head is always kept dense, and the
    stem convolution too unless ``prune_first_conv`` (both are tiny and accuracy-critical)."""
    import torch.nn as nn

    keep_dense = {cfg.head} | (set() if prune_first_conv else {cfg.first_conv})
    return {
        f"{name}.weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear)) and name not in keep_dense
    }


def dense_modules(cfg: BackboneCfg, prune_first_conv: bool = False) -> list[str]:
    """Names of the conv/linear modules kept dense by default, for reports."""
    return [cfg.head] + ([] if prune_first_conv else [cfg.first_conv])
