"""Classification figures shared by adapt, finetune and the study."""

from __future__ import annotations


def accuracy(preds, labels, num_classes: int) -> dict:
    """Top-1 and mean per-class accuracy (the sparse-transfer paper reports the latter for
    unbalanced sets) of integer ``preds`` against ``labels``."""
    import numpy as np

    top1 = float((preds == labels).mean()) if len(labels) else 0.0
    per_class = [float((preds[labels == c] == c).mean()) for c in range(num_classes) if (labels == c).any()]
    return {"top1": top1, "mean_class_acc": float(np.mean(per_class)) if per_class else 0.0}
