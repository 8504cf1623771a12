"""The fake-quantized PyTorch model: the reference every INT8 export must match.

Placement (chosen by measurement, see benchmarks/README.md): every tensor that enters a
convolution, a linear layer or a residual add is quantized once, uint8 asymmetric with
min/max calibration. Quantizing the add's inputs too puts a QuantizeLinear after almost
every convolution, which is what lets sparseml's exporter turn them into QLinearConv
(uint8 in, uint8 out): DeepSparse then runs the network in INT8 end to end. With only the
conv inputs quantized, the 90% block-4 resnet50 ran at about half the speed.

Weights: int8, per-tensor symmetric, zero point 0, so a pruned weight is exactly zero in
INT8. (Per-channel scales failed to compile in DeepSparse 1.8 in an earlier probe.)
"""

from __future__ import annotations

import operator

from ..export.graph import fold_batchnorm

ACT_QMIN, ACT_QMAX = 0, 255  # uint8 activations
W_QMIN, W_QMAX = -128, 127  # int8 weights; symmetric scales use +-127 (narrow range)
W_LEVELS = 127


def _nn():
    import torch.nn as nn

    return nn


def activation_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Scale and zero point of a uint8 grid covering [lo, hi] and always 0 (so ReLU outputs
    get zero point 0, which lets the exporter fold the ReLU into the quantize)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max((hi - lo) / (ACT_QMAX - ACT_QMIN), 1e-8)
    zero_point = int(min(max(round(ACT_QMIN - lo / scale), ACT_QMIN), ACT_QMAX))
    return scale, zero_point


def weight_scale(weight) -> float:
    return max(float(weight.detach().abs().max()) / W_LEVELS, 1e-12)


class ActivationQuant(_nn().Module):
    """Observes min/max while ``observing``; afterwards fake-quantizes with the frozen range."""

    def __init__(self):
        super().__init__()
        self.observing = True
        self.lo, self.hi = float("inf"), float("-inf")

    def forward(self, x):
        import torch

        if self.observing:
            self.lo = min(self.lo, float(x.detach().min()))
            self.hi = max(self.hi, float(x.detach().max()))
            return x
        scale, zero_point = activation_qparams(self.lo, self.hi)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, ACT_QMIN, ACT_QMAX)


class WeightQuantLayer(_nn().Module):
    """A conv or linear layer whose weight is fake-quantized on every call (so QAT sees the
    current weights). Parameters keep the layer's own names (``<layer>.weight``)."""

    def __init__(self, layer):
        super().__init__()
        nn = _nn()
        self.weight, self.bias = layer.weight, layer.bias
        self.conv = None
        if isinstance(layer, nn.Conv2d):
            if layer.padding_mode != "zeros":
                raise NotImplementedError(f"padding_mode {layer.padding_mode!r}")
            self.conv = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)

    def forward(self, x):
        import torch
        import torch.nn.functional as F

        w = torch.fake_quantize_per_tensor_affine(self.weight, weight_scale(self.weight), 0, W_QMIN, W_QMAX)
        if self.conv is not None:
            return F.conv2d(x, w, self.bias, **self.conv)
        return F.linear(x, w, self.bias)


def _set_module(root, dotted: str, module) -> None:
    parent, _, child = dotted.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


def fake_quantize(model):
    """A BN-folded, fake-quantized copy of ``model`` (an fx GraphModule), observers on."""
    import torch

    nn = _nn()
    gm = fold_batchnorm(model)
    graph = gm.graph
    quantized = {}  # producer node -> its one ActivationQuant node

    def quantize_input(src):
        if src not in quantized:
            name = f"act_quant_{len(quantized)}"
            gm.add_module(name, ActivationQuant())
            with graph.inserting_after(src):
                quantized[src] = graph.call_module(name, (src,))
        return quantized[src]

    for node in list(graph.nodes):
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), (nn.Conv2d, nn.Linear)):
            node.args = (quantize_input(node.args[0]), *node.args[1:])
            _set_module(gm, node.target, WeightQuantLayer(gm.get_submodule(node.target)))
        elif node.op == "call_function" and node.target in (operator.add, operator.iadd, torch.add):
            node.args = (*(quantize_input(a) if hasattr(a, "op") else a for a in node.args[:2]), *node.args[2:])
    graph.lint()
    gm.recompile()
    return gm.eval()


def calibrate(fq_model, batches) -> int:
    """Run ``batches`` (float NCHW tensors) through the observers, then freeze them."""
    import torch

    seen = 0
    with torch.no_grad():
        for x in batches:
            fq_model(x)
            seen += len(x)
    set_observing(fq_model, False)
    return seen


def set_observing(fq_model, observing: bool) -> None:
    for module in fq_model.modules():
        if isinstance(module, ActivationQuant):
            module.observing = observing


def copy_ranges(src, dst) -> None:
    """Give ``dst`` (e.g. the backbone) the frozen ranges of ``src`` (the classifier) for
    the activations both have, matched by name."""
    ranges = {n: (m.lo, m.hi) for n, m in src.named_modules() if isinstance(m, ActivationQuant)}
    for name, module in dst.named_modules():
        if isinstance(module, ActivationQuant) and name in ranges:
            module.lo, module.hi = ranges[name]
            module.observing = False
