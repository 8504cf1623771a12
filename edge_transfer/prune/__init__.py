"""Draw a ticket: load (or randomly initialise) a source model, run a drawing scheme, write
the folder.

Entry points: ``draw_ticket(PruneOptions) -> PruneResult`` and, for several sparsities
from one run (imp/aimp share their pruning trajectory), ``draw_tickets(opts, {s: path})``.
Schemes live in the registry of ``_registry.py``: omp (here), imp/aimp (iterative.py),
lmp (lmp.py), gmp/acdc/woodfisher/rigl (sparseml recipes: recipes.py reads them, recipe_training.py runs them).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..formats import TicketMeta
from ..errors import OptionError
from ..train import Robustness, TrainSettings
from ..train.attacks import IS_ROBUST, PRETRAININGS
from ._registry import DrawContext, Drawn, get_method, list_methods, register_method
from .magnitude import magnitude_masks

SCOPES = ("global", "layer")
BLOCKS = (1, 4)  # --block: 1 = unstructured; 4 = 1x4 along input channels (DeepSparse's fastest INT8 layout)
PRETRAINING = (*PRETRAININGS, "unknown")
DEFAULT_PRUNE_RATIO_PER_ROUND = 0.2


@register_method("omp", trains=False, summary="one-shot magnitude pruning of the source weights", takes_blocks=True,
                 deterministic=True)
def _omp(ctx: DrawContext, targets: list):
    """One-shot magnitude pruning (scheme 1 of the robust-tickets paper)."""
    for target in targets:
        yield Drawn(target, magnitude_masks(ctx.weights, target, ctx.opts.scope, ctx.opts.block))


from . import iterative, lmp, recipe_training, recipes  # noqa: E402,F401  (register imp/aimp, lmp, recipe schemes)



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
    # 1: unstructured; B > 1: whole blocks of B consecutive input channels (schemes with takes_blocks)
    block: int = 1
    # What the source checkpoint was trained with; recorded, not inferred.
    pretraining: str = "unknown"
    seed: int = 0
    force: bool = False
    # Schemes that train (imp, aimp, lmp, recipes): data, epochs (per round for imp/aimp).
    train: TrainSettings = field(default_factory=TrainSettings)
    # aimp's inner maximisation (PGD); imp ignores it.
    robust: Robustness = field(default_factory=lambda: Robustness(kind="pgd"))
    prune_ratio_per_round: float | None = None  # imp/aimp; default 0.2 when --rounds is not given
    rounds: int | None = None
    rewind: bool = True  # imp/aimp: surviving weights back to the source values after each round
    score_lr: float = 1e-3  # lmp: Adam step size of the mask scores (initialised to |w|)
    recipe: Path | None = None  # a user sparseml recipe (gmp/acdc/woodfisher/rigl ship their own)
    mask_from: Path | None = None  # LTH-T: another ticket's mask on this checkpoint's weights

    def validate(self) -> None:
        from ..backbones import get_backbone_cfg

        get_backbone_cfg(self.arch)  # raises with the valid names
        method = get_method(self.method)  # raises with the valid names
        if not 0.0 <= self.sparsity < 1.0:
            raise OptionError(f"--sparsity must be in [0, 1), got {self.sparsity}; e.g. --sparsity 0.9 for 90% zeros")
        if self.scope not in SCOPES:
            raise OptionError(f"--scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if self.pretraining not in PRETRAINING:
            raise OptionError(f"--pretraining must be one of {', '.join(PRETRAINING)}, got {self.pretraining!r}")
        self.robust.validate()
        if self.block not in BLOCKS:
            raise OptionError("--block must be 1 (unstructured) or 4 (1x4 blocks along input channels), "
                              f"got {self.block}")
        if self.block != 1 and self.mask_from is not None:
            raise OptionError(f"--mask-from takes the whole mask, block structure included, from the other ticket; "
                              f"drop --block {self.block}")
        if self.block != 1 and not method.takes_blocks:
            raise OptionError(f"--block {self.block} needs a method that prunes whole blocks "
                              f"({', '.join(list_methods(takes_blocks=True))}); {self.method} does not")
        if self.prune_ratio_per_round is not None and self.rounds is not None:
            raise OptionError("give --prune-ratio-per-round or --rounds, not both (each determines the other)")
        if self.prune_ratio_per_round is not None and not 0 < self.prune_ratio_per_round < 1:
            raise OptionError(f"--prune-ratio-per-round must be in (0, 1), got {self.prune_ratio_per_round}")
        if self.score_lr <= 0:
            raise OptionError(f"--score-lr must be > 0, got {self.score_lr}")
        if self.rounds is not None and self.rounds < 1:
            raise OptionError(f"--rounds must be >= 1, got {self.rounds}")
        if self.mask_from is not None and self.method != "omp":
            raise OptionError("--mask-from takes its mask from another ticket; drop --method (it replaces the scheme)")
        if self.recipe is not None and not method.takes_recipe:
            raise OptionError("--recipe drives a sparseml scheme; use it with --method "
                              + " or ".join(list_methods(takes_recipe=True)))
        self.train.validate(needs_data=method.trains and self.mask_from is None)
        if method.takes_recipe and self.mask_from is None:
            recipe_training.check_recipe_options(self)  # a broken recipe fails before any data or model is loaded

    def per_round_ratio(self, final: float) -> float:
        if self.rounds is not None:
            return 1 - (1 - final) ** (1 / self.rounds)
        return self.prune_ratio_per_round if self.prune_ratio_per_round is not None else DEFAULT_PRUNE_RATIO_PER_ROUND

    def to_dict(self) -> dict:
        out = {}
        for k, v in asdict(self).items():
            out[k] = str(v) if isinstance(v, Path) else v
        out["robust"] = self.robust.to_dict()
        return out


@dataclass
class PruneResult:
    path: Path
    meta: TicketMeta = field(repr=False)

    @property
    def achieved_sparsity(self) -> float:
        return self.meta.achieved_sparsity


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


def _check_block_fits(opts: PruneOptions, model, cfg) -> None:
    """With --block B, every prunable layer's input channels (per group) must split into whole blocks."""
    from ..backbones import prunable_parameters

    if opts.block == 1:
        return
    for name, w in prunable_parameters(model, cfg, opts.prune_first_conv).items():
        if w.shape[1] % opts.block:
            grouped = getattr(model.get_submodule(name.rpartition(".")[0]), "groups", 1) > 1
            fix = ("drop --prune-first-conv or use --block 1" if name == f"{cfg.first_conv}.weight"
                   else f"use --block 1 for {opts.arch}")
            raise OptionError(f"--block {opts.block} needs input channels divisible by {opts.block}, but {name} has "
                              f"{w.shape[1]}{' per group (a depthwise or grouped conv)' if grouped else ''}; {fix}")


