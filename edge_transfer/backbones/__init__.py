"""Backbone registry: ``create_backbone``, ``list_backbones``, ``get_backbone_cfg``."""

from . import models as _models  # noqa: F401  (registers the constructors)
from ._registry import BackboneCfg, create_backbone, get_backbone_cfg, list_backbones
from .split import dense_modules, prunable_parameters, replace_head, split_backbone

__all__ = [
    "BackboneCfg",
    "create_backbone",
    "dense_modules",
    "get_backbone_cfg",
    "list_backbones",
    "prunable_parameters",
    "replace_head",
    "split_backbone",
]
