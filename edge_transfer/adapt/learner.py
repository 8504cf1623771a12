"""The on-device loop: a frozen (sparse) backbone engine turns images into features and a
PyTorch linear head learns from them.

    learner = OnlineLearner(engine.compile(backbone_onnx, batch_size=64, num_cores=4), num_classes=5)
    learner.partial_fit(images, labels)    # as batches arrive
    learner.predict(images)
    learner.save("head.pt"); learner.load("head.pt")

The engine is compiled once for a fixed batch size: a smaller batch is padded with zero
rows whose outputs are dropped, and a larger one is run in chunks; it never recompiles.

The head sees standardised features: each feature minus its running mean over every
training feature seen so far, divided by its running standard deviation. A sparse
ticket's pooled features are nearly constant across images (measured on a 90% OMP
resnet18-cifar: mean 0.27, spread between images 0.007), and SGD on them barely moves:
the online head sat at chance (0.20 on 5 classes) where logistic regression on the same
features, standardised, reached 0.96. Standardising is an invertible affine map, so the
set of linear classifiers is unchanged; only the optimisation gets easier. The
statistics are part of the saved state, so prediction applies the same map.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError, OptionError
from ..fileio import atomic_write_bytes
from ..formats import HEAD_SCHEMA
from ..metrics import accuracy

MIN_STD = 1e-6  # features that never vary are left unscaled


def feature_std(m2, count: int):
    """Per-feature standard deviation from a sum of squared deviations over ``count`` rows;
    features that never vary get 1 (left unscaled)."""
    import numpy as np

    std = np.sqrt(m2 / max(count, 1))
    return np.where(std < MIN_STD, 1.0, std)


def run_fixed_batch(compiled, x, batch_size: int) -> list:
    """Every output of ``compiled`` (compiled for ``batch_size``) for any number of rows: short
    chunks are padded with zero rows whose outputs are dropped, so it never recompiles."""
    import numpy as np

    outs = []
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size]
        rows = len(chunk)
        if rows < batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - rows, *chunk.shape[1:]), dtype=chunk.dtype)])
        outs.append([r[:rows] for r in compiled.run([chunk])])
    return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))] if outs else []


class OnlineLearner:
    def __init__(self, backbone, num_classes: int, *, feature_dim: int | None = None, lr: float = 0.01,
                 momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0):
        import torch

        if num_classes < 2:
            raise OptionError(f"num_classes must be at least 2, got {num_classes}")
        self.backbone = backbone
        self.batch_size = int(backbone.settings["batch_size"])
        self.num_classes = num_classes
        self.feature_dim = feature_dim or self._probe_feature_dim()
        generator = torch.Generator().manual_seed(seed)
        self.head = torch.nn.Linear(self.feature_dim, num_classes)
        with torch.no_grad():  # nn.Linear's default init, from an explicit generator
            bound = 1.0 / self.feature_dim**0.5
            self.head.weight.uniform_(-bound, bound, generator=generator)
            self.head.bias.uniform_(-bound, bound, generator=generator)
        self.optimizer = torch.optim.SGD(self.head.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.input_shape = None  # set by the first batch
        self.stats = RunningStats(self.feature_dim)

    # -- backbone -------------------------------------------------------------------------
    def _probe_feature_dim(self) -> int:
        shape = self.backbone.settings.get("output_shape")
        if shape is None:
            raise OptionError("cannot tell the backbone's feature size; pass feature_dim=")
        return int(shape[-1])

    def features(self, images):
        """Backbone features of any number of images, at the compiled batch size."""
        import numpy as np

        images = np.ascontiguousarray(images, dtype=np.float32)
        outs = run_fixed_batch(self.backbone, images, self.batch_size)
        feats = outs[0].reshape(len(images), -1) if outs else np.zeros((0, self.feature_dim), dtype=np.float32)
        if feats.shape[1] != self.feature_dim:
            raise OptionError(f"the backbone gives {feats.shape[1]} features but the head expects {self.feature_dim}; "
                              "use the backbone.onnx the head was trained on")
        return feats

    # -- head -----------------------------------------------------------------------------
    def _check_labels(self, labels):
        import numpy as np

        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise OptionError(f"labels must be in [0, {self.num_classes - 1}], got {labels.min()}..{labels.max()}")
        return labels

    def fit_features(self, features, labels) -> float:
        """One SGD step of the head on precomputed features; returns the batch loss."""
        import torch
        import torch.nn.functional as F

        labels = self._check_labels(labels)
        self.stats.update(features)
        self.head.train()
        logits = self.head(torch.from_numpy(self.stats.standardise(features)))
        loss = F.cross_entropy(logits, torch.from_numpy(labels))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def partial_fit(self, images, labels) -> float:
        """Learn from one batch as it arrives (normalised float32 NCHW at the input size)."""
        labels = self._check_labels(labels)
        if len(images) != len(labels):
            raise OptionError(f"{len(images)} images but {len(labels)} labels")
        if len(images) == 0:
            raise OptionError("no images to learn from; pass at least one labelled image")
        return self.fit_features(self.features(images), labels)

    def predict_features(self, features):
        import torch

        self.head.eval()
        with torch.no_grad():
            return self.head(torch.from_numpy(self.stats.standardise(features))).argmax(1).numpy()

    def predict(self, images):
        return self.predict_features(self.features(images))

    def evaluate(self, batches) -> dict:
        """Top-1 and mean per-class accuracy over ``(images, labels)`` batches."""
        import numpy as np

        preds, labels = [], []
        for images, y in batches:
            preds.append(self.predict(images))
            labels.append(np.asarray(y))
        return accuracy(np.concatenate(preds), np.concatenate(labels), self.num_classes)

    def load_probe(self, fit) -> None:
        """Take a converged probe (``probe.fit_probe``) as this head: its training-feature
        statistics become the standardisation, its coefficients the weights."""
        import torch

        self.stats.count = fit.count
        self.stats.mean = fit.mean.astype("float64").copy()
        self.stats.m2 = fit.var.astype("float64") * fit.count
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(fit.weight))
            self.head.bias.copy_(torch.from_numpy(fit.bias))

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # -- state ----------------------------------------------------------------------------
    def state(self) -> dict:
        return {"schema": HEAD_SCHEMA, "num_classes": self.num_classes, "feature_dim": self.feature_dim,
                "head": self.head.state_dict(), "optimizer": self.optimizer.state_dict(), "feature_stats": self.stats.state()}

    def load_state(self, state: dict) -> None:
        if state.get("schema") != HEAD_SCHEMA:
            raise CheckpointError(f"not an edge-transfer head checkpoint of schema {HEAD_SCHEMA} (found "
                                  f"{state.get('schema')!r}); start a new --output")
        if state["num_classes"] != self.num_classes:
            raise CheckpointError(f"the saved head has {state['num_classes']} classes but the data has "
                                  f"{self.num_classes}; resume with the same data or start a new --output")
        if state["feature_dim"] != self.feature_dim:
            raise CheckpointError(f"the saved head expects {state['feature_dim']} features but the backbone gives "
                                  f"{self.feature_dim}; resume with the same backbone")
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.stats.load_state(state["feature_stats"])

    def save(self, path: Path, extra: dict | None = None) -> None:
        """Atomic: the previous file stays intact until the new one is complete."""
        import io

        import torch

        buffer = io.BytesIO()
        torch.save({**self.state(), **(extra or {})}, buffer)
        atomic_write_bytes(Path(path), buffer.getvalue())

    def load(self, path: Path) -> dict:
        """Restore head and optimizer from ``path``; returns the whole saved dict."""
        import torch

        try:
            state = torch.load(Path(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"no head checkpoint at {path}; run without --resume first") from None
        except Exception as exc:  # torch raises many types for a damaged file
            raise CheckpointError(f"cannot read head checkpoint {path} ({type(exc).__name__}); it is damaged") from None
        self.load_state(state)
        return state


class RunningStats:
    """Per-feature mean and variance over every row seen (Chan et al.'s parallel update,
    float64), and the standardisation they define."""

    def __init__(self, dim: int):
        import numpy as np

        self.count = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)  # sum of squared deviations from the mean

    def update(self, rows) -> None:
        import numpy as np

        rows = np.asarray(rows, dtype=np.float64)
        n = len(rows)
        if n == 0:
            return
        batch_mean = rows.mean(0)
        delta = batch_mean - self.mean
        total = self.count + n
        self.m2 += ((rows - batch_mean) ** 2).sum(0) + delta**2 * self.count * n / total
        self.mean += delta * n / total
        self.count = total

    @property
    def std(self):
        return feature_std(self.m2, self.count)

    def standardise(self, rows):
        import numpy as np

        if self.count == 0:
            return np.ascontiguousarray(rows, dtype=np.float32)
        return ((np.asarray(rows, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def state(self) -> dict:
        import torch

        return {"count": self.count, "mean": torch.from_numpy(self.mean.copy()), "m2": torch.from_numpy(self.m2.copy())}

    def load_state(self, state: dict) -> None:
        self.count = int(state["count"])
        self.mean = state["mean"].numpy().astype("float64")
        self.m2 = state["m2"].numpy().astype("float64")