def _fit_head(model, cfg, num_classes: int, seed: int) -> bool:
    """Give the model a fresh dense head when the training data has another class count."""
    import torch

    from ..backbones import replace_head

    if model.get_submodule(cfg.head).out_features == num_classes:
        return False
    torch.manual_seed(seed)
    replace_head(model, cfg, num_classes)
    return True


def _masks_from_ticket(path: Path, arch: str, weights: dict) -> tuple[dict, TicketMeta]:
    from safetensors.torch import load_file

    from ..errors import TicketError
    from ..ticket import MASKS_FILE, load_ticket_meta

    meta = load_ticket_meta(path)
    if meta.arch != arch:
        raise TicketError(f"--mask-from ticket {path} is a {meta.arch} ticket; its mask does not fit --arch {arch}")
    masks = {k: v.bool() for k, v in load_file(str(Path(path) / MASKS_FILE)).items()}
    if set(masks) != set(weights) or any(masks[k].shape != weights[k].shape for k in weights):
        raise TicketError(f"--mask-from ticket {path} prunes other layers than this run "
                          "(compare --prune-first-conv); draw both with the same prunable set")
    return masks, meta


def draw_tickets(opts: PruneOptions, outputs: dict[float, Path],
                 log: Callable[[str], None] = lambda _m: None) -> list[PruneResult]:
    """Draw one ticket per ``{sparsity: output folder}`` with ``opts.method`` (``opts.sparsity``
    and ``opts.output`` are ignored); iterative schemes reach them all in one run."""
    from ..backbones import get_backbone_cfg, prunable_parameters
    from ..fileio import check_output_dir
    from ..train import load_train_data

    opts.validate()
    for sparsity, output in outputs.items():
        if not 0.0 <= sparsity < 1.0:
            raise OptionError(f"--sparsity must be in [0, 1), got {sparsity}; e.g. --sparsity 0.9 for 90% zeros")
        check_output_dir(output, opts.force)
    cfg = get_backbone_cfg(opts.arch)
    method = get_method(opts.method)
    start = time.perf_counter()
    model, source = _source_model(opts)
    _check_block_fits(opts, model, cfg)  # before data is loaded; nothing is written yet
    input_size = opts.train.input_size(cfg.input_size)
    data, new_head = None, False
    if method.trains and opts.mask_from is None:
        data = load_train_data(opts.train, input_size)
        new_head = _fit_head(model, cfg, data.num_classes, opts.seed)
    weights = prunable_parameters(model, cfg, opts.prune_first_conv)
    dense_values = {name: w.detach().clone() for name, w in weights.items()}
    results = []
    if opts.mask_from is not None:
        masks, other = _masks_from_ticket(opts.mask_from, opts.arch, weights)
        # the donor's mask decides sparsity, scope and block; --sparsity and --scope do not apply
        drawn = [Drawn(other.achieved_sparsity, masks, {"scope": other.scope, "block": other.block,
                                                        "mask_from": str(opts.mask_from),
                                                        "mask_source_method": other.method,
                                                        "mask_source_sha256": other.source.get("sha256")})]
        outputs = {drawn[0].target: next(iter(outputs.values()))}
    else:
        ctx = DrawContext(model=model, cfg=cfg, weights=weights, opts=opts, data=data, log=log)
        drawn = method.fn(ctx, sorted(outputs))
    last = start
    for d in drawn:
        # a shared trajectory's ticket costs every round so far; an independent run only its own
        elapsed = time.perf_counter() - (start if method.shares_trajectory else last)
        meta = _write_ticket(opts, outputs[d.target], model, cfg, d, dense_values, source, input_size, data, new_head,
                             elapsed)
        last = time.perf_counter()
        results.append(PruneResult(path=Path(outputs[d.target]), meta=meta))
        log(f"wrote ticket {outputs[d.target]} ({meta.achieved_sparsity:.2%} sparse, {elapsed:.1f}s)")
    return results


