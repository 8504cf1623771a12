"""The files of a deploy artifact beside its graph: the head with its feature statistics, the
labels, and the hash record of every file. Written by deploy (build.py) and by learning on
the device (save.py) alike."""

from __future__ import annotations

from pathlib import Path

from ..fileio import write_json
from .manifest import DeployManifest
from .options import HEAD_FILE, LABELS_FILE, MODEL_FILE


def write_head(out: Path, head, classes: list) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"weight": np.ascontiguousarray(head.weight, dtype=np.float32),
               "bias": np.ascontiguousarray(head.bias, dtype=np.float32),
               "feature_mean": np.asarray(head.mean, dtype=np.float64),
               "feature_m2": np.asarray(head.m2, dtype=np.float64),
               "feature_count": np.asarray([head.count], dtype=np.int64)}, str(out / HEAD_FILE))
    write_json(out / LABELS_FILE, [str(c) for c in classes])


def file_records(out: Path) -> dict:
    return {name: DeployManifest.file_entry(out / name) for name in (MODEL_FILE, HEAD_FILE, LABELS_FILE)}
