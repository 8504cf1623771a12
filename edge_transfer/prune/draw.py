"""``draw_ticket(PruneOptions) -> PruneResult`` and ``draw_tickets(opts, {sparsity: folder})``:
load (or randomly initialise) the source model, run the registered scheme, write each ticket
folder atomically."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Callable

from .. import __version__
from ..backbones import create_backbone, get_backbone_cfg, prunable_parameters, replace_head
from ..checkpoint import load_pretrained
from ..errors import OptionError, TicketError
from ..fileio import atomic_output_dir, check_output_dir, sha256_file
from ..formats import TICKET_SCHEMA, TicketMeta, UNTRAINED_LABEL
from ..layers import layer_records, summarise
from ..speed import SpeedProfile, allocate
from ..speed.record import check_profile_here
from ..speed.solve import UnreachableTarget
from ..ticket import MASKS_FILE, load_ticket_meta, save_ticket
from ..train import load_train_data
from ..train.attacks import IS_ROBUST
from ._registry import Drawn, DrawContext, get_method
from .magnitude import magnitude_removed
from .options import PruneOptions, PruneResult
from .sensitivity import unit_sensitivity


def _source_model(opts: PruneOptions):
    """The model to prune and the ``source`` block of ticket.json."""
    import torch

    if opts.checkpoint is None:
        torch.manual_seed(opts.seed)
        model = create_backbone(opts.arch)
        return model, {"checkpoint": None, "sha256": None, "layout": None, "pretraining": "untrained"}
    model, info = load_pretrained(opts.arch, opts.checkpoint, opts.trust_checkpoint)
    return model, {
        "checkpoint": info.path,
        "sha256": info.sha256,
        "layout": info.layout,
        "pretraining": opts.pretraining,
    }


def _check_block_fits(opts: PruneOptions, model, cfg) -> None:
    """With --block B, every prunable layer's input channels (per group) must split into whole blocks."""
    if opts.block == 1:
        return
    for name, w in prunable_parameters(model, cfg, opts.prune_first_conv).items():
        if w.shape[1] % opts.block:
            grouped = getattr(model.get_submodule(name.rpartition(".")[0]), "groups", 1) > 1
            fix = ("drop --prune-first-conv or use --block 1" if name == f"{cfg.first_conv}.weight"
                   else f"use --block 1 for {opts.arch}")
            raise OptionError(f"--block {opts.block} needs input channels divisible by {opts.block}, but {name} has "
                              f"{w.shape[1]}{' per group (a depthwise or grouped conv)' if grouped else ''}; {fix}")


def _fit_head(model, cfg, num_classes: int, seed: int) -> bool:
    """Give the model a fresh dense head when the training data has another class count."""
    import torch

    if model.get_submodule(cfg.head).out_features == num_classes:
        return False
    torch.manual_seed(seed)
    replace_head(model, cfg, num_classes)
    return True


def _masks_from_ticket(path: Path, arch: str, weights: dict) -> tuple[dict, TicketMeta]:
    from safetensors.torch import load_file

    meta = load_ticket_meta(path)
    if meta.arch != arch:
        raise TicketError(f"--mask-from ticket {path} is a {meta.arch} ticket; its mask does not fit --arch {arch}")
    masks = {k: v.bool() for k, v in load_file(str(Path(path) / MASKS_FILE)).items()}
    if set(masks) != set(weights) or any(masks[k].shape != weights[k].shape for k in weights):
        raise TicketError(f"--mask-from ticket {path} prunes other layers than this run "
                          "(compare --prune-first-conv); draw both with the same prunable set")
    return masks, meta