def draw_ticket(opts: PruneOptions, log: Callable[[str], None] = lambda _m: None) -> PruneResult:
    return draw_tickets(opts, {opts.sparsity: opts.output}, log)[0]


def _write_ticket(opts, output, model, cfg, drawn: Drawn, dense_values, source, input_size, data, new_head,
                  elapsed) -> TicketMeta:
    import torch

    from .. import __version__
    from ..backbones import prunable_parameters
    from ..fileio import atomic_output_dir
    from ..formats import TICKET_SCHEMA, UNTRAINED_LABEL, TicketMeta
    from ..layers import layer_records, summarise
    from ..ticket import save_ticket

    ticket_model = copy.deepcopy(model).eval()
    weights = prunable_parameters(ticket_model, cfg, opts.prune_first_conv)
    with torch.no_grad():
        for name, w in weights.items():
            w.mul_(drawn.masks[name])
    records = layer_records(ticket_model, drawn.masks, input_size)
    totals = summarise(records)
    untrained = opts.checkpoint is None
    method = "mask-from" if opts.mask_from is not None else opts.method
    meta = TicketMeta(
        schema=TICKET_SCHEMA,
        arch=opts.arch,
        method=method,
        method_params={"scope": opts.scope, **drawn.params},
        target_sparsity=drawn.target,
        achieved_sparsity=totals["achieved_sparsity"],
        scope=drawn.params.get("scope", opts.scope),
        block=drawn.params.get("block", opts.block),  # 1 when absent (tickets drawn before --block)
        prune_first_conv=opts.prune_first_conv,
        num_classes=int(ticket_model.get_submodule(cfg.head).out_features),
        input_size=tuple(input_size),
        mean=tuple(cfg.mean),
        std=tuple(cfg.std),
        source=source,
        robust=IS_ROBUST.get(source["pretraining"]),
        untrained=untrained,
        note=UNTRAINED_LABEL if untrained else None,
        seed=opts.seed,
        data=None if data is None else {"spec": data.name, "classes": data.classes, "train_images": data.train_images,
                                        "new_head": new_head},
        training=None if data is None else opts.train.to_dict(),
        batchnorm={"recalibrated": False, "draw_trained": data is not None},
        totals=totals,
        layers=tuple(r.to_dict() for r in records),
        wall_seconds=round(elapsed, 3),
        tool_version=__version__,
        options=opts.to_dict(),
    )
    with atomic_output_dir(output, opts.force) as tmp:
        save_ticket(tmp, ticket_model, drawn.masks, dense_values, meta)
    return meta
