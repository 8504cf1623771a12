"""Robust training pieces: PGD's inner maximisation, its projection, noise, the step schedule."""

import pytest
import torch

from edge_transfer.train import Robustness, pgd_attack, step_lr
from edge_transfer.train.loop import train_epoch


def _trained_tiny_model():
    """A small convnet fitted to separable synthetic data, so attacks have a margin to erode."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(32, 3))
    x = torch.rand(96, 1, 8, 8)
    y = torch.arange(96) % 3
    for c in range(3):  # class c: brighter in band c
        x[y == c, :, 2 * c : 2 * c + 2] = (x[y == c, :, 2 * c : 2 * c + 2] + 0.5).clamp(max=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for _ in range(3):
        train_epoch(model, opt, [(x[i : i + 32], y[i : i + 32]) for i in range(0, 96, 32)], progress=False)
    return model.eval(), x, y


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_increases_the_loss_and_stays_in_the_ball(norm):
    model, x, y = _trained_tiny_model()
    eps = 0.1 if norm == "linf" else 0.5
    loss = torch.nn.functional.cross_entropy
    clean = float(loss(model(x), y).detach())
    adv = pgd_attack(model, x, y, eps, norm, steps=5, step_size=2.5 * eps / 5, generator=torch.Generator().manual_seed(0))
    attacked = float(loss(model(adv), y).detach())
    assert attacked > clean * 1.05, (clean, attacked)
    delta = (adv - x).flatten(1)
    size = delta.abs().max(dim=1).values if norm == "linf" else delta.norm(dim=1)
    assert float(size.max()) <= eps + 1e-5
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1


def test_aimp_inner_maximisation_is_the_pgd_attack():
    """aimp trains on Robustness.training_inputs: those inputs must raise the loss."""
    model, x, y = _trained_tiny_model()
    model.train()
    robust = Robustness(kind="pgd", eps=0.1, steps=3)
    adv = robust.training_inputs(model, x, y, torch.Generator().manual_seed(1))
    loss = torch.nn.functional.cross_entropy
    assert float(loss(model(adv), y).detach()) > float(loss(model(x), y).detach())
    assert model.training is True  # the attack ran in eval mode and gave the caller's mode back


def test_smoothing_adds_gaussian_noise_and_natural_is_identity():
    x = torch.full((256, 1, 8, 8), 0.5)
    noisy = Robustness(kind="smoothing", sigma=0.25).training_inputs(None, x, None, torch.Generator().manual_seed(0))
    assert abs(float((noisy - x).std()) - 0.25) < 0.01
    assert Robustness(kind="none").training_inputs(None, x, None) is x


@pytest.mark.parametrize("kwargs, fragment", [({"eps": -0.1}, "--eps"), ({"kind": "fgsm"}, "--robust"),
                                              ({"norm": "l1"}, "--norm"), ({"steps": 0}, "--pgd-steps")])
def test_bad_robust_settings(kwargs, fragment):
    from edge_transfer.errors import OptionError

    with pytest.raises(OptionError, match=fragment):
        Robustness(**kwargs).validate()


def test_step_decay_matches_the_papers_schedule():
    assert [step_lr(0.01, e, 150) for e in (0, 49, 50, 99, 100, 149)] == pytest.approx(
        [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001])
    assert step_lr(0.01, 0, 1) == 0.01
