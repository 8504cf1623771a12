"""``AdaptOptions`` (defaults follow the seed paper's online recipe) and ``AdaptResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..engines import get_engine
from ..errors import OptionError
from ..formats import ADAPT_FILE as RESULTS_FILE  # noqa: F401
from ..train import TrainSettings

CHECKPOINT_FILE = "checkpoint.pt"
BACKBONE_TICKET_DIR = "ticket"  # the backbone the head was trained on (its fresh statistics), for deploy
# Settings that must match for --resume to continue the same run (epochs may grow). The
# checkpoint stores them flat under these names (``train_limit`` is ``train.limit``).
TRAIN_RESUME_KEYS = ("data", "val", "batch_size", "lr", "momentum", "weight_decay", "augment", "seed")
RESUME_KEYS = TRAIN_RESUME_KEYS + ("lr_steps", "lr_decay", "precompute", "compare_dense", "dataset_stats", "probe",
                                   "keep_bn_stats", "train_limit")
PROBES = ("lbfgs", "sgd")


def default_train_settings() -> TrainSettings:
    """The seed paper's online recipe: SGD at lr 0.01, momentum 0.9, weight decay 5e-4, batch
    64, 150 epochs (lr x0.1 at ``lr_steps``), with augmentation."""
    return TrainSettings(data="embedded:mnist-5to9", epochs=150, batch_size=64, lr=0.01, momentum=0.9,
                         weight_decay=5e-4, augment=True)


@dataclass
class AdaptOptions:
    source: Path  # ticket folder or export folder
    # data, val, epochs, batch size, optimiser, augment, seed and train-image limit; the
    # image size is the export's own (``image_size`` must stay None)
    train: TrainSettings = field(default_factory=default_train_settings)
    output: Path = Path("export/adapt")
    lr_steps: tuple[int, ...] = (50, 100)
    lr_decay: float = 0.1
    engine: str = "deepsparse"
    cores: int | None = None
    compare_dense: bool = False
    precompute: bool = False
    probe: str = "lbfgs"  # with precompute: lbfgs (converged logistic regression) or sgd (the online recipe)
    keep_bn_stats: bool = False  # True: a ticket keeps its source's BatchNorm statistics
    overlap: bool = True
    dataset_stats: bool = False
    checkpoint_every: int = 1
    keep_backbone: bool = True  # copy the backbone ticket into the run, so `deploy` can build from it
    resume: bool = False
    force: bool = False

    def validate(self) -> None:
        self.train.validate()
        if self.checkpoint_every <= 0:
            raise OptionError(f"--checkpoint-every must be a positive integer, got {self.checkpoint_every}")
        if self.train.image_size is not None:
            raise OptionError("adapt runs at the backbone's exported input size; leave image_size unset "
                              "(re-export the ticket to change it)")
        if any(s <= 0 for s in self.lr_steps) or list(self.lr_steps) != sorted(self.lr_steps):
            raise OptionError(f"--lr-steps must be increasing positive epochs, e.g. 50,100; got {self.lr_steps}")
        if self.cores is not None and self.cores <= 0:
            raise OptionError(f"--cores must be a positive integer, got {self.cores}")
        if self.probe not in PROBES:
            raise OptionError(f"unknown --probe {self.probe!r}; choose one of: {', '.join(PROBES)}")
        if self.train.limit is not None and self.train.limit < 10:
            raise OptionError(f"--train-limit must be at least 10 images, got {self.train.limit}")
        if self.resume and self.fits_probe:
            raise OptionError("an L-BFGS probe (--precompute) is fitted in one go and has nothing to resume; "
                              "run without --resume, or pass --probe sgd")
        get_engine(self.engine)

    @property
    def fits_probe(self) -> bool:
        return self.precompute and self.probe == "lbfgs"

    def resume_settings(self) -> dict:
        """The settings a checkpoint records, flat (the names runs before TrainSettings used)."""
        own = {"lr_steps": list(self.lr_steps), "lr_decay": self.lr_decay, "precompute": self.precompute,
               "compare_dense": self.compare_dense, "dataset_stats": self.dataset_stats, "probe": self.probe,
               "keep_bn_stats": self.keep_bn_stats, "train_limit": self.train.limit}
        return {**{k: getattr(self.train, k) for k in TRAIN_RESUME_KEYS}, **own}

    def to_dict(self) -> dict:
        """Every option, JSON-ready, with the training settings nested under ``train``."""
        from dataclasses import fields

        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["train"] = self.train.to_dict()
        return {k: str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@dataclass
class AdaptResult:
    path: Path
    summary: dict
    epochs: list[dict] = field(repr=False)
    payload: dict = field(repr=False)
