"""Opening adapt's source: a ticket gets fresh BatchNorm statistics on the task first (the
backbone runs frozen in eval mode, so stale statistics would be baked into every feature)."""

from __future__ import annotations

from pathlib import Path

from ..batchnorm import recalibrated_ticket
from ..formats import is_ticket
from ..export.resolve import read_manifest
from ..ticket import load_ticket_meta


def fresh_statistics(opts, workdir: Path, norm, log) -> tuple[Path, dict]:
    """The source to export: a ticket re-calibrated on the task (see module doc), or the
    source itself when it is an export folder or ``keep_bn_stats`` is set."""
    source = Path(opts.source)
    if not is_ticket(source):
        return source, {"recalibrated": False, "reason": "an export folder: its statistics are part of the graph"}
    if opts.keep_bn_stats:
        return source, {"recalibrated": False, "reason": "--keep-bn-stats"}
    out = workdir / "recalibrated" / source.resolve().name
    tr = opts.train
    record = recalibrated_ticket(source, tr.data, out, val=tr.val, limit=tr.limit, with_dense=opts.compare_dense,
                                 batch_size=tr.batch_size, seed=tr.seed, norm=norm)
    log(f"BatchNorm statistics re-estimated on {record['images']} training images"
        + (" (ticket and dense baseline)" if opts.compare_dense else ""))
    return out, record


def source_input_size(source: Path) -> tuple:
    if is_ticket(source):
        return load_ticket_meta(Path(source), verify_hashes=False).input_size
    return read_manifest(Path(source), verify_hashes=False).input_size
