"""Robust training inputs: PGD adversarial examples (Madry et al.) and Gaussian noise
(randomized smoothing, Cohen et al.). Everything is in pixel space [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import OptionError

NORMS = ("linf", "l2")


@dataclass(frozen=True)
class RobustKind:
    """One kind of training input (pretrain --robust), declared once: the pretraining name a
    ticket records and the study compares (prune --pretraining, study --robust), how a
    Robustness of this kind describes itself, and the inputs it trains on."""
    pretraining: str
    describe: Callable[["Robustness"], str]
    inputs: Callable  # (robustness, model, x, y, generator) -> the batch to train on
    robust: bool = True


def _pgd_inputs(r: "Robustness", model, x, y, generator):
    return pgd_attack(model, x, y, r.eps, r.norm, r.steps, r.alpha, generator=generator)


def _noisy_inputs(r: "Robustness", model, x, y, generator):
    import torch

    return x + torch.randn(x.shape, generator=generator) * r.sigma  # not clamped: smoothing certifies x + N(0, s^2)


# the kind -> handler registry (torchao's config-to-handler table is the model)
KINDS = {
    "none": RobustKind("natural", lambda r: "natural", lambda r, model, x, y, generator: x, robust=False),
    "pgd": RobustKind("pgd", lambda r: f"PGD-{r.steps} {r.norm} eps {r.eps:g} step {r.alpha:.4g} (random start)",
                      _pgd_inputs),
    "smoothing": RobustKind("smoothing", lambda r: f"Gaussian noise sigma {r.sigma:g}", _noisy_inputs),
}
PRETRAINING_OF = {kind: k.pretraining for kind, k in KINDS.items()}
ROBUST_KINDS = tuple(KINDS)
PRETRAININGS = tuple(PRETRAINING_OF.values())
IS_ROBUST = {k.pretraining: k.robust for k in KINDS.values()}


@dataclass(frozen=True)
class Robustness:
    kind: str = "none"  # none | pgd | smoothing
    norm: str = "linf"  # PGD ball
    eps: float = 0.1  # PGD radius in pixel units ([0, 1] images)
    steps: int = 3  # PGD steps of the inner maximisation
    step_size: float | None = None  # None: 2.5 * eps / steps (Madry et al.'s rule)
    sigma: float = 0.25  # smoothing: std of the Gaussian noise added to each training image

    def validate(self) -> None:
        if self.kind not in ROBUST_KINDS:
            raise OptionError(f"--robust must be one of {', '.join(ROBUST_KINDS)}, got {self.kind!r}")
        if self.norm not in NORMS:
            raise OptionError(f"--norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.eps < 0:
            raise OptionError(f"--eps must be >= 0, got {self.eps}; it is the attack radius in pixel units, e.g. 0.1")
        if self.steps < 1:
            raise OptionError(f"--pgd-steps must be >= 1, got {self.steps}")
        if self.step_size is not None and self.step_size <= 0:
            raise OptionError(f"--pgd-step-size must be > 0, got {self.step_size}")
        if self.sigma < 0:
            raise OptionError(f"--noise-sigma must be >= 0, got {self.sigma}")

    @property
    def pretraining(self) -> str:
        return KINDS[self.kind].pretraining

    @property
    def robust(self) -> bool:
        return KINDS[self.kind].robust

    @property
    def alpha(self) -> float:
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps

    def describe(self) -> str:
        return KINDS[self.kind].describe(self)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "norm": self.norm, "eps": self.eps, "steps": self.steps, "step_size": self.alpha,
                "sigma": self.sigma, "description": self.describe()}

    def training_inputs(self, model, x, y, generator=None):
        """The inputs to train on for the batch ``(x, y)``."""
        return KINDS[self.kind].inputs(self, model, x, y, generator)


def _l2_norm(v):
    return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def pgd_attack(model, x, y, eps: float, norm: str, steps: int, step_size: float, random_start: bool = True,
               generator=None):
    """Projected gradient ascent on the cross-entropy within the ``norm`` ball of radius
    ``eps`` around ``x`` (clamped to [0, 1]). The model runs in eval mode during the attack,
    so the attack does not move BatchNorm's running statistics; its mode is restored."""
    import torch
    import torch.nn.functional as F

    if eps == 0:
        return x.detach()
    was_training = model.training
    model.eval()
    x = x.detach()
    if random_start:
        if norm == "linf":
            delta = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
        else:
            direction = torch.randn(x.shape, generator=generator)
            radius = torch.rand((x.shape[0],), generator=generator).view(-1, *([1] * (x.dim() - 1))) * eps
            delta = direction / _l2_norm(direction) * radius
    else:
        delta = torch.zeros_like(x)
    delta = ((x + delta).clamp(0, 1) - x)
    try:
        for _ in range(steps):
            delta.requires_grad_(True)
            with torch.enable_grad():
                loss = F.cross_entropy(model(x + delta), y)
                (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                if norm == "linf":
                    delta = (delta + step_size * grad.sign()).clamp(-eps, eps)
                else:
                    delta = delta + step_size * grad / _l2_norm(grad)
                    delta = delta * (eps / _l2_norm(delta)).clamp(max=1.0)
                delta = (x + delta).clamp(0, 1) - x
    finally:
        model.train(was_training)
    return (x + delta).detach()
