"""Classification figures shared by adapt, finetune and the study."""

from __future__ import annotations


def accuracy(preds, labels, num_classes: int) -> dict:
    """Top-1 and mean per-class accuracy (the sparse-transfer paper reports the latter for
    unbalanced sets) of integer ``preds`` against ``labels``."""
    import numpy as np

    top1 = float((preds == labels).mean()) if len(labels) else 0.0
    per_class = [float((preds[labels == c] == c).mean()) for c in range(num_classes) if (labels == c).any()]
    return {"top1": top1, "mean_class_acc": float(np.mean(per_class)) if per_class else 0.0}


def correct_bits(preds, labels) -> str:
    """Which validation images were classified correctly, as "N:BASE64" (N images, one bit
    each in the validation order): what a bootstrap over validation images needs, in ~N/6
    characters."""
    import base64

    import numpy as np

    right = np.asarray(preds) == np.asarray(labels)
    return f"{right.size}:" + base64.b64encode(np.packbits(right).tobytes()).decode()


def read_correct_bits(text: str):
    """The bool array that ``correct_bits`` packed."""
    import base64

    import numpy as np

    n, _, packed = text.partition(":")
    return np.unpackbits(np.frombuffer(base64.b64decode(packed), dtype=np.uint8), count=int(n)).astype(bool)
