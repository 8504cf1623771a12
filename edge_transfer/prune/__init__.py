"""Draw a ticket: load (or randomly initialise) a source model, compute masks, write the folder.

Entry point: ``draw_ticket(PruneOptions) -> PruneResult``. A method is a function
``(weights: dict[name, Tensor], opts) -> dict[name, bool mask]`` registered in METHODS.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import OptionError, UnknownNameError
from .magnitude import magnitude_masks

SCOPES = ("global", "layer")
PRETRAINING = ("natural", "pgd", "smoothing", "unknown")


def _omp(weights: dict, opts: "PruneOptions") -> dict:
    """One-shot magnitude pruning (scheme 1 of the robust-tickets paper)."""
    return magnitude_masks(weights, opts.sparsity, opts.scope)


METHODS = {"omp": _omp}


@dataclass
class PruneOptions:
    arch: str
    output: Path
    method: str = "omp"
    sparsity: float = 0.9
    scope: str = "global"
    checkpoint: Path | None = None
    trust_checkpoint: bool = False
    prune_first_conv: bool = False
    # What the source checkpoint was trained with; recorded, not inferred.
    pretraining: str = "unknown"
    seed: int = 0
    force: bool = False

    def validate(self) -> None:
        from ..backbones import get_backbone_cfg

        get_backbone_cfg(self.arch)  # raises with the valid names
        if self.method not in METHODS:
            raise UnknownNameError(f"unknown --method {self.method!r}; choose one of: {', '.join(sorted(METHODS))}")
        if not 0.0 <= self.sparsity < 1.0:
            raise OptionError(f"--sparsity must be in [0, 1), got {self.sparsity}; e.g. --sparsity 0.9 for 90% zeros")
        if self.scope not in SCOPES:
            raise OptionError(f"--scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if self.pretraining not in PRETRAINING:
            raise OptionError(f"--pretraining must be one of {', '.join(PRETRAINING)}, got {self.pretraining!r}")


@dataclass
class PruneResult:
    path: Path
    meta: dict = field(repr=False)

    @property
    def achieved_sparsity(self) -> float:
        return self.meta["achieved_sparsity"]


def _source_model(opts: PruneOptions):
    """The model to prune and the ``source`` block of ticket.json."""
    import torch

    from ..backbones import create_backbone
    from ..checkpoint import load_pretrained

    if opts.checkpoint is None:
        torch.manual_seed(opts.seed)
        model = create_backbone(opts.arch)
        return model, {"checkpoint": None, "sha256": None, "layout": None, "pretraining": "untrained"}
    model, info = load_pretrained(opts.arch, opts.checkpoint, opts.trust_checkpoint)
    return model, {
        "checkpoint": info.path,
        "sha256": info.sha256,
        "layout": info.layout,
        "pretraining": opts.pretraining,
    }


def draw_ticket(opts: PruneOptions) -> PruneResult:
    import torch

    from .. import __version__
    from ..backbones import get_backbone_cfg, prunable_parameters
    from ..fileio import atomic_output_dir, check_output_dir
    from ..layers import layer_records, summarise
    from ..ticket import TICKET_SCHEMA, UNTRAINED_LABEL, save_ticket

    opts.validate()
    check_output_dir(opts.output, opts.force)
    cfg = get_backbone_cfg(opts.arch)
    start = time.perf_counter()
    model, source = _source_model(opts)
    weights = prunable_parameters(model, cfg, opts.prune_first_conv)
    masks = METHODS[opts.method](weights, opts)
    dense_values = {name: w.detach().clone() for name, w in weights.items()}
    with torch.no_grad():
        for name, w in weights.items():
            w.mul_(masks[name])
    records = layer_records(model, masks, cfg.input_size)
    totals = summarise(records)
    untrained = opts.checkpoint is None
    meta = {
        "schema": TICKET_SCHEMA,
        "arch": opts.arch,
        "method": opts.method,
        "method_params": {"scope": opts.scope},
        "target_sparsity": opts.sparsity,
        "achieved_sparsity": totals["achieved_sparsity"],
        "scope": opts.scope,
        "prune_first_conv": opts.prune_first_conv,
        "num_classes": int(model.get_submodule(cfg.head).out_features),
        "input_size": list(cfg.input_size),
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "source": source,
        "robust": {"natural": False, "pgd": True, "smoothing": True}.get(source["pretraining"]),
        "untrained": untrained,
        "note": UNTRAINED_LABEL if untrained else None,
        "seed": opts.seed,
        "totals": totals,
        "layers": [r.to_dict() for r in records],
        "wall_seconds": round(time.perf_counter() - start, 3),
        "tool_version": __version__,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
    }
    with atomic_output_dir(opts.output, opts.force) as tmp:
        save_ticket(tmp, model, masks, dense_values, meta)
    return PruneResult(path=Path(opts.output), meta=meta)
