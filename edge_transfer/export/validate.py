"""Export validation, optimum-style: compare each engine with PyTorch on seeded inputs
with an explicit tolerance, audit zeros layer by layer, collect every failure."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class ParityRecord:
    graph: str  # model.onnx | backbone.onnx (prefixed dense/ for the baseline)
    engine: str
    batch_size: int
    max_abs_diff: float
    # max |engine - torch| / max |torch|: scale-free, so untrained nets compare fairly.
    max_rel_diff: float
    tolerance: float
    passed: bool
    # ||engine - torch|| / ||torch|| (relative RMS error, i.e. 1 / signal-to-noise ratio)
    rms_rel_diff: float = 0.0
    metric: str = "max_rel_diff"  # the one compared with tolerance

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AuditRecord:
    graph: str
    layer: str
    ticket_zeros: int
    onnx_zeros: int
    lost: int  # zero in the ticket, nonzero in the graph
    gained: int  # nonzero in the ticket, zero in the graph (e.g. a BN scale of exactly 0)
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def seeded_input(input_size, batch_size: int, seed: int = 0):
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch_size, *input_size, generator=gen)


def rel_diff(got, expected) -> tuple[float, float]:
    """(max |got - expected|, that divided by max |expected|); inf for a shape mismatch.
    Scale-free, so untrained nets with tiny or huge outputs compare fairly."""
    import numpy as np

    if got.shape != expected.shape:
        return float("inf"), float("inf")
    diff = float(np.abs(got - expected).max())
    return diff, diff / max(float(np.abs(expected).max()), 1e-12)


def rms_rel_diff(got, expected) -> float:
    import numpy as np

    if got.shape != expected.shape:
        return float("inf")
    return float(np.linalg.norm(got - expected) / max(float(np.linalg.norm(expected)), 1e-12))


def check_parity(graph_name: str, onnx_path: Path, reference, inputs, engines, tolerance: float,
                 metric: str = "max_rel_diff") -> list[ParityRecord]:
    """Run ``onnx_path`` on every engine and compare with ``reference(inputs)`` (PyTorch);
    ``metric`` (max_rel_diff or rms_rel_diff) is the figure held to ``tolerance``."""
    import numpy as np
    import torch

    with torch.no_grad():
        expected = reference(inputs).numpy()
    x = np.ascontiguousarray(inputs.numpy(), dtype=np.float32)
    records = []
    for engine in engines:
        compiled = engine.compile(onnx_path, batch_size=x.shape[0])
        got = compiled.run([x])[0]
        diff, rel = rel_diff(got, expected)
        rms = rms_rel_diff(got, expected)
        value = {"max_rel_diff": rel, "rms_rel_diff": rms}[metric]
        records.append(ParityRecord(graph_name, engine.name, x.shape[0], diff, rel, tolerance, value <= tolerance, rms,
                                    metric))
    return records


def audit_zeros(graph_name: str, onnx_model, ticket_model, mask_names) -> list[AuditRecord]:
    """For every pruned layer: are the ticket's exact zeros still exactly zero in the graph?

    Compared position by position (not only counted), so a zero that moved would fail too.
    """
    from ..onnx_io import initializer_arrays

    arrays = initializer_arrays(onnx_model)
    params = dict(ticket_model.named_parameters())
    records = []
    for name in mask_names:
        ticket_zero = (params[name].detach() == 0).numpy()
        array = arrays.get(name)
        if array is not None and array.shape != ticket_zero.shape and array.T.shape == ticket_zero.shape:
            array = array.T  # a Gemm may store the weight transposed
        if array is None or array.shape != ticket_zero.shape:
            records.append(AuditRecord(graph_name, name, int(ticket_zero.sum()), -1, int(ticket_zero.sum()), 0, False))
            continue
        onnx_zero = array == 0
        lost = int((ticket_zero & ~onnx_zero).sum())
        gained = int((~ticket_zero & onnx_zero).sum())
        records.append(AuditRecord(graph_name, name, int(ticket_zero.sum()), int(onnx_zero.sum()), lost, gained, lost == 0))
    return records
