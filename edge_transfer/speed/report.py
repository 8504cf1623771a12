"""A speed profile in words and as a plot."""

from __future__ import annotations

from pathlib import Path

from ..plots import save_figure, two_panels
from .record import SpeedProfile


def profile_lines(profile: SpeedProfile) -> list[str]:
    """First what no sparsity can speed up, then the units that gain the most."""
    k, grid = profile.key, profile.grid
    lines = [f"{profile.static_fraction():.0%} of the dense model's analysed time is in what sparsity cannot speed up "
             f"(stem, pooling, head, adds: {profile.fixed_ms[0]:.2f} of "
             f"{profile.fixed_ms[0] + sum(u['ms'][0] for u in profile.units):.2f} ms)",
             f"{k.arch} {k.precision} block {k.block} on {k.engine} {k.engine_version}, batch {k.batch_size}, "
             f"{k.cores} cores, {k.cpu}; {profile.method}",
             f"whole model measured: " + ", ".join(f"{s:g}: {ms:.2f} ms" for s, ms in zip(grid, profile.measured_ms)),
             f"best predicted speedup (every unit at its fastest): "
             f"{profile.dense_ms / profile.fastest_ms:.2f}x"]
    gains = sorted(profile.units, key=lambda u: u["ms"][-1] - u["ms"][0])
    lines.append("units by time saved at the highest sparsity:")
    lines += [f"  {_unit_name(u)}: {u['ms'][0]:.3f} -> {u['ms'][-1]:.3f} ms" for u in gains[:8]]
    slow = max(profile.units, key=lambda u: u["ms"][-1])
    lines.append(f"slowest unit at the highest sparsity: {_unit_name(slow)}, {slow['ms'][0]:.3f} -> {slow['ms'][-1]:.3f} ms")
    return lines


def _unit_name(unit: dict) -> str:
    """A fused unit by its first and last layer and its size."""
    names = [n.removesuffix(".weight") for n in unit["layers"]]
    return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]} ({len(names)} layers fused)"


def plot_profile(profile: SpeedProfile, path: Path) -> None:
    fig, (left, right) = two_panels()
    for unit in profile.units:
        label = _unit_name(unit)
        left.plot(profile.grid, unit["ms"], marker=".", label=label if len(profile.units) <= 20 else None)
    left.plot(profile.grid, profile.fixed_ms, "k--", label="fixed (not prunable)")
    left.set(xlabel="sparsity of the unit", ylabel="ms (engine analysis)", title="time per unit")
    right.plot(profile.grid, profile.measured_ms, "o-", label="measured, uniform sparsity")
    right.set(xlabel="sparsity of every layer", ylabel="ms per batch", title="whole model")
    save_figure(fig, (left, right), path)
