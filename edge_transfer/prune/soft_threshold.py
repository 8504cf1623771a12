"""Soft Threshold Reparameterization (STR; Kusupati et al., ICML 2020): every prunable layer
``l`` computes with ``W_eff = sign(W) * relu(|W| - sigmoid(s_l))``, one learnable scalar
``s_l`` per layer, and the whole model (BatchNorm included) trains on the source task with
SGD and weight decay on both W and s. The decay on s pulls it towards 0, raising the
threshold; the loss pulls each layer's threshold down as far as it needs that layer's
weights, so STR learns how sparse each layer gets.

The paper reaches a sparsity by tuning ``s_init`` and the decay by hand. A ticket must hold
exactly ``--sparsity``, so two things are added:

1. A controller sets the threshold decay after every step. The decay of s is decoupled from
   the optimiser (``s *= 1 - eta``, AdamW-style; s still takes the loss gradient with
   momentum, W keeps ``--weight-decay``) and ``eta = decay_step(ramp, sparsity, target)``:
   proportional to how far the share of ``W_eff`` that is zero lags a ramp that rises
   linearly to the target over the first ``RAMP_FRACTION`` of the steps and then holds it,
   capped at ``MAX_DECAY``, and 0 once the sparsity is at or past the ramp, where the loss
   alone moves the thresholds (down, as the kept weights ask). With ``--scope layer`` each
   layer is steered by its own sparsity; with ``--scope global`` one eta, steered by the
   overall sparsity, decays every layer's s alike, as the paper's shared decay does, so the
   loss decides how the sparsity splits across layers.
2. A projection onto the exact count at the end: the ticket keeps the ``round(target * n)``
   weights (per ``--scope``) with the largest margin ``|W| - g_l`` (the largest ``|W_eff|``;
   among STR's zeros, those nearest their threshold), and its weights are ``W_eff``. Where STR
   pruned more than the target, the kept weights it had zeroed would stay zero and the ticket
   would hold more zeros than its mask says: there the thresholds are lowered by the least
   amount that makes them non-zero (to the largest pruned margin), STR's own function at a
   slightly lower threshold. ``params`` records how many weights the projection moved.
"""

from __future__ import annotations

import copy
import math
import time

from ..train import make_optimizer, pixel_model, train_epochs
from ._registry import DrawContext, Drawn, register_method
from .magnitude import masks_from_scores

# sigmoid(-10) = 4.5e-5, far below conv weight magnitudes (1e-3 to 1e-1): training starts dense
S_INIT = -10.0
RAMP_FRACTION = 0.75  # the ramp reaches the target at 3/4 of the steps, then holds it
# The decay removes at most 5% of s per step: at s = -4 the threshold grows at most 22% a
# step, so from S_INIT a run can reach 90% in about 25 steps (ramped over more, it tracks)
MAX_DECAY = 0.05
GAIN = 10.0  # full decay once the sparsity lags the ramp by a tenth of the target


def ramp(step: int, ramp_steps: int, target: float) -> float:
    """The sparsity the controller asks for after ``step`` steps."""
    return target * min(1.0, step / max(ramp_steps, 1))


def decay_step(ramp_sparsity: float, sparsity: float, target: float) -> float:
    """The share of s the decay removes this step (a proportional controller, see the module).

    Why decoupled and proportional: through the optimiser's momentum a multiplicative
    controller acted ~1/(1 - momentum) steps late and overshot; measured on resnet18-cifar,
    s ran past 0, every weight fell under the threshold and, relu passing no gradient there,
    the model could not recover. Without momentum the decay stops the step the ramp is met.
    """
    if target <= 0:
        return 0.0
    return MAX_DECAY * min(max(GAIN * (ramp_sparsity - sparsity) / target, 0.0), 1.0)


def _soft(w, threshold):
    import torch

    return torch.sign(w) * torch.relu(w.abs() - threshold)


