"""A deployed artifact on the device:

    from edge_transfer.deploy import load
    model = load("DIR", engine="deepsparse", cores=4)
    result = model.predict(images)          # uint8 / float arrays or PIL images
    result.labels, result.probabilities
    learner = model.learner()              # an OnlineLearner seeded with the deployed head
    learner.partial_fit(model.preprocess(images), labels)
    model.save("DIR2", learner)            # a new validated artifact

One compiled model serves prediction and learning: the graph's ``features`` output feeds
the learner, so the backbone is never recompiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..adapt.learner import OnlineLearner, run_fixed_batch
from ..data import batches
from ..data.batches import Preprocess
from ..data.datasets import MAX_IMAGE_PIXELS
from ..engines import get_engine
from ..errors import DeployError, OptionError
from ..formats import read_json_file
from .manifest import check_against_graph, read_deploy_manifest
from .options import FEATURES, FLOAT_NCHW, HEAD_FILE, LABELS_FILE, MODEL_FILE, PROBABILITIES, UINT8_NHWC, VAL_BATCH
from .save import save_learned
from .source import HeadState

MAX_BATCH = 4096  # images per engine call: the compiled input is allocated at this size


@dataclass
class Predictions:
    labels: list  # the top class name per image
    indices: object  # (N,) int64
    probabilities: object  # (N, classes) float32
    classes: list

    def top_k(self, k: int) -> list[list[tuple[str, float]]]:
        import numpy as np

        order = np.argsort(-self.probabilities, axis=1)[:, :k]
        return [[(self.classes[j], float(p[j])) for j in row] for row, p in zip(order, self.probabilities)]


class _FeaturesOutput:
    """The compiled merged graph, seen by OnlineLearner as a backbone: its features output."""

    def __init__(self, compiled, index: int, dtype, row_shape: tuple):
        self.compiled, self.index, self.dtype, self.row_shape = compiled, index, dtype, tuple(row_shape)
        self.settings = compiled.settings

    def run(self, inputs):
        x = inputs[0]
        if tuple(x.shape[1:]) != self.row_shape:
            raise OptionError(f"the artifact takes images of shape (N, {', '.join(map(str, self.row_shape))}), got "
                              f"{tuple(x.shape)}; pass model.preprocess(images) to the learner")
        # OnlineLearner hands float32; a folded graph takes uint8 (the values are whole pixels)
        return [self.compiled.run([x.astype(self.dtype, copy=False)])[self.index]]


class DeployedModel:
    def __init__(self, folder: Path, manifest, labels: list, engine: str, cores: int | None, batch_size: int):
        self.folder, self.manifest, self.labels = Path(folder), manifest, labels
        self.engine_name, self.cores, self.batch_size = engine, cores, batch_size
        self._compiled = None

    @property
    def compiled(self):
        """The engine's compiled model at ``batch_size``: compiled once, reused by every call."""
        if self._compiled is None:
            self._compiled = get_engine(self.engine_name).compile(self.folder / MODEL_FILE, self.batch_size, self.cores)
        return self._compiled

    @property
    def takes_uint8(self) -> bool:
        """True when the graph takes uint8 NHWC images and normalises them itself."""
        return self.manifest.input_format == UINT8_NHWC

    def preprocess(self, images):
        """Images -> the graph's input at the input size: normalised float32 NCHW, or uint8 NHWC
        for an artifact built with ``--fold-preprocessing``. Accepts PIL images, uint8 arrays
        HW / HWC (C = 1, 3 or 4) / NHWC, or (float artifacts) float NCHW already normalised."""
        import numpy as np

        m = self.manifest
        if isinstance(images, np.ndarray) and images.dtype.kind == "f":
            if self.takes_uint8:
                raise OptionError("this artifact takes uint8 images (its graph normalises them); pass uint8 pixels "
                                  "or PIL images")
            if images.ndim == 3:
                images = images[None]
            if tuple(images.shape[1:]) != tuple(m.input_size):
                raise OptionError(f"float input must be normalised NCHW of shape (N, {', '.join(map(str, m.input_size))}); "
                                  f"got {images.shape}; pass uint8 pixels or PIL images to have them preprocessed")
            if not np.isfinite(images).all():
                raise OptionError("float input holds NaN or Inf; pass uint8 pixels or finite normalised values")
            return np.ascontiguousarray(images, dtype=np.float32)
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        elif not isinstance(images, (list, tuple)):
            images = [images]
        if not len(images):
            raise OptionError("no images to preprocess; pass at least one image")
        unit = Preprocess(tuple(m.input_size), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)).batch([_chw_uint8(i) for i in images], None)
        return self.from_unit(unit.numpy())

    def from_unit(self, x):
        """Resized float NCHW images in [0, 1] -> the graph's input (normalised, or uint8 NHWC)."""
        import numpy as np

        m = self.manifest
        if self.takes_uint8:
            return np.ascontiguousarray(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1))
        mean = np.asarray(m.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(m.std, dtype=np.float32).reshape(1, -1, 1, 1)
        return np.ascontiguousarray((x - mean) / std, dtype=np.float32)

    def example_input(self, n: int, seed: int = 0):
        """Seeded input of the graph's kind, for parity checks."""
        return example_input(self.manifest.input_size, self.manifest.input_format, n, seed)

    def _run(self, x):
        """Both outputs for any number of rows, at the compiled batch (padded, never recompiled)."""
        return run_fixed_batch(self.compiled, x, self.batch_size)

    def predict(self, images) -> Predictions:
        import numpy as np

        x = self.preprocess(images)
        if len(x) == 0:
            raise OptionError("no images to predict")
        probabilities = self._run(x)[self._output_index(PROBABILITIES)]
        indices = probabilities.argmax(1).astype(np.int64)
        return Predictions([self.labels[i] for i in indices], indices, probabilities, list(self.labels))

    def evaluate(self, task):
        """Predictions and labels (the artifact's class indices) on ``task``'s val split, batched
        exactly as adapt extracts it; its classes are matched by name."""
        import numpy as np

        missing = [c for c in task.val.classes if c not in self.labels]
        if missing:
            raise DeployError(f"the validation classes {missing} are not among the artifact's {self.labels}")
        to_artifact = np.asarray([self.labels.index(c) for c in task.val.classes])  # by class name
        unit = Preprocess(tuple(self.manifest.input_size), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # then its own input form
        preds, labels = [], []
        for x, y in batches(task.val, unit, VAL_BATCH, shuffle=False, seed=0):
            preds.append(self._run(self.from_unit(x))[self._output_index(PROBABILITIES)].argmax(1))
            labels.append(to_artifact[y])
        if not preds:
            raise DeployError("no readable validation images; give a folder of PNG or JPEG files per class")
        return np.concatenate(preds), np.concatenate(labels)

    def reopened(self, folder: Path, manifest, labels: list) -> "DeployedModel":
        """Another artifact (e.g. the one ``save`` wrote) on this one's engine and cores, at the
        val batch size."""
        return DeployedModel(Path(folder), manifest, list(labels), self.engine_name, self.cores, VAL_BATCH)

    def _output_index(self, name: str) -> int:
        return list(self.manifest.outputs).index(name)

    def head_state(self):
        from safetensors.numpy import load_file

        path, m = self.folder / HEAD_FILE, self.manifest
        try:
            t = load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for a damaged header
            raise DeployError(f"{path} is not a readable safetensors file ({type(exc).__name__}); {m.FIX}") from None
        missing = sorted({"weight", "bias", "feature_mean", "feature_m2", "feature_count"} - set(t))
        if missing or t["feature_count"].shape != (1,):
            raise DeployError(f"{path} lacks {', '.join(missing) or 'a one-value feature_count'}; {m.FIX}")
        head = HeadState(t["weight"], t["bias"], t["feature_mean"], t["feature_m2"], int(t["feature_count"][0]))
        return head.check(path, m.FIX, expected=(m.num_classes, m.feature_dim))

    def learner(self, classes: list | None = None, *, lr: float = 0.01, momentum: float = 0.9,
                weight_decay: float = 5e-4, seed: int = 0):
        """An OnlineLearner on this artifact's compiled graph, seeded with the deployed head and
        its feature statistics. ``classes`` (a superset of ``labels``, in order) adds classes:
        their rows start at zero, the known ones keep what was learned."""
        import numpy as np
        import torch

        classes = list(classes or self.labels)
        if classes[: len(self.labels)] != list(self.labels):
            raise OptionError(f"classes must start with the artifact's {self.labels}; got {classes}")
        head = self.head_state()
        dtype = np.uint8 if self.takes_uint8 else np.float32
        row_shape = self.example_input(1).shape[1:]
        learner = OnlineLearner(_FeaturesOutput(self.compiled, self._output_index(FEATURES), dtype, row_shape), len(classes),
                                feature_dim=self.manifest.feature_dim, lr=lr, momentum=momentum,
                                weight_decay=weight_decay, seed=seed)
        weight = np.zeros((len(classes), head.weight.shape[1]), dtype=np.float32)
        bias = np.zeros(len(classes), dtype=np.float32)
        weight[: len(self.labels)], bias[: len(self.labels)] = head.weight, head.bias
        with torch.no_grad():
            learner.head.weight.copy_(torch.from_numpy(weight))
            learner.head.bias.copy_(torch.from_numpy(bias))
        learner.stats.count, learner.stats.mean, learner.stats.m2 = head.count, head.mean.copy(), head.m2.copy()
        learner.classes = classes
        return learner

    def save(self, output: Path, learner, *, val=None, force: bool = False, note: str = "learned on the device"):
        """Write a new artifact with ``learner``'s head (see ``save.save_learned``)."""
        return save_learned(self, Path(output), learner, val=val, force=force, note=note)


def example_input(input_size, input_format: str, n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    c, h, w = input_size
    if input_format == UINT8_NHWC:
        return rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)
    assert input_format == FLOAT_NCHW, input_format
    return rng.standard_normal((n, c, h, w), dtype=np.float32)


def _chw_uint8(img):
    """PIL image or uint8 array -> uint8 CHW tensor with 3 channels."""
    import numpy as np
    import torch

    if hasattr(img, "convert"):  # PIL: grayscale, palette and RGBA become RGB
        img = np.asarray(img.convert("RGB"))
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise OptionError(f"images must be uint8 pixels (or PIL images, or float NCHW already normalised); got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or min(a.shape[:2]) == 0:
        raise OptionError(f"an image must be HW or HWC with 1, 3 or 4 channels; got shape {a.shape}")
    if a.shape[0] * a.shape[1] > MAX_IMAGE_PIXELS:
        raise OptionError(f"an image of {a.shape[1]}x{a.shape[0]} pixels is over the {MAX_IMAGE_PIXELS:,} read; "
                          "downscale it first")
    t = torch.from_numpy(np.ascontiguousarray(a[:, :, :3])).permute(2, 0, 1)
    return t.expand(3, -1, -1).contiguous() if t.shape[0] == 1 else t


def load(folder, engine: str = "deepsparse", cores: int | None = None, batch_size: int = 1,
         verify_hashes: bool = True) -> DeployedModel:
    """Open an artifact written by ``edge-transfer deploy`` (or ``learn``): its files are
    checked against deploy.json's sha256 before anything runs."""
    get_engine(engine)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 < batch_size <= MAX_BATCH:
        raise OptionError(f"batch_size must be an integer from 1 to {MAX_BATCH}, got {batch_size!r}")
    manifest = read_deploy_manifest(Path(folder), verify_hashes)
    check_against_graph(Path(folder), manifest)
    labels = read_json_file(Path(folder) / LABELS_FILE, DeployError, manifest.FIX)
    if (not isinstance(labels, list) or len(labels) != manifest.num_classes
            or not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in labels)
            or len({str(x) for x in labels}) != len(labels)):
        raise DeployError(f"{Path(folder) / LABELS_FILE} does not list {manifest.num_classes} distinct class names; "
                          f"{manifest.FIX}")
    return DeployedModel(Path(folder), manifest, [str(x) for x in labels], engine, cores, batch_size)
