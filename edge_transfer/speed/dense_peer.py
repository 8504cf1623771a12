"""The fastest dense peer as a record: what ``prune --over best-peer`` aims past, and how a
bench run's records name it. Measuring it is ``peers.fastest_dense_peer``'s (it runs bench);
this module only holds and picks, so pruning can read a peer without reaching up to bench."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import OptionError
from .record import ProfileKey


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
