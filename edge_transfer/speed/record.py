"""The speed profile file (``edge-transfer.profile/1``): for each unit the engine times (a layer,
or a group of layers it fuses), its time at each grid sparsity, plus the time no sparsity can
change; and the key it was measured under, which every reader checks."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from ..cluster.identity import isa_flags
from ..engines import get_engine
from ..errors import OptionError
from ..formats import Record
from ..system import cpu_model

PROFILE_SCHEMA = "edge-transfer.profile/1"
FIX = "measure it again with `edge-transfer profile`"


class ProfileError(OptionError):
    """A profile that is damaged, or was measured for another model, engine or machine."""


@dataclass(frozen=True)
class ProfileKey:
    """What a profile's times depend on; a profile answers only for its own key."""

    arch: str
    input_size: tuple
    engine: str
    engine_version: str
    batch_size: int
    cores: int
    cpu: str
    isa: tuple
    precision: str  # fp32 | int8
    block: int  # 1 (unstructured) or 4 (1x4 blocks)

    def digest(self) -> str:
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data, where: str) -> "ProfileKey":
        names = set(cls.__dataclass_fields__)
        if not isinstance(data, dict) or set(data) != names:
            raise ProfileError(f"{where} has key {data!r}, not the fields {sorted(names)}; {FIX}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def differences(self, other: "ProfileKey", fields: tuple[str, ...]) -> list[str]:
        """'name: mine vs other' for each of ``fields`` that differs."""
        return [f"{name} {getattr(self, name)!r} vs {getattr(other, name)!r}" for name in fields
                if getattr(self, name) != getattr(other, name)]


@dataclass(frozen=True)
class SpeedProfile(Record):
    SCHEMAS: ClassVar = (PROFILE_SCHEMA,)
    ERROR: ClassVar = ProfileError
    FIX: ClassVar = FIX
    REQUIRED: ClassVar = {"key": dict, "grid": list, "units": list, "fixed_ms": list, "measured_ms": list,
                          "method": str}

    schema: str
    key: ProfileKey | dict
    grid: tuple  # sparsities, ascending, starting at 0 (the dense model)
    # [{"layers": [name, ...], "ms": [time at each grid sparsity]}]: the allocation's units; the
    # layers of one unit are pruned to one sparsity (the engine fuses them)
    units: tuple
    fixed_ms: tuple  # per grid point: time in what sparsity cannot speed up (stem, pooling, head, adds)
    measured_ms: tuple  # per grid point: the whole model timed by the engine (uniform per-layer sparsity)
    method: str  # how the per-layer times were obtained
    untrained: bool = True  # the profile's own tickets: speed only
    seconds: float | None = None
    tool_version: str | None = None
    extra: dict = field(default_factory=dict)

    def _check(self, where: str) -> None:
        key = self.key if isinstance(self.key, ProfileKey) else ProfileKey.from_json(self.key, where)
        object.__setattr__(self, "key", key)
        grid = self.grid
        if (len(grid) < 2 or not all(isinstance(s, (int, float)) and 0 <= s < 1 for s in grid)
                or list(grid) != sorted(set(grid)) or grid[0] != 0):
            raise ProfileError(f"{where} has grid {list(grid)!r}, not ascending sparsities in [0, 1) from 0; {FIX}")
        n = len(grid)
        for name in ("fixed_ms", "measured_ms"):
            if not _times(getattr(self, name), n):
                raise ProfileError(f"{where} has {name} that is not {n} finite times >= 0; {FIX}")
        seen = set()
        for unit in self.units:
            if (not isinstance(unit, dict) or not _times(unit.get("ms"), n) or not isinstance(unit.get("layers"), list)
                    or not unit["layers"] or not all(isinstance(x, str) for x in unit["layers"])):
                raise ProfileError(f"{where} has a unit {str(unit)[:80]!r} without layer names and {n} times; {FIX}")
            if seen & set(unit["layers"]):
                raise ProfileError(f"{where} lists layer {sorted(seen & set(unit['layers']))[0]} in two units; {FIX}")
            seen |= set(unit["layers"])
        if not self.units:
            raise ProfileError(f"{where} has no prunable units; {FIX}")
        for name in ("grid", "units", "fixed_ms", "measured_ms"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def to_json(self, without: tuple[str, ...] = ()) -> dict:
        out = super().to_json(without)
        out["key"] = self.key.to_json()
        return out

    @property
    def layers(self) -> list[str]:
        return [name for unit in self.units for name in unit["layers"]]

    @property
    def fixed_mean_ms(self) -> float:
        """The fixed part of every prediction: its mean over the grid (it does not depend on the choice)."""
        return sum(self.fixed_ms) / len(self.fixed_ms)

    def predicted_ms(self, choice: list[int]) -> float:
        """The model's time with unit i at grid point ``choice[i]``: the fixed part plus each unit's time."""
        return self.fixed_mean_ms + sum(u["ms"][c] for u, c in zip(self.units, choice))

    @property
    def dense_ms(self) -> float:
        return self.predicted_ms([0] * len(self.units))

    @property
    def fastest_ms(self) -> float:
        """The prediction with every unit at its fastest grid point: the profile's ceiling."""
        return self.fixed_mean_ms + sum(min(u["ms"]) for u in self.units)

    def static_fraction(self) -> float:
        """Share of the dense model's analysed time in what no sparsity speeds up."""
        return self.fixed_ms[0] / (self.fixed_ms[0] + sum(u["ms"][0] for u in self.units))

    def check_matches(self, wanted: ProfileKey, where: str) -> None:
        """Refuse a profile measured for another model, engine, precision, block or machine than
        ``wanted`` (batch and cores come from the profile: they are what it was measured at)."""
        fields = ("arch", "input_size", "engine", "engine_version", "precision", "block", "cpu", "isa")
        differ = self.key.differences(wanted, fields)
        if differ:
            raise ProfileError(f"{where} was measured for another setting ({'; '.join(differ)}: profile vs asked); "
                               f"{FIX} for this one")


def _times(values, n: int) -> bool:
    return (isinstance(values, (list, tuple)) and len(values) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                    for v in values))


def check_profile_here(profile: SpeedProfile, arch: str, input_size, block: int, where: str) -> None:
    """Refuse ``profile`` unless it was measured for this model and block on this machine's CPU,
    ISA and engine version (its batch, cores and precision are the ones it answers for)."""
    import dataclasses

    here = dataclasses.replace(profile.key, arch=arch, input_size=tuple(input_size), block=block, cpu=cpu_model(),
                               isa=tuple(isa_flags()), engine_version=get_engine(profile.key.engine).version())
    profile.check_matches(here, where)
