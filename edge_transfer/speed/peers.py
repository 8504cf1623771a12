"""``fastest_dense_peer(key)``: how much faster than the profile's own dense form the fastest
dense model a user could deploy instead runs on this machine, measured now at the profile's
batch and cores: the dense model in FP32 and INT8 on every engine, in one bench run, as bench
ranks them. ``prune --target-speedup X --over best-peer`` aims at X times that peer:
``with_best_peer(opts)`` measures it for a PruneOptions before the draw."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Callable

from ..bench import BenchOptions, run_bench
from ..prune import PruneOptions, draw_ticket
from ..train import TrainSettings
from .dense_peer import DensePeer, pick_peer
from .record import ProfileKey, SpeedProfile

PEER_TIME_S = 1.0  # timed seconds per engine and precision: a ranking, not a figure to quote


def fastest_dense_peer(key: ProfileKey, log: Callable[[str], None] = lambda _m: None,
                       time_s: float = PEER_TIME_S) -> DensePeer:
    """Bench the dense model of ``key``'s architecture and input (one random init: dense
    weights' values do not change its speed) in FP32 and INT8 (calibrated on random inputs)
    on every engine, at ``key``'s batch and cores."""
    log(f"measuring the fastest dense peer at batch {key.batch_size} on {key.cores} cores (FP32 and INT8, every "
        "engine; dense weights, speed only)")
    with tempfile.TemporaryDirectory(prefix="edge-transfer-peers-") as tmp:
        ticket = draw_ticket(PruneOptions(arch=key.arch, output=Path(tmp) / f"{key.arch}-dense", sparsity=0.0,
                                          scope="layer", train=TrainSettings(image_size=key.input_size[-1])))
        # the 0% ticket itself runs only on the profile's engine; its dense FP32 and INT8 peers on every engine
        opts = BenchOptions(paths=(ticket.path,), batch_sizes=(key.batch_size,), cores=key.cores,
                            ticket_engines=(key.engine,), time_s=time_s, warmup_s=0.5, min_iterations=5, repeats=1,
                            memory=False)
        result = run_bench(opts, log=lambda m: log("  " + m), argv=["edge-transfer", "prune", "--over", "best-peer"])
    peer = pick_peer(result.records, key)
    log(f"fastest dense peer: {peer.name}, {peer.ratio:.2f}x the speed of {peer.form}")
    return peer


def with_best_peer(opts, log: Callable[[str], None] = lambda _m: None):
    """``opts`` (PruneOptions) with its ``peer`` measured when ``--over best-peer`` asks for one
    and none is given; otherwise ``opts`` itself."""
    if opts.over != "best-peer" or opts.peer is not None or opts.profile is None:
        return opts
    return dataclasses.replace(opts, peer=fastest_dense_peer(SpeedProfile.read(opts.profile).key, log))