def draw_tickets(opts: PruneOptions, outputs: dict[float, Path],
                 log: Callable[[str], None] = lambda _m: None) -> list[PruneResult]:
    """Draw one ticket per ``{sparsity: output folder}`` with ``opts.method`` (``opts.sparsity``
    and ``opts.output`` are ignored); iterative schemes reach them all in one run."""
    opts.validate()
    if opts.per_layer and len(outputs) != 1:
        raise OptionError("an allocation draws one ticket; give one output")
    for sparsity, output in outputs.items():
        if not opts.per_layer and not 0.0 <= sparsity < 1.0:
            raise OptionError(f"--sparsity must be in [0, 1), got {sparsity}; e.g. --sparsity 0.9 for 90% zeros")
        check_output_dir(output, opts.force, (opts.checkpoint, opts.mask_from))
    cfg = get_backbone_cfg(opts.arch)
    method = get_method(opts.method)
    start = time.perf_counter()
    model, source = _source_model(opts)
    _check_block_fits(opts, model, cfg)  # before data is loaded; nothing is written yet
    input_size = opts.train.input_size(cfg.input_size)
    data, new_head = None, False
    if method.trains and opts.mask_from is None:
        data = load_train_data(opts.train, input_size, log)
        new_head = _fit_head(model, cfg, data.num_classes, opts.seed)
    weights = prunable_parameters(model, cfg, opts.prune_first_conv)
    dense_values = {name: w.detach().clone() for name, w in weights.items()}
    allocation = None
    if opts.speed_target:
        allocation = _speed_target(opts, model, cfg, weights, input_size, log)
        opts = dataclasses.replace(opts, allocation=allocation["layers"])
    elif opts.allocation is not None:
        unknown = sorted(set(opts.allocation) - set(weights))
        if unknown:
            raise OptionError(f"--allocation names {unknown[0]}, not a prunable layer of {opts.arch}; see "
                              f"`edge-transfer info --arch {opts.arch}`")
        allocation = {"layers": dict(opts.allocation), "source": "given"}
    results = []
    if opts.mask_from is not None:
        masks, other = _masks_from_ticket(opts.mask_from, opts.arch, weights)
        # the donor's mask decides sparsity, scope and block; --sparsity and --scope do not apply
        drawn = [Drawn(other.achieved_sparsity, masks, {"scope": other.scope, "block": other.block,
                                                        "mask_from": str(opts.mask_from),
                                                        "mask_source_method": other.method,
                                                        "mask_source_sha256": other.source.get("sha256")})]
        outputs = {drawn[0].target: next(iter(outputs.values()))}
    else:
        ctx = DrawContext(model=model, cfg=cfg, weights=weights, opts=opts, data=data, log=log)
        drawn = method.fn(ctx, sorted(outputs))
    last = start
    for d in drawn:
        # a shared trajectory's ticket costs every round so far; an independent run only its own
        elapsed = time.perf_counter() - (start if method.shares_trajectory else last)
        meta = _write_ticket(opts, outputs[d.target], model, cfg, d, dense_values, source, input_size, data, new_head,
                             elapsed, allocation)
        last = time.perf_counter()
        results.append(PruneResult(path=Path(outputs[d.target]), meta=meta))
        log(f"wrote ticket {outputs[d.target]} ({meta.achieved_sparsity:.2%} sparse, {elapsed:.1f}s)")
    return results


def draw_ticket(opts: PruneOptions, log: Callable[[str], None] = lambda _m: None) -> PruneResult:
    return draw_tickets(opts, {None if opts.per_layer else opts.sparsity: opts.output}, log)[0]


def _speed_target(opts: PruneOptions, model, cfg, weights: dict, input_size, log) -> dict:
    """The allocation that meets the speed target on the profiled device at the least cost
    (``_unit_costs``), and what it predicts."""
    profile = SpeedProfile.read(opts.profile)
    check_profile_here(profile, opts.arch, input_size, opts.block, str(opts.profile))
    unknown = sorted(set(profile.layers) - set(weights))
    if unknown:
        raise OptionError(f"{opts.profile} times {unknown[0]}, which this model does not prune (--prune-first-conv "
                          "differs?); profile the model you prune")
    costs, criterion = _unit_costs(opts, profile, model, cfg, weights, input_size, log)
    peer, ratio = None, 1.0  # the fastest dense peer's speed over the profile's dense form
    if opts.over == "best-peer":
        if opts.peer is None:
            raise OptionError("--over best-peer needs the fastest dense peer measured first: "
                              "speed.peers.with_best_peer(opts) (the prune command does it)")
        peer = opts.peer
        ratio = peer.ratio
    if opts.target_speedup is not None:
        target = opts.target_speedup * ratio
        asked = f"--target-speedup {opts.target_speedup:g}" + (
            f" --over best-peer ({target:.2f}x over {peer.form}, as {peer.name} is {ratio:.2f}x its speed)"
            if peer else "")
    else:  # a latency in the whole model's measured ms: the same fraction of the dense model's time
        target, asked = profile.measured_ms[0] / opts.target_latency_ms, f"--target-latency {opts.target_latency_ms:g} ms"
        if target <= 1:
            raise OptionError(f"{asked} is no faster than the dense model's measured {profile.measured_ms[0]:.2f} ms; "
                              "ask for less")
    try:
        found = allocate(profile, costs, target)
    except UnreachableTarget as exc:
        over_peer = f", {exc.best_speedup / ratio:.2f}x over the best peer" if peer else ""
        fix = ("ask for at most that" if not peer or exc.best_speedup > ratio else
               f"no sparsity beats the best peer here: ask --over dense for at most {exc.best_speedup:.2f}x")
        raise OptionError(f"{asked} cannot be reached on the device {opts.profile} measured: the best it predicts is "
                          f"{exc.best_speedup:.2f}x{over_peer} ({profile.measured_ms[0] / exc.best_speedup:.2f} ms, "
                          f"every unit at its fastest); {fix}") from None
    log(f"allocation for {target:.3g}x: predicted {found.predicted_speedup:.2f}x "
        f"({found.predicted_ms:.2f} ms vs dense {found.dense_ms:.2f} ms), {found.cost:.3g} cost ({criterion})")
    key = profile.key
    return {"layers": {n: found.sparsity.get(n, 0.0) for n in weights}, "source": "target-speedup",
            "target_speedup": target, "target_latency_ms": opts.target_latency_ms,
            "predicted_speedup": found.predicted_speedup, "predicted_ms": found.predicted_ms, "dense_ms": found.dense_ms,
            "predicted_measured_ms": profile.measured_ms[0] / found.predicted_speedup, "cost": found.cost,
            "criterion": criterion, "over": opts.over, "best_peer": peer.to_json() if peer else None,
            "predicted_speedup_over_best_peer": found.predicted_speedup / ratio if peer else None,
            "profile": {"path": str(opts.profile), "digest": key.digest(), **key.to_json()}}


