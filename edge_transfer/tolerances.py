"""Every numerical tolerance of the package, declared once beside what it tolerates. It imports
only the precision vocabulary (formats), so any stage may read it without pointing up.

Relative figures are max |output - reference| / max |reference| (scale-free, so untrained nets
compare fairly) unless a name says otherwise."""

from __future__ import annotations

from .formats import INT8

# FP32 engines against PyTorch on an FP32 graph (a backbone may declare its own in its cfg)
FP32_TOLERANCE = 1e-3
# engines that run FP32 graphs in bf16 or f16 (OpenVINO's default on bf16 CPUs), and INT8
# graphs against their own FP32 reference, when bench checks every output it times
REDUCED_PRECISION_TOLERANCE = 0.05
# INT8 graphs against the FP32 model, root-mean-square relative: engines accumulate in exact
# int32 and PyTorch in float32, so activations near a rounding tie land one uint8 step apart and
# the flips compound through the layers. Measured: 4e-3 to 5e-3 on a 50% ticket, 4.2e-2 on the
# features of a fine-tuned 90% ticket whose top-1 agreed on 500 of 500 images (max element
# there: 5.6e-2). Decisions are gated by agreement/accuracy.
INT8_TOLERANCE = 0.1
# a deployed artifact's folded head (FP32 Gemm and softmax) against float64, absolute, on
# probabilities; and its folded preprocessing (uint8 NHWC in) against the unfolded graph
HEAD_TOLERANCE = 1e-4
FOLDED_PREPROCESSING_TOLERANCE = 1e-4


def parity_tolerance(base: float, precision: str, inference_precision: str | None = None) -> float:
    """The tolerance a timed output is held to: ``base`` for an FP32 graph run in FP32, at least
    REDUCED_PRECISION_TOLERANCE for an INT8 graph or an engine computing in bf16/f16."""
    reduced = precision == INT8 or inference_precision in ("bf16", "f16")
    return max(base, REDUCED_PRECISION_TOLERANCE) if reduced else base
