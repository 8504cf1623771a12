"""Per-layer statistics of a (masked) model: shape, params, zeros, dense and remaining MACs."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class LayerRecord:
    name: str  # parameter name, e.g. "layer1.0.conv1.weight"
    shape: list[int]
    params: int
    zeros: int  # exactly-zero weights in the stored tensor
    pruned: int  # weights the mask removes (<= zeros: a weight may already be 0)
    sparsity: float  # zeros / params
    prunable: bool
    macs: int  # multiply-accumulates of the dense layer for one image
    remaining_macs: int  # macs scaled by the fraction of nonzero weights

    def to_dict(self) -> dict:
        return asdict(self)


def conv_linear_macs(model, input_size) -> dict[str, int]:
    """Dense MACs per conv/linear weight for one image, from one forward pass."""
    import torch
    from torch import nn

    macs: dict[str, int] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):

            def conv_hook(mod, _inp, out, _n=name):
                kh, kw = mod.kernel_size
                macs[f"{_n}.weight"] = out.shape[1] * out.shape[2] * out.shape[3] * (mod.in_channels // mod.groups) * kh * kw

            hooks.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):

            def linear_hook(mod, _inp, _out, _n=name):
                macs[f"{_n}.weight"] = mod.in_features * mod.out_features

            hooks.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_size))
    finally:
        for h in hooks:
            h.remove()
    return macs


def layer_records(model, masks: dict, input_size) -> list[LayerRecord]:
    """One record per conv/linear weight, in model order; ``masks`` names the prunable ones."""
    macs = conv_linear_macs(model, input_size)
    params = dict(model.named_parameters())
    records = []
    for name, dense_macs in macs.items():
        weight = params[name].detach()
        zeros = int((weight == 0).sum())
        mask = masks.get(name)
        n = weight.numel()
        records.append(
            LayerRecord(
                name=name,
                shape=list(weight.shape),
                params=n,
                zeros=zeros,
                pruned=int((~mask).sum()) if mask is not None else 0,
                sparsity=zeros / n,
                prunable=mask is not None,
                macs=int(dense_macs),
                remaining_macs=round(dense_macs * (n - zeros) / n),
            )
        )
    return records


def summarise(records: list[LayerRecord]) -> dict:
    """Totals over the prunable set, and the FLOP-proportional ideal speedup.

    Ideal speedup = dense MACs / remaining MACs over every conv and linear layer
    (dense ones included); pooling, BN and activations are ignored.
    """
    prunable = [r for r in records if r.prunable]
    p_params = sum(r.params for r in prunable)
    p_zeros = sum(r.zeros for r in prunable)
    macs = sum(r.macs for r in records)
    remaining = sum(r.remaining_macs for r in records)
    return {
        "prunable_params": p_params,
        "prunable_zeros": p_zeros,
        "achieved_sparsity": p_zeros / p_params if p_params else 0.0,
        "total_params": sum(r.params for r in records),
        "dense_macs": macs,
        "remaining_macs": remaining,
        "ideal_speedup": macs / remaining if remaining else float("inf"),
    }