def _str_module(ctx: DrawContext, s: dict):
    """The source model computing with soft-thresholded prunable weights (gradients reach W and s)."""
    import torch
    from torch.func import functional_call

    net = pixel_model(ctx.model, ctx.cfg.mean, ctx.cfg.std)

    class _SoftThresholded(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            eff = {f"model.{n}": _soft(w, torch.sigmoid(s[n])) for n, w in ctx.weights.items()}
            return functional_call(self.net, eff, (x,), strict=False)

    return _SoftThresholded()


def _groups(weights: dict, scope: str) -> dict:
    """Control units: each layer on its own (layer scope), or one unit of every layer (global)."""
    return {n: [n] for n in weights} if scope == "layer" else {"all": list(weights)}


def _zeros(weights: dict, s: dict) -> dict:
    """How many of each layer's weights STR zeroes now (|W| <= sigmoid(s))."""
    import torch

    with torch.no_grad():
        return {n: int((w.abs() <= torch.sigmoid(s[n])).sum()) for n, w in weights.items()}


def _projected(weights: dict, s: dict, target: float, scope: str) -> tuple[dict, dict, dict]:
    """Exact-count masks, the ticket's weights and the figures (see the module's point 2)."""
    import torch

    with torch.no_grad():
        g = {n: torch.sigmoid(s[n]) for n in weights}
        margin = {n: w.abs() - g[n] for n, w in weights.items()}
        masks = masks_from_scores(margin, target, scope)
        shift = {}
        for unit in _groups(weights, scope).values():
            cut = max(float(torch.where(masks[n], -math.inf, margin[n]).max()) for n in unit)  # largest pruned
            for n in unit:
                # nothing pruned (target 0): the threshold drops to 0 and the kept weights are W itself
                shift[n] = min(cut, 0.0) if cut > -math.inf else -float(g[n])
        values = {n: _soft(w, g[n] + shift[n]) * masks[n] for n, w in weights.items()}
        str_zeros = {n: w.abs() <= g[n] for n, w in weights.items()}
        total = sum(w.numel() for w in weights.values())
        figures = {
            "str_sparsity": round(sum(int(z.sum()) for z in str_zeros.values()) / total, 6),
            # weights whose pruned / kept state the projection changed (both directions)
            "projected": sum(int((masks[n] == str_zeros[n]).sum()) for n in weights),
            "threshold_lowered_by": round(max(0.0, -min(shift.values(), default=0.0)), 8),
            "kept_zeros": sum(int((masks[n] & (values[n] == 0)).sum()) for n in weights),  # exact ties only
        }
    return masks, values, figures


@register_method("str", trains=True, draws_on="source",
                 summary="soft threshold reparameterization (STR): learned per-layer thresholds, steered to the target")
def _str(ctx: DrawContext, targets: list):
    import torch

    opts, tr = ctx.opts, ctx.opts.train
    for p in ctx.model.parameters():
        p.requires_grad_(True)
    source_state = copy.deepcopy(ctx.model.state_dict())
    units = _groups(ctx.weights, opts.scope)
    sizes = {u: sum(ctx.weights[n].numel() for n in names) for u, names in units.items()}
    steps = tr.epochs * ctx.data.steps_per_epoch(tr.batch_size)
    ramp_steps = max(1, round(RAMP_FRACTION * steps))
    generator = torch.Generator().manual_seed(tr.seed)
    for target in targets:
        t0 = time.perf_counter()
        ctx.model.load_state_dict(source_state)
        torch.manual_seed(tr.seed)
        s = {n: torch.full((), S_INIT, requires_grad=True) for n in ctx.weights}
        # s takes the loss gradient with momentum; its decay is the controller's, after each step
        optimizer = make_optimizer([{"params": list(ctx.model.parameters())},
                                    {"params": list(s.values()), "weight_decay": 0.0}], tr.lr, tr.momentum,
                                   tr.weight_decay)
        model = _str_module(ctx, s)
        done, current, decayed = [0], {u: 0.0 for u in units}, {u: 0.0 for u in units}

        def steer():
            done[0] += 1
            zeros = _zeros(ctx.weights, s)
            with torch.no_grad():
                for u, names in units.items():
                    current[u] = sum(zeros[n] for n in names) / sizes[u]
                    eta = decay_step(ramp(done[0], ramp_steps, target), current[u], target)
                    decayed[u] += eta
                    for n in names:
                        s[n].mul_(1 - eta)

        def overall() -> float:
            return sum(current[u] * sizes[u] for u in units) / sum(sizes.values())

        history, stats = [], {}
        for epoch, _lr, stats in train_epochs(model, optimizer, ctx.data, tr, desc=f"str {target:.0%}",
                                              after_step=steer, generator=generator,
                                              postfix=lambda: {"sparsity": f"{overall():.1%}"}):
            history.append({"epoch": epoch + 1, "train_loss": round(stats["loss"], 5),
                            "train_acc": round(stats["acc"], 5), "str_sparsity": round(overall(), 5)})
        masks, values, figures = _projected(ctx.weights, s, target, opts.scope)
        with torch.no_grad():
            for n, w in ctx.weights.items():
                w.copy_(values[n])  # the ticket's weights: W_eff, projected
        seconds = round(time.perf_counter() - t0, 2)
        ctx.log(f"str {target:.0%}: soft thresholds reached {figures['str_sparsity']:.2%}, the projection moved "
                f"{figures['projected']:,} weights (train loss {stats.get('loss', float('nan')):.3f}, {seconds:.1f}s)")
        mean_decay = sum(decayed.values()) / len(units) / max(done[0], 1)
        yield Drawn(target, masks, {**_params(s, mean_decay), **figures, "epochs": tr.epochs, "steps": done[0],
                                    "train_loss": stats.get("loss"), "train_acc": stats.get("acc"),
                                    "history": history, "seconds": seconds})


def _params(s: dict, mean_decay: float) -> dict:
    """STR's settings and where its learned thresholds ended, for ticket.json."""
    import torch

    thresholds = sorted(float(torch.sigmoid(v.detach())) for v in s.values())
    return {"threshold_fn": "sigmoid", "s_init": S_INIT, "ramp_fraction": RAMP_FRACTION,
            "threshold_decay": {"max_per_step": MAX_DECAY, "gain": GAIN, "mean_per_step": round(mean_decay, 8)},
            "thresholds": {"min": round(thresholds[0], 8), "median": round(thresholds[len(thresholds) // 2], 8),
                           "max": round(thresholds[-1], 8)}}
