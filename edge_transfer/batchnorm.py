"""Tickets with fresh BatchNorm statistics for a task.

A ticket keeps its dense source's running statistics while pruning shrinks the activations,
so in eval mode its features are badly scaled or collapse (see
``train.recalibrate_batchnorm``). Linear evaluation runs the backbone frozen in eval mode,
so it needs statistics of the pruned net on the task's own images: this writes a copy of
the ticket with them, and records it in the copy's ticket.json.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .ticket import DENSE_FILE, load_ticket, save_ticket
from .train import TrainSettings, load_train_data, pixel_model, recalibrate_batchnorm


def _norm_buffers(model) -> dict:
    import torch

    return {f"{name}.{buf}": getattr(m, buf).detach().clone() for name, m in model.named_modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
            for buf in ("running_mean", "running_var", "num_batches_tracked")}


def recalibrated_ticket(ticket_path: Path, data: str, output: Path, *, val: str | None = None,
                        limit: int | None = None, with_dense: bool = False, batch_size: int = 64,
                        seed: int = 0, norm: tuple | None = None) -> dict:
    """Write to ``output`` (a new folder) ``ticket_path`` with its BatchNorm statistics
    re-estimated on the training images of ``data`` (at most ``limit``, the same subset
    every stage uses), at the ticket's input size and without augmentation. With
    ``with_dense`` the dense baseline's statistics are re-estimated too, on its own
    activations. ``norm`` (mean, std) replaces the ticket's input normalisation, for callers
    that feed the backbone differently normalised images. Returns the ``batchnorm`` record
    written into the copy's ticket.json."""
    from safetensors.torch import load_file

    ticket = load_ticket(Path(ticket_path))
    meta = ticket.meta
    settings = TrainSettings(data=data, val=val, epochs=1, seed=seed, limit=limit, augment=False)
    train = load_train_data(settings, meta.input_size)
    mean, std = norm or (meta.mean, meta.std)
    images = recalibrate_batchnorm(pixel_model(ticket.model, mean, std), train.train_batches(batch_size, seed))
    dense_values = load_file(str(ticket.path / DENSE_FILE))
    if with_dense:
        dense = ticket.dense_model()
        recalibrate_batchnorm(pixel_model(dense, mean, std), train.train_batches(batch_size, seed))
        dense_values.update(_norm_buffers(dense))  # dense.safetensors overrides the ticket's state
    record = {"recalibrated": True, "data": data, "images": images, "dense_too": with_dense,
              "source_ticket": str(ticket_path)}
    meta = dataclasses.replace(meta, batchnorm=record)
    Path(output).mkdir(parents=True)
    save_ticket(Path(output), ticket.model.eval(), ticket.masks, dense_values, meta)
    return record