def _unit_costs(opts: PruneOptions, profile, model, cfg, weights: dict, input_size, log) -> tuple[list, str]:
    """What each unit costs at each grid sparsity: with a checkpoint and its task's --data, the
    validation loss increase of pruning the unit alone; else the share of weight magnitude
    removed (untrained weights: speed only)."""
    units = [u["layers"] for u in profile.units]
    if opts.checkpoint is None or opts.train.data is None:
        removed = magnitude_removed({n: weights[n] for n in profile.layers}, profile.grid, opts.block)
        costs = [[sum(removed[n][j] for n in unit) for j in range(len(profile.grid))] for unit in units]
        why = UNTRAINED_LABEL if opts.checkpoint is None else "no --data: the loss cannot be measured"
        return costs, f"weight magnitude removed ({why})"

    data = load_train_data(opts.train, input_size, log)
    classes = model.get_submodule(cfg.head).out_features
    if data.num_classes != classes:
        raise OptionError(f"--data {opts.train.data} has {data.num_classes} classes but the checkpoint's head has "
                          f"{classes}: per-layer sensitivity is measured on the checkpoint's own task; give that --data")
    key = {"checkpoint": sha256_file(opts.checkpoint), "data": opts.train.data, "val": opts.train.val,
           "limit": opts.train.limit, "input_size": list(input_size), "block": opts.block, "grid": list(profile.grid),
           "units": units}
    costs = unit_sensitivity(model, units, profile.grid, opts.block, data, cfg.mean, cfg.std, key, log)
    return costs, f"validation loss increase of pruning each unit alone (BatchNorm re-estimated) on {opts.train.data}"


def _write_ticket(opts, output, model, cfg, drawn: Drawn, dense_values, source, input_size, data, new_head,
                  elapsed, allocation: dict | None = None) -> TicketMeta:
    import torch

    ticket_model = copy.deepcopy(model).eval()
    weights = prunable_parameters(ticket_model, cfg, opts.prune_first_conv)
    with torch.no_grad():
        for name, w in weights.items():
            w.mul_(drawn.masks[name])
    records = layer_records(ticket_model, drawn.masks, input_size)
    totals = summarise(records)
    untrained = opts.checkpoint is None
    method = "mask-from" if opts.mask_from is not None else opts.method
    meta = TicketMeta(
        schema=TICKET_SCHEMA,
        arch=opts.arch,
        method=method,
        method_params={"scope": opts.scope, **drawn.params},
        target_sparsity=drawn.target,
        achieved_sparsity=totals["achieved_sparsity"],
        scope=drawn.params.get("scope", opts.scope),
        block=drawn.params.get("block", opts.block),  # 1 when absent (tickets drawn before --block)
        prune_first_conv=opts.prune_first_conv,
        num_classes=int(ticket_model.get_submodule(cfg.head).out_features),
        input_size=tuple(input_size),
        mean=tuple(cfg.mean),
        std=tuple(cfg.std),
        source=source,
        robust=IS_ROBUST.get(source["pretraining"]),
        untrained=untrained,
        note=UNTRAINED_LABEL if untrained else None,
        seed=opts.seed,
        data=None if data is None else {"spec": data.name, "classes": data.classes, "train_images": data.train_images,
                                        "new_head": new_head},
        training=None if data is None else opts.train.to_dict(),
        batchnorm={"recalibrated": False, "draw_trained": data is not None},
        totals=totals,
        layers=tuple(r.to_dict() for r in records),
        wall_seconds=round(elapsed, 3),
        tool_version=__version__,
        options=opts.to_dict(),
        allocation=allocation,
    )
    with atomic_output_dir(output, opts.force, (opts.checkpoint, opts.mask_from)) as tmp:
        meta = save_ticket(tmp, ticket_model, drawn.masks, dense_values, meta)
    return meta
