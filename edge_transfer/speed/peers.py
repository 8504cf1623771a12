"""``fastest_dense_peer(key)``: how much faster than the profile's own dense form the fastest
dense model a user could deploy instead runs on this machine, measured now at the profile's
batch and cores: the dense model in FP32 and INT8 on every engine, in one bench run, as bench
ranks them. ``prune --target-speedup X --over best-peer`` aims at X times that peer."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..errors import OptionError
from .record import ProfileKey

PEER_TIME_S = 1.0  # timed seconds per engine and precision: a ranking, not a figure to quote


@dataclass(frozen=True)
class DensePeer:
    """The fastest dense peer against the profile's dense form, from one run on the same cores."""

    name: str  # e.g. "resnet50-dense-int8 on openvino"
    items_per_sec: float
    form: str  # the profile's dense form, e.g. "resnet50-dense-int8 on deepsparse"
    form_items_per_sec: float
    batch_size: int
    cores: int

    @property
    def ratio(self) -> float:
        """The peer's speed over the form's: a target X over the peer is X * ratio over the form."""
        return self.items_per_sec / self.form_items_per_sec

    def to_json(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def pick_peer(records: list[dict], key: ProfileKey) -> DensePeer:
    """The fastest dense record of a bench run, and the record of the profile's dense form."""
    dense = [r for r in records if r["variant"] == "dense" and r.get("items_per_sec")]
    form = [r for r in dense if r["engine"] == key.engine and r["precision"] == key.precision]
    if not form:
        raise OptionError(f"the dense model did not run on {key.engine} in {key.precision}; the best peer cannot be "
                          "compared with the profile: use --over dense")
    best = max(dense, key=lambda r: r["items_per_sec"])
    return DensePeer(name=f"{best['model']} on {best['engine']}", items_per_sec=float(best["items_per_sec"]),
                     form=f"{form[0]['model']} on {key.engine}", form_items_per_sec=float(form[0]["items_per_sec"]),
                     batch_size=key.batch_size, cores=key.cores)


def fastest_dense_peer(key: ProfileKey, log: Callable[[str], None] = lambda _m: None,
                       time_s: float = PEER_TIME_S) -> DensePeer:
    """Bench the dense model of ``key``'s architecture and input (one random init: dense
    weights' values do not change its speed) in FP32 and INT8 (calibrated on random inputs)
    on every engine, at ``key``'s batch and cores."""
    from ..bench import BenchOptions, run_bench
    from ..prune import PruneOptions, draw_ticket
    from ..train import TrainSettings

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
