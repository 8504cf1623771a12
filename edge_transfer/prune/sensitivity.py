"""Per-layer sensitivity of a trained model on its task: the validation loss increase of pruning
one unit alone (its layers by magnitude within each layer, 1xB blocks where asked) to each
grid sparsity, with fresh BatchNorm statistics, in eval mode. The cost a speed-target
allocation minimises when the weights mean something (SPDY's per-layer error database)."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from ..fileio import write_json
from ..train import pixel_model, recalibrate_batchnorm
from .magnitude import masks_from_scores

CALIBRATION_BATCHES = 2  # training batches of 64 that re-estimate BatchNorm after each pruning
VAL_IMAGES = 256  # validation images the loss is measured on


def cache_dir() -> Path:
    """Where measured profiles' companions (sensitivities) are kept: $EDGE_TRANSFER_CACHE, else
    ~/.cache/edge-transfer."""
    root = os.environ.get("EDGE_TRANSFER_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-transfer"
    return Path(root)


def unit_sensitivity(model, units: list, grid, block: int, data, mean, std, key: dict, log=lambda _m: None) -> list:
    """``[[loss increase of unit i at grid[j]]]``, cached under ``key`` (what it depends on:
    checkpoint hash, data, limit, input size, block, grid, units)."""
    import hashlib

    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache_dir() / "sensitivity" / f"{digest}.json"
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == json.loads(json.dumps(key, default=str)):
            log(f"per-layer sensitivity from the cache ({path})")
            return cached["loss_increase"]
    except (OSError, ValueError, AttributeError):
        pass  # absent or damaged: measured again
    log(f"measuring per-layer sensitivity on {key.get('data')} ({len(units)} units x {len(grid) - 1} sparsities)")
    rows = _measure(model, units, grid, block, data, mean, std, log)
    try:
        write_json(path, {"key": key, "loss_increase": rows})
    except Exception:  # noqa: BLE001 - a cache that cannot be written is only a cache
        pass
    return rows


def _measure(model, units, grid, block, data, mean, std, log) -> list:
    import copy

    import torch
    import torch.nn.functional as F

    net = pixel_model(model, mean, std)
    calibration = list(itertools.islice(data.train_batches(64, 0), CALIBRATION_BATCHES))
    val = []
    for x, y in data.val_batches(256):
        val.append((x, y))
        if sum(len(b[1]) for b in val) >= VAL_IMAGES:
            break

    def loss() -> float:
        recalibrate_batchnorm(net, calibration)
        net.eval()
        with torch.no_grad():
            total = sum(float(F.cross_entropy(net(x), y, reduction="sum")) for x, y in val)
        return total / sum(len(y) for _, y in val)

    state = copy.deepcopy(model.state_dict())
    params = dict(model.named_parameters())
    base = loss()
    rows = []
    for i, unit in enumerate(units):
        row = []
        for sparsity in grid:
            if sparsity == 0:
                row.append(0.0)
                continue
            with torch.no_grad():
                for name in unit:
                    w = params[name]
                    w.mul_(masks_from_scores({name: w.abs()}, sparsity, "layer", block)[name])
            row.append(max(0.0, loss() - base))
            model.load_state_dict(state)
        rows.append(row)
        log(f"sensitivity {i + 1}/{len(units)} {', '.join(unit)}: " + ", ".join(f"{s:g}: +{d:.3f}" for s, d in zip(grid, row)))
    model.load_state_dict(state)
    return rows
