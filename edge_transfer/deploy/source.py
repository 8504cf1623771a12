"""What ``deploy`` reads: an adapt run (its kept backbone ticket, learned head and feature
statistics, and the run's own val predictions) or a fine-tuned ticket (its own head)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..adapt.learner import feature_std
from ..adapt.options import BACKBONE_TICKET_DIR, CHECKPOINT_FILE, RESULTS_FILE
from ..adapt.record import AdaptRecord
from ..backbones import get_backbone_cfg
from ..errors import DeployError
from ..formats import HEAD_SCHEMA, MAX_CLASSES, MAX_FEATURE_DIM, is_ticket
from ..ticket import load_ticket


@dataclass
class HeadState:
    """A linear head on standardised features: logits = ((f - mean) / std) @ weight.T + bias."""

    weight: object  # (classes, dim) float32
    bias: object  # (classes,)
    mean: object  # (dim,) float64; zeros and count 0 for a head on raw features
    m2: object  # (dim,) float64: sum of squared deviations (adapt.learner.RunningStats)
    count: int

    @property
    def std(self):
        return feature_std(self.m2, self.count)

    def check(self, where, fix: str, expected: tuple | None = None) -> "HeadState":
        """``self`` if its parts agree in shape, its values are finite and its statistics
        non-negative; with ``expected`` (classes, features), only a head of that size. A head read
        from a file (adapt's checkpoint, an artifact's head.safetensors) passes here first."""
        import numpy as np

        shape = tuple(np.shape(self.weight))
        if expected is not None and shape != tuple(expected):
            raise DeployError(f"{where} holds a head of shape {shape}, not the {expected[0]}-class head on {expected[1]} "
                              f"features deploy.json describes; {fix}")
        if len(shape) != 2 or not (2 <= shape[0] <= MAX_CLASSES and 1 <= shape[1] <= MAX_FEATURE_DIM):
            raise DeployError(f"the head in {where} has shape {shape}, not (classes, features); {fix}")
        classes, dim = shape
        if np.shape(self.bias) != (classes,) or np.shape(self.mean) != (dim,) or np.shape(self.m2) != (dim,):
            raise DeployError(f"the head in {where} takes {dim} features but its bias or feature statistics have "
                              f"shapes {np.shape(self.bias)}, {np.shape(self.mean)}; {fix}")
        if (self.count < 0 or (np.asarray(self.m2) < 0).any()
                or not all(np.isfinite(a).all() for a in (self.weight, self.bias, self.mean, self.m2))):
            raise DeployError(f"the head in {where} holds non-finite values (NaN, Inf) or negative statistics; {fix}")
        return self

    def folded(self):
        """(weight, bias) on raw features: the standardisation folded into the head."""
        import numpy as np

        if self.count == 0:
            return self.weight.astype(np.float32), self.bias.astype(np.float32)
        w = self.weight.astype(np.float64) / self.std
        return w.astype(np.float32), (self.bias - w @ self.mean).astype(np.float32)


@dataclass
class DeploySource:
    kind: str  # adapt-run | finetuned-ticket
    path: Path
    ticket: Path  # backbone weights and masks
    head: HeadState
    classes: list
    data: str  # the task: its val split validates the artifact
    val: str | None
    mean: tuple  # the input normalisation the head was trained with
    std: tuple
    reference_top1: float | None
    reference_predictions: object | None  # the run's own val predictions (adapt runs)


def read_source(path: Path) -> DeploySource:
    path = Path(path)
    if not path.exists():
        raise DeployError(f"{path} not found; give an adapt run folder or a fine-tuned ticket")
    if (path / RESULTS_FILE).is_file() and (path / CHECKPOINT_FILE).is_file():
        return _adapt_run(path)
    if is_ticket(path):
        return _finetuned_ticket(path)
    raise DeployError(f"{path} is neither an adapt run folder (adapt.json and checkpoint.pt) nor a ticket; "
                      "give the --output of `edge-transfer adapt` or of `edge-transfer finetune`")


def _adapt_run(path: Path) -> DeploySource:
    import numpy as np

    fix = "rerun `edge-transfer adapt` on a ticket (it keeps the backbone in the run folder)"
    ticket = path / BACKBONE_TICKET_DIR
    if not is_ticket(ticket):
        raise DeployError(f"{path} does not hold the backbone its head was trained on (a run made from an export "
                          f"folder, or by an earlier version); {fix}")
    run = AdaptRecord.read(path, DeployError, fix)
    head = _head_from_checkpoint(path / CHECKPOINT_FILE, fix)
    if head.weight.shape[0] != len(run.classes):
        raise DeployError(f"the head has {head.weight.shape[0]} classes but the run lists {len(run.classes)} distinct "
                          f"ones; {fix}")
    return DeploySource("adapt-run", path, ticket, head, list(run.classes), run.data, run.val, run.mean, run.std,
                        run.val_top1, np.asarray(run.val_predictions, dtype=np.int64))


def _head_from_checkpoint(checkpoint: Path, fix: str) -> HeadState:
    import torch

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or unsafe file
        raise DeployError(f"cannot read the head in {checkpoint} ({type(exc).__name__}); {fix}") from None
    if not isinstance(state, dict) or state.get("schema") != HEAD_SCHEMA:
        raise DeployError(f"{checkpoint} is not a head of schema {HEAD_SCHEMA}; {fix}")
    try:
        stats, linear = state["feature_stats"], state["head"]
        tensors = (linear["weight"], linear["bias"], stats["mean"], stats["m2"])
        if not all(isinstance(t, torch.Tensor) for t in tensors):
            raise TypeError
        head = HeadState(*(t.numpy() for t in tensors), int(stats["count"]))
    except (KeyError, TypeError, ValueError, RuntimeError):
        raise DeployError(f"{checkpoint} lacks the head's weight, bias or feature statistics; {fix}") from None
    return head.check(checkpoint, fix)


def _finetuned_ticket(path: Path) -> DeploySource:
    import numpy as np

    ticket = load_ticket(path)
    done = ticket.meta.finetuned
    if not done:
        raise DeployError(f"{path} is a ticket whose head is still its source task's; adapt it "
                          "(`edge-transfer adapt`) or fine-tune it (`edge-transfer finetune --output`) first")
    linear = ticket.model.get_submodule(get_backbone_cfg(ticket.arch).head)
    dim = linear.in_features
    head = HeadState(linear.weight.detach().numpy().copy(), linear.bias.detach().numpy().copy(), np.zeros(dim),
                     np.zeros(dim), 0)
    data, train = done["data"], done.get("train") or {}
    return DeploySource("finetuned-ticket", path, path, head, list(data["classes"]), data["spec"], train.get("val"),
                        ticket.meta.mean, ticket.meta.std, done.get("val_top1"), None)
