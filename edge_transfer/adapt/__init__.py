"""``adapt(AdaptOptions) -> AdaptResult``: online linear fine-tuning on the device.

The frozen backbone (backbone.onnx on an engine of the registry, compiled once) turns
each arriving batch into features; a PyTorch linear head learns from them (the seed
paper's Section 3.6). Defaults follow the paper: SGD, momentum 0.9, weight decay 5e-4,
batch 64, lr 0.01 decayed x0.1 at epochs 50 and 100, RandomResizedCrop + flip.

``precompute`` is linear evaluation: features of the training split are extracted once and
a converged probe is fitted on them (``probe.fit_probe``: standardised features, L-BFGS
logistic regression; ``probe="sgd"`` runs the online recipe over the cached features
instead). A ticket source first gets fresh BatchNorm statistics on the task's training
images (``keep_bn_stats`` keeps the source's): the backbone runs frozen in eval mode, so
stale statistics would be baked into every feature.
"""

from .options import PROBES, RESULTS_FILE, AdaptOptions, AdaptResult  # noqa: F401
from .run import adapt  # noqa: F401
