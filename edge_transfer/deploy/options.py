"""The device side's options and results (deploy, learn, predict) and the artifact's file names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..adapt.options import default_train_settings as online
from ..engines import get_engine
from ..errors import OptionError
from ..fileio import check_output_dir
from ..formats import MODEL_FILE  # noqa: F401  (its outputs: probabilities (N, classes), features (N, feature_dim))
from ..quantize.options import MAX_CALIBRATION_SAMPLES
from ..train import TrainSettings

HEAD_FILE = "head.safetensors"  # the learned head before folding, and its feature statistics
LABELS_FILE = "labels.json"
PROBABILITIES, FEATURES = "probabilities", "features"
FLOAT_NCHW, UINT8_NHWC = "float32 NCHW, normalised", "uint8 NHWC"  # the graph's input, per --fold-preprocessing
MIN_AGREEMENT = 0.995  # the artifact's val predictions against the run's own
VAL_BATCH = 64  # the artifact is scored on the val split in batches of this size


@dataclass
class DeployOptions:
    source: Path  # an adapt run folder, or a fine-tuned ticket
    output: Path = Path("export/deploy")
    engine: str = "deepsparse"  # validated and timed on this engine
    cores: int | None = None
    # validation split: None takes the source's own (the adapt run's val images, or the
    # fine-tuned ticket's task); a spec or folder replaces it
    val: str | None = None
    time: float = 2.0  # seconds of batch-1 timing per artifact (sparse and dense, alternated)
    # INT8: the backbone in the engine's INT8 form (quantize's calibration and INT8 zero
    # audit), the head FP32 so learning can go on
    int8: bool = False
    calibration_samples: int = 256  # training images of the source's task
    max_drop: float = 1.0  # val top-1 points an INT8 or folded artifact may lose against the run's
    # the graph takes uint8 NHWC images at the input size and normalises them itself, so a
    # device needs nothing but the engine (and a resize)
    fold_preprocessing: bool = False
    seed: int = 0
    force: bool = False

    def validate(self) -> None:
        if self.cores is not None and self.cores <= 0:
            raise OptionError(f"--cores must be a positive integer, got {self.cores}")

        if not 0 < self.calibration_samples <= MAX_CALIBRATION_SAMPLES:
            raise OptionError(f"--calibration-samples must be from 1 to {MAX_CALIBRATION_SAMPLES:,}, got "
                              f"{self.calibration_samples}")
        if self.int8 and get_engine(self.engine).int8_form is None:
            raise OptionError(f"--engine {self.engine} does not run INT8 models; use deepsparse, onnxruntime or openvino")
        if not self.time > 0:
            raise OptionError(f"--time must be a positive number of seconds, got {self.time}")
        get_engine(self.engine)
        check_output_dir(self.output, self.force, (self.source,))


@dataclass
class DeployResult:
    path: Path
    manifest: object = field(repr=False)  # DeployManifest


def default_train_settings() -> TrainSettings:
    """learn's recipe: adapt's online optimiser for a few epochs on the device, no augmentation."""
    d = online()
    return TrainSettings(data=None, epochs=5, batch_size=d.batch_size, lr=d.lr, momentum=d.momentum,
                         weight_decay=d.weight_decay, augment=False, seed=0)


@dataclass
class LearnOptions:
    artifact: Path
    output: Path
    train: TrainSettings = field(default_factory=default_train_settings)
    engine: str = "deepsparse"
    cores: int | None = None
    force: bool = False

    def validate(self) -> None:
        self.train.validate()
        if self.train.image_size is not None:
            raise OptionError("learn runs at the artifact's input size; leave image_size unset")
        if self.cores is not None and self.cores <= 0:
            raise OptionError(f"--cores must be a positive integer, got {self.cores}")
        get_engine(self.engine)
        check_output_dir(self.output, self.force, (self.artifact,))


@dataclass
class LearnResult:
    path: Path  # the new artifact
    manifest: object = field(repr=False)  # its DeployManifest
    val_top1: float  # on --data's val split, after learning
    val_top1_before: float | None  # the source artifact's there (None when classes were added)
    val_images: int
    classes_in_data: list


@dataclass
class PredictOptions:
    artifact: Path
    files: tuple = ()  # image files (the CLI expands folders)
    engine: str = "deepsparse"
    cores: int | None = None
    top_k: int = 5
    batch_size: int = 1  # images per engine call; 1 also reports latency percentiles
