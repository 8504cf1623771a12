"""The study's options and result: what one study measures, and the content key that names
its work folder (finished cells are kept under it)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .. import __version__
from ..backbones import get_backbone_cfg
from ..cluster import ClusterSpec
from ..data import load_task
from ..engines import get_engine
from ..errors import OptionError
from ..fileio import check_writable
from ..finetune import SCHEDULE
from ..prune import list_methods
from ..train import Robustness, TrainSettings
from ..train.attacks import PRETRAINING_OF, PRETRAININGS

MODES = ("linear", "full")
DENSE = "dense"  # the --methods label of each arm's dense model, a cell of its own in every study
DENSE_SCHEME = "omp"  # which draws that dense model, at sparsity 0
OVERLAP_REFERENCE = "omp"  # every ticket's mask overlap is reported against this scheme's mask
# whose BatchNorm statistics a ticket's transfer starts from: the target's training images
# (AdaBN, the default: a ticket's source statistics are the dense model's, stale after pruning),
# the source's own, or the source's re-estimated on source images (the seeds' linear
# evaluation keeps the source's; the ablation separates adaptation from repair)
BATCHNORMS = ("target", "source", "source-images")
ROBUST_KIND = {pretraining: kind for kind, pretraining in PRETRAINING_OF.items()}  # natural -> none, pgd -> pgd
# study schemes that are not drawn but take a drawn scheme's mask: LTH-T (seed 004's lottery
# tickets for transfer, Chen et al. 2021) puts the gradual scheme's (GMP's) mask on the dense
# source weights, so it keeps the mask and loses what the draw's training taught the weights
MASK_TRANSFERS = {"ltht": "gmp"}


@dataclass
class StudyOptions:
    arch: str = "resnet18-cifar"
    source: str = "embedded:mnist-0to4"
    target: str = "embedded:mnist-5to9"
    # OMP costs nothing to draw, so the default spends the hour on independent source seeds;
    # imp, aimp, lmp, gmp and the recipes are one --methods away. "A/B" pairs scheme A in the
    # robust arms with B in the natural one (seed 000's "aimp/imp": A-IMP on the robust source
    # against IMP on the natural source)
    methods: tuple[str, ...] = ("omp",)
    sparsities: tuple[float, ...] = (0.8, 0.9, 0.95)
    robust: tuple[str, ...] = ("natural", "pgd")
    modes: tuple[str, ...] = MODES
    source_seeds: int = 5  # independent pretrainings per arm; each also seeds its draws and transfers
    quick: bool = False
    # Budget (2 cores, default study within an hour): 16 px digits, short schedules.
    image_size: int = 16
    scope: str = "layer"  # per-layer ranking: global magnitude ranking empties whole layers of a short-trained net
    pretrain_epochs: int = 4
    source_limit: int | None = None  # pretrain on at most this many source images
    draw_epochs: int = 1  # per round for imp/aimp; in total for lmp and recipe schemes
    prune_ratio_per_round: float = 0.5
    # on train_limit images the curve has flattened by then (90% OMP ticket, 8 epochs: val top-1
    # 0.908/0.942/0.944 after epochs 1-3, then 0.942-0.944; train loss 1.00/0.21/0.09 then 0.06)
    finetune_epochs: int = 4
    finetune_lr: float = 0.01  # the papers' step (0.05 was measured unstable for a one-epoch fine-tune)
    train_limit: int | None = 1000  # target training images, the same ones for linear and full transfer
    draw_limit: int | None = 1000  # the training schemes (imp, aimp, lmp, recipes) draw on this many images
    eps: float = 0.1  # PGD (L-inf, pixel units) for pgd pretraining and aimp
    pgd_steps: int = 3
    noise_sigma: float = 0.25
    engine: str = "deepsparse"  # linear mode's backbone engine
    batchnorm: str = "target"  # see BATCHNORMS
    robust_eval_limit: int | None = 1000  # the sources' PGD accuracy on this many validation images
    # threads of every cell (torch, BLAS, the engine): part of the key, because a cell's numbers
    # depend on it. None: this machine's cores, shared between local:N workers; 1 per remote worker
    cores: int | None = None
    cluster: str | None = None  # local:N or a dask scheduler address; None: serially in this process
    output: Path = Path("export/study")
    cache_dir: Path | None = None  # pretrained sources; default OUTPUT/cache
    json: Path | None = None
    progress: bool = False

    def resolved(self) -> "StudyOptions":
        """--quick: one source seed (so no conclusion), one training epoch per stage, 512
        training images per task."""
        if not self.quick:
            return self
        return replace(self, source_seeds=1, pretrain_epochs=1, draw_epochs=1, finetune_epochs=1,
                       source_limit=512 if self.source_limit is None else min(self.source_limit, 512),
                       train_limit=512 if self.train_limit is None else min(self.train_limit, 512))

    def validate(self) -> None:
        get_backbone_cfg(self.arch)
        if self.batchnorm not in BATCHNORMS:
            raise OptionError(f"unknown --batchnorm {self.batchnorm!r}; choose from: {', '.join(BATCHNORMS)}")
        schemes = tuple(part for label in self.methods for part in label.split("/"))
        bad_pairs = [label for label in self.methods if label.count("/") > 1 or "" in label.split("/")]
        if bad_pairs:
            raise OptionError(f"--methods {bad_pairs[0]!r} is not a scheme or a pair ROBUST/NATURAL such as aimp/imp")
        for name, values, valid in (("--methods", schemes, [*list_methods(), *MASK_TRANSFERS]), ("--robust", self.robust, PRETRAININGS),
                                    ("--modes", self.modes, MODES)):
            if not values:
                raise OptionError(f"{name} is empty; give at least one of: {', '.join(valid)}")
            unknown = [v for v in values if v not in valid]
            if unknown:
                raise OptionError(f"unknown {name} value {unknown[0]!r}; choose from: {', '.join(valid)}")
        for s in self.sparsities:
            if not 0.0 < s < 1.0:
                raise OptionError(f"--sparsities must be in (0, 1), got {s}; the dense model (0) is always included")
        if self.source_seeds < 1:
            raise OptionError(f"--source-seeds must be >= 1, got {self.source_seeds}")
        if self.eps < 0:
            raise OptionError(f"--eps must be >= 0, got {self.eps}")
        for name, limit in (("--train-limit", self.train_limit), ("--source-limit", self.source_limit)):
            if limit is not None and limit < 10:
                raise OptionError(f"{name} must be at least 10 images, got {limit}")
        if not 0 < self.prune_ratio_per_round < 1:
            raise OptionError(f"--prune-ratio-per-round must be in (0, 1), got {self.prune_ratio_per_round}")
        if self.cores is not None and self.cores < 1:
            raise OptionError(f"--cores must be a positive integer, got {self.cores}")
        if self.cluster is not None:
            ClusterSpec.parse(self.cluster)
        self._check_folders()
        if self.finetune_lr <= 0:
            raise OptionError(f"--finetune-lr must be > 0, got {self.finetune_lr}")
        if self.noise_sigma < 0:
            raise OptionError(f"--noise-sigma must be >= 0, got {self.noise_sigma}")
        self._check_stages()

    def _check_folders(self) -> None:
        """The study folder (resumed when it holds a study) and the cache must be writable folders:
        checked before any cell runs or any cluster starts."""
        for flag, folder in (("--output", self.output), ("--cache-dir", self.cache_dir)):
            if folder is None:
                continue
            folder = Path(folder)
            if folder.exists() and not folder.is_dir():
                raise OptionError(f"{flag} {folder} exists and is not a folder; choose a folder")
            check_writable(folder / ".probe" if folder.is_dir() else folder)

    def _check_stages(self) -> None:
        """Every stage's own checks, up front: a typo fails in a second, not after pretraining."""
        get_engine(self.engine)
        for spec in (self.source, self.target):
            load_task(spec)
        for pretraining in self.robust:
            self.robustness(pretraining).validate()
            self.train_settings(self.source, self.pretrain_epochs, 0, limit=self.source_limit).validate()

    def train_settings(self, data: str, epochs: int, seed: int, lr: float = 0.01, wd: float = 1e-4,
                       limit: int | None = None):
        """One stage's TrainSettings on ``data`` at the study's image size."""
        return TrainSettings(data=data, epochs=epochs, lr=lr, weight_decay=wd, image_size=self.image_size, seed=seed,
                             progress=self.progress, limit=limit)

    @staticmethod
    def arm_method(label: str, pretraining: str) -> str:
        """The scheme a --methods label draws in one arm: "A/B" is A in robust arms, B in the
        natural one; a plain name is the same in every arm."""
        robust_scheme, _, natural_scheme = label.partition("/")
        return (natural_scheme or robust_scheme) if pretraining == "natural" else robust_scheme

    def arm_draws(self, pretraining: str) -> tuple[str, ...]:
        """The schemes drawn in one arm, each once and after the scheme it takes its mask from
        (labels that draw the same scheme, aimp/imp and almp/imp: imp, share the draw)."""
        schemes = [self.arm_method(m, pretraining) for m in (DENSE, *self.methods)]
        return tuple(dict.fromkeys(d for s in schemes for d in (MASK_TRANSFERS.get(s), s) if d is not None))

    def robustness(self, pretraining: str):
        return Robustness(kind=ROBUST_KIND[pretraining], eps=self.eps, steps=self.pgd_steps, sigma=self.noise_sigma)

    def key(self) -> str:
        """Hash of what shapes tickets and evaluations (not which cells are run), so a rerun
        with more methods or seeds reuses every finished cell and a changed setting does not."""
        shaping = {k: v for k, v in asdict(self).items()
                   if k not in ("methods", "sparsities", "robust", "modes", "source_seeds", "quick", "output",
                                "cache_dir", "json", "progress", "cluster")}

        return digest({**shaping, "finetune_schedule": SCHEDULE})  # cells fine-tuned another way are not reused


@dataclass
class StudyResult:
    output: Path
    payload: dict = field(repr=False)


def digest(obj) -> str:
    text = json.dumps({"v": __version__, **obj}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
