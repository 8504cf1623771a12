"""One registry for backbones: a decorator registers a constructor under a name.

Modelled on timm's ``_registry.py``/``_factory.py``: ``create_backbone(name)``
builds one, ``list_backbones(pattern)`` lists them, and an unknown name raises an
error that lists the valid ones.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable

from ..errors import UnknownNameError
from ..tolerances import FP32_TOLERANCE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class BackboneCfg:
    """Per-architecture defaults, kept beside the constructor (timm's PretrainedCfg)."""

    name: str
    # Channels, height, width of one input image.
    input_size: tuple[int, int, int] = (3, 224, 224)
    # Normalisation the pretrained weights expect (applied by data loaders, not the graph).
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    num_classes: int = 1000
    # Dotted path of the final nn.Linear: the head that online learning retrains.
    head: str = "fc"
    # Dotted path of the module that must be replaced by Identity to get pooled features.
    head_container: str = "fc"
    # Dotted path of the stem convolution, kept dense unless --prune-first-conv.
    first_conv: str = "conv1"
    # Parity tolerance of ONNX engines vs PyTorch, relative to the output's max |value|
    # (optimum keeps ATOL_FOR_VALIDATION beside the model config in the same way).
    rel_tolerance: float = FP32_TOLERANCE
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class _Entry:
    cfg: BackboneCfg
    constructor: Callable[..., "object"]


_REGISTRY: dict[str, _Entry] = {}


def register_backbone(cfg: BackboneCfg):
    """Decorator: register ``fn(num_classes) -> nn.Module`` under ``cfg.name``."""

    def wrap(fn):
        if cfg.name in _REGISTRY:
            raise RuntimeError(f"backbone {cfg.name!r} registered twice")
        _REGISTRY[cfg.name] = _Entry(cfg, fn)
        return fn

    return wrap


def list_backbones(pattern: str = "*") -> list[str]:
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown architecture {name!r}; choose one of: {', '.join(list_backbones())}"
        ) from None


def get_backbone_cfg(name: str) -> BackboneCfg:
    return _entry(name).cfg


def create_backbone(name: str, num_classes: int | None = None):
    """Build the full classifier ``name`` with random init (eval mode)."""
    entry = _entry(name)
    model = entry.constructor(num_classes=num_classes or entry.cfg.num_classes)
    return model.eval()
