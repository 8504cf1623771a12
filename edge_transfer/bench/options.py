"""``BenchOptions`` (what one run times) and ``BenchResult`` (its records, as JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..engines import get_engine
from ..errors import OptionError
from ..formats import BENCH_SCHEMA, MODEL_FILE
from ..tolerances import FP32_TOLERANCE

SCENARIOS = ("sync", "async")


@dataclass
class BenchOptions:
    paths: tuple[Path, ...] = ()
    cores: int | None = None  # None: all physical cores
    batch_sizes: tuple[int, ...] = (1, 16, 64)
    engines: tuple[str, ...] = ("deepsparse", "onnxruntime", "openvino", "torch")
    # Tickets run only on these of --engine (None: all); dense peers always run on every engine.
    ticket_engines: tuple[str, ...] | None = None
    scenario: str = "sync"
    streams: int | None = None  # async only; default = cores
    time_s: float = 10.0
    warmup_s: float = 2.0
    min_iterations: int = 20
    repeats: int = 3
    baseline: str | Path = "dense"  # "dense": each export's dense/ ; or a path used for all
    input_shape: tuple[int, ...] | None = None
    graph: str = MODEL_FILE
    allow_mismatch: bool = False
    tolerance: float = FP32_TOLERANCE  # max |engine - reference| / max |reference|
    memory: bool = True
    native_check: bool = False  # also time DeepSparse's own Engine.benchmark
    int8_peers: bool = True  # quantize a dense INT8 peer where the run has none
    seed: int = 0

    def validate(self) -> None:
        for name, value in (("--batch-size", min(self.batch_sizes, default=0)), ("--repeats", self.repeats),
                            ("--min-iterations", self.min_iterations)):
            if value <= 0:
                raise OptionError(f"{name} must be a positive integer, got {value}")
        if self.cores is not None and self.cores <= 0:
            raise OptionError(f"--cores must be a positive integer, got {self.cores}")
        if self.time_s <= 0:
            raise OptionError(f"--time must be > 0 seconds, got {self.time_s}")
        if self.warmup_s < 0:
            raise OptionError(f"--warmup must be >= 0 seconds, got {self.warmup_s}")
        if self.scenario not in SCENARIOS:
            raise OptionError(f"--scenario must be one of {', '.join(SCENARIOS)}, got {self.scenario!r}")
        if self.streams is not None and self.streams <= 0:
            raise OptionError(f"--streams must be a positive integer, got {self.streams}")
        if not self.engines:
            raise OptionError("--engine needs at least one engine")
        for name in self.engines:
            get_engine(name)  # raises with the list of available engines
        outside = [n for n in self.ticket_engines or () if n not in self.engines]
        if outside or self.ticket_engines == ():
            raise OptionError(f"--ticket-engines must be a non-empty subset of --engine {','.join(self.engines)}"
                              + (f", got {outside[0]!r}" if outside else ""))
        if self.input_shape is not None and (len(self.input_shape) != 3 or min(self.input_shape) <= 0):
            raise OptionError(f"--input-shape must be CxHxW with positive sizes, e.g. 3x224x224, got {self.input_shape}")


@dataclass
class BenchResult:
    records: list[dict]
    system: dict
    command: str
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def invalid(self) -> list[dict]:
        return [r for r in self.records if not r["valid"]]

    def to_json(self) -> dict:
        return {"schema": BENCH_SCHEMA, "system": self.system, "command": self.command, "notes": self.notes,
                "seconds": self.seconds, "results": self.records}
