"""``AdaptOptions`` (defaults follow the seed paper's online recipe) and ``AdaptResult``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import OptionError

CHECKPOINT_FILE = "checkpoint.pt"
RESULTS_FILE = "adapt.json"
# Settings that must match for --resume to continue the same run (epochs may grow).
RESUME_KEYS = ("data", "val", "batch_size", "lr", "momentum", "weight_decay", "lr_steps", "lr_decay", "augment",
               "precompute", "compare_dense", "seed", "dataset_stats", "probe", "keep_bn_stats", "train_limit")
PROBES = ("lbfgs", "sgd")


@dataclass
class AdaptOptions:
    source: Path  # ticket folder or export folder
    data: str = "embedded:mnist-5to9"
    val: str | None = None
    output: Path = Path("export/adapt")
    epochs: int = 150
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_steps: tuple[int, ...] = (50, 100)
    lr_decay: float = 0.1
    augment: bool = True
    engine: str = "deepsparse"
    cores: int | None = None
    compare_dense: bool = False
    precompute: bool = False
    probe: str = "lbfgs"  # with precompute: lbfgs (converged logistic regression) or sgd (the online recipe)
    keep_bn_stats: bool = False  # True: a ticket keeps its source's BatchNorm statistics
    train_limit: int | None = None  # at most this many training images (the fixed subset every stage uses)
    overlap: bool = True
    dataset_stats: bool = False
    checkpoint_every: int = 1
    resume: bool = False
    force: bool = False
    seed: int = 0

    def validate(self) -> None:
        from ..engines import get_engine
        from ..train.loop import check_sgd_settings

        for name, value in (("--epochs", self.epochs), ("--batch-size", self.batch_size),
                            ("--checkpoint-every", self.checkpoint_every)):
            if value <= 0:
                raise OptionError(f"{name} must be a positive integer, got {value}")
        check_sgd_settings(self.lr, self.momentum, self.weight_decay)
        if any(s <= 0 for s in self.lr_steps) or list(self.lr_steps) != sorted(self.lr_steps):
            raise OptionError(f"--lr-steps must be increasing positive epochs, e.g. 50,100; got {self.lr_steps}")
        if self.cores is not None and self.cores <= 0:
            raise OptionError(f"--cores must be a positive integer, got {self.cores}")
        if self.probe not in PROBES:
            raise OptionError(f"unknown --probe {self.probe!r}; choose one of: {', '.join(PROBES)}")
        if self.train_limit is not None and self.train_limit < 10:
            raise OptionError(f"--train-limit must be at least 10 images, got {self.train_limit}")
        if self.resume and self.fits_probe:
            raise OptionError("an L-BFGS probe (--precompute) is fitted in one go and has nothing to resume; "
                              "run without --resume, or pass --probe sgd")
        get_engine(self.engine)

    @property
    def fits_probe(self) -> bool:
        return self.precompute and self.probe == "lbfgs"

    def resume_settings(self) -> dict:
        d = asdict(self)
        return {k: list(d[k]) if isinstance(d[k], tuple) else d[k] for k in RESUME_KEYS}


@dataclass
class AdaptResult:
    path: Path
    summary: dict
    epochs: list[dict] = field(repr=False)
    payload: dict = field(repr=False)
