"""Validation of every graph the package writes, optimum-style and written once: engine outputs
compared with a reference under a declared tolerance (``compare``, ``check_parity``), the pruned
zeros audited position by position (``audit_zeros``), and the records collected in a typed
``ValidationReport`` whose failures raise one typed error. Export, quantize, deploy and learn
all validate through it; the tolerances themselves are declared in ``tolerances``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import ParityError, SparsityLossError
from .onnx_io import initializer_arrays

METRICS = ("max_rel_diff", "rms_rel_diff", "max_abs_diff")


@dataclass
class ParityRecord:
    graph: str  # model.onnx | backbone.onnx (prefixed dense/ for the baseline), or what part of it
    engine: str
    batch_size: int
    max_abs_diff: float
    # max |engine - reference| / max |reference|: scale-free, so untrained nets compare fairly
    max_rel_diff: float
    tolerance: float
    passed: bool
    # ||engine - reference|| / ||reference|| (relative RMS error, i.e. 1 / signal-to-noise ratio)
    rms_rel_diff: float = 0.0
    metric: str = "max_rel_diff"  # the one held to the tolerance (METRICS)

    @property
    def value(self) -> float:
        return getattr(self, self.metric)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ParityRecord":
        """A record carried over from an earlier stage's manifest."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass
class AuditRecord:
    graph: str
    layer: str
    ticket_zeros: int
    onnx_zeros: int  # -1: the layer's weight is not in the graph
    lost: int  # zero in the ticket, nonzero in the graph
    gained: int  # nonzero in the ticket, zero in the graph (e.g. a BN scale of exactly 0)
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ValidationReport:
    parity: list[ParityRecord] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)

    def __add__(self, other: "ValidationReport") -> "ValidationReport":
        return ValidationReport(self.parity + other.parity, self.audit + other.audit)

    @property
    def parity_passed(self) -> bool:
        return all(p.passed for p in self.parity)

    @property
    def audit_passed(self) -> bool:
        return all(a.passed for a in self.audit)

    @property
    def passed(self) -> bool:
        return self.parity_passed and self.audit_passed

    def to_dict(self) -> dict:
        return {"passed": self.passed, "parity_passed": self.parity_passed, "audit_passed": self.audit_passed,
                "parity": [p.to_dict() for p in self.parity], "audit": [a.to_dict() for a in self.audit],
                "lost_zeros": sum(a.lost for a in self.audit), "gained_zeros": sum(a.gained for a in self.audit)}

    def raise_on_failure(self, subject: str, reference: str, fix: str) -> None:
        """SparsityLossError for a lost zero, else ParityError for an output past its tolerance;
        ``subject`` names what was checked (the export, the INT8 export, the merged graph),
        ``reference`` what it was compared with, ``fix`` what the user can do."""
        lost = [a for a in self.audit if not a.passed]
        if lost:
            names = ", ".join(f"{a.graph}:{a.layer} ({a.lost} lost)" for a in lost[:5])
            raise SparsityLossError(f"{subject} lost zeros in {len(lost)} layers: {names}; nothing was written, "
                                    "please report this")
        bad = [p for p in self.parity if not p.passed]
        if bad:
            detail = "; ".join(f"{p.graph} on {p.engine}: {p.metric} {p.value:.2e} > {p.tolerance:.0e}" for p in bad)
            raise ParityError(f"{subject}: engine outputs differ from {reference} ({detail}); nothing was written: "
                              f"{fix}")


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


def compare(graph: str, engine: str, got, expected, tolerance: float, metric: str = "max_rel_diff") -> ParityRecord:
    """One engine's output against its reference, every figure recorded, ``metric`` held to
    ``tolerance``."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    diff, rel = rel_diff(got, expected)
    record = ParityRecord(graph, engine, int(got.shape[0]), diff, rel, tolerance, False, rms_rel_diff(got, expected),
                          metric)
    record.passed = record.value <= tolerance
    return record


def check_parity(graph_name: str, onnx_path: Path, reference, inputs, engines, tolerance: float,
                 metric: str = "max_rel_diff") -> list[ParityRecord]:
    """Run ``onnx_path`` on every engine and compare with ``reference(inputs)`` (a PyTorch module)."""
    import numpy as np
    import torch

    with torch.no_grad():
        expected = reference(inputs).numpy()
    x = np.ascontiguousarray(inputs.numpy(), dtype=np.float32)
    return [compare(graph_name, engine.name, engine.compile(onnx_path, batch_size=x.shape[0]).run([x])[0], expected,
                    tolerance, metric) for engine in engines]


def audit_zeros(graph_name: str, weights: dict, ticket_model, mask_names) -> list[AuditRecord]:
    """For every pruned layer: are the ticket's exact zeros still zero in the graph? ``weights``
    maps a layer to (its array in the graph, the value that means zero there: 0, or an INT8
    weight's zero point). Compared position by position (not only counted), so a zero that
    moved fails too."""
    params = dict(ticket_model.named_parameters())
    records = []
    for name in mask_names:
        ticket_zero = (params[name].detach() == 0).numpy()
        array, zero = weights.get(name, (None, 0))
        if array is not None and array.shape != ticket_zero.shape and array.T.shape == ticket_zero.shape:
            array = array.T  # a Gemm or MatMulInteger may store the weight transposed
        if array is None or array.shape != ticket_zero.shape:
            records.append(AuditRecord(graph_name, name, int(ticket_zero.sum()), -1, int(ticket_zero.sum()), 0, False))
            continue
        graph_zero = array.astype("int64") == zero if array.dtype.kind in "iu" else array == zero
        lost = int((ticket_zero & ~graph_zero).sum())
        gained = int((~ticket_zero & graph_zero).sum())
        records.append(AuditRecord(graph_name, name, int(ticket_zero.sum()), int(graph_zero.sum()), lost, gained,
                                   lost == 0))
    return records


def fp32_weights(onnx_model) -> dict:
    """An FP32 graph's initializers as ``audit_zeros`` reads them (zero means 0)."""
    return {name: (array, 0) for name, array in initializer_arrays(onnx_model).items()}
