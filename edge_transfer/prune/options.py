"""``PruneOptions`` (what one draw is asked for, checked before anything loads) and
``PruneResult``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import OptionError
from ..formats import TicketMeta
from ..train import Robustness, TrainSettings
from ..train.attacks import PRETRAININGS
from ._registry import get_method, list_methods

SCOPES = ("global", "layer")
BLOCKS = (1, 4)  # --block: 1 = unstructured; 4 = 1x4 along input channels (DeepSparse's fastest INT8 layout)
PRETRAINING = (*PRETRAININGS, "unknown")
DEFAULT_PRUNE_RATIO_PER_ROUND = 0.2


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
            from . import recipe_training

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
