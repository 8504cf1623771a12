"""``PruneOptions`` (what one draw is asked for, checked before anything loads) and
``PruneResult``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..backbones import get_backbone_cfg
from ..errors import OptionError
from ..formats import TicketMeta
from ..train import Robustness, TrainSettings
from ..train.attacks import PRETRAININGS
from . import recipe_training
from ._registry import get_method, list_methods

SCOPES = ("global", "layer")
BLOCKS = (1, 4)  # --block: 1 = unstructured; 4 = 1x4 along input channels (DeepSparse's fastest INT8 layout)
PRETRAINING = (*PRETRAININGS, "unknown")
DEFAULT_PRUNE_RATIO_PER_ROUND = 0.2
OVER = ("dense", "best-peer")  # what --target-speedup is a speedup over


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
    # the inner maximisation (PGD) of aimp and almp; the other schemes ignore it.
    robust: Robustness = field(default_factory=lambda: Robustness(kind="pgd"))
    prune_ratio_per_round: float | None = None  # imp/aimp; default 0.2 when --rounds is not given
    rounds: int | None = None
    rewind: bool = True  # imp/aimp: surviving weights back to the source values after each round
    score_lr: float = 1e-3  # lmp: Adam step size of the mask scores (initialised to |w|)
    recipe: Path | None = None  # a user sparseml recipe (gmp/acdc/woodfisher/rigl ship their own)
    mask_from: Path | None = None  # LTH-T: another ticket's mask on this checkpoint's weights
    # each layer's own sparsity (layer -> sparsity; layers not named stay dense), instead of --sparsity
    allocation: dict | None = None
    # or: the allocation that meets this predicted speedup over the dense model on the device
    # that ``profile`` (edge-transfer profile) measured, at the least weight magnitude removed
    target_speedup: float | None = None
    target_latency_ms: float | None = None  # or this whole-model latency, in the profile's measured ms
    profile: Path | None = None
    # --target-speedup over the dense model of the profile's form, or over the fastest dense model
    # (FP32 and INT8 on every engine) measured at the profile's batch and cores before the draw
    over: str = "dense"
    # --over best-peer: the peer (speed.dense_peer.DensePeer) the target is set against, measured
    # before the draw by speed.peers.with_best_peer (it runs bench, a stage above pruning)
    peer: object | None = None

    def validate(self) -> None:
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
        if self.mask_from is not None and not method.takes_mask_from:
            raise OptionError("--mask-from takes its mask from another ticket; drop --method (it replaces the scheme)")
        if self.recipe is not None and not method.takes_recipe:
            raise OptionError("--recipe drives a sparseml scheme; use it with --method "
                              + " or ".join(list_methods(takes_recipe=True)))
        self._check_allocation(method)
        self.train.validate(needs_data=method.trains and self.mask_from is None)
        if method.takes_recipe and self.mask_from is None:
            recipe_training.check_recipe_options(self)  # a broken recipe fails before any data or model is loaded

    def _check_allocation(self, method) -> None:
        import math

        if self.per_layer and not method.takes_allocation:
            raise OptionError(f"--allocation and --target-speedup prune each layer to its own sparsity, which "
                              f"{', '.join(list_methods(takes_allocation=True))} does; {self.method} does not")
        if self.per_layer and self.mask_from is not None:
            raise OptionError("--mask-from takes the whole mask from another ticket; drop --allocation/--target-speedup")
        if self.over not in OVER:
            raise OptionError(f"--over must be one of {', '.join(OVER)}, got {self.over!r}")
        if self.over != "dense" and self.target_speedup is None:
            raise OptionError(f"--over {self.over} says what --target-speedup is measured against; give "
                              "--target-speedup X with it")
        if self.target_speedup is not None and self.target_latency_ms is not None:
            raise OptionError("give --target-speedup or --target-latency, not both")
        if self.allocation is not None and self.speed_target:
            raise OptionError("give --allocation or a speed target, not both (the target computes an allocation)")
        if self.speed_target != (self.profile is not None):
            raise OptionError("--target-speedup and --target-latency need --profile P (from `edge-transfer profile`), "
                              "and --profile a target")
        if self.target_latency_ms is not None and not (math.isfinite(self.target_latency_ms) and self.target_latency_ms > 0):
            raise OptionError(f"--target-latency must be a finite number of milliseconds > 0, got {self.target_latency_ms}")
        if self.target_speedup is not None and not (math.isfinite(self.target_speedup) and self.target_speedup > 1):
            raise OptionError(f"--target-speedup must be a finite speedup over the dense model > 1, got "
                              f"{self.target_speedup}")
        if self.allocation is not None and (not isinstance(self.allocation, dict) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1
                for k, v in self.allocation.items())):
            raise OptionError("--allocation must map layer names to sparsities in [0, 1), e.g. "
                              '{"layer1.0.conv1.weight": 0.9}')

    @property
    def speed_target(self) -> bool:
        """A per-layer allocation is to be solved for (--target-speedup or --target-latency)."""
        return self.target_speedup is not None or self.target_latency_ms is not None

    @property
    def per_layer(self) -> bool:
        """Each layer gets its own sparsity (an allocation given or solved for); --sparsity does not apply."""
        return self.allocation is not None or self.speed_target

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
