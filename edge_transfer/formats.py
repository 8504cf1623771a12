"""Artifact formats, in one place: file names, how a folder is recognised, and the typed
records that every stage reads and writes.

    ticket folder   ticket.json    TicketMeta      (``edge-transfer prune`` / ``finetune``)
    export folder   manifest.json  ExportManifest  (``edge-transfer export`` / ``quantize``),
                    with its dense baseline under ``dense/``
    artifact        deploy.json    DeployManifest  (``edge-transfer deploy`` / ``learn``; deploy/manifest.py)

``from_json`` checks the schema tag and the required fields and raises the stage's typed
error, which says what to do; ``to_json`` gives the record in its written key order.
Previous schema versions are read: fields they lack take their defaults.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .errors import EdgeTransferError, OnnxModelError, TicketError
from .fileio import sha256_file, write_json

TICKET_FILE = "ticket.json"
MANIFEST_FILE = "manifest.json"
DENSE_DIR = "dense"
DEPLOY_FILE = "deploy.json"
MODEL_FILE = "model.onnx"  # the whole model's graph: an export, a quantized form, a deploy artifact
BACKBONE_FILE = "backbone.onnx"  # the graph without its head: what adapt and bench's backbone rows run
ADAPT_FILE = "adapt.json"  # an adapt run's results
FINETUNE_FILE = "finetune.json"  # a fine-tuned ticket's record

TICKET_SCHEMA = "edge-transfer.ticket/2"  # /2: finetune's keys declared (were added under /1)
EXPORT_SCHEMA = "edge-transfer.export/2"  # /2: precision, forms, quantization, dense always present
# the other records each stage writes
ADAPT_SCHEMA = "edge-transfer.adapt/1"
BENCH_SCHEMA = "edge-transfer.bench/1"
DEPLOY_SCHEMA = "edge-transfer.deploy/1"
FINETUNE_SCHEMA = "edge-transfer.finetune/1"
HEAD_SCHEMA = "edge-transfer.head/2"  # /2: running feature statistics
PRETRAIN_SCHEMA = "edge-transfer.pretrain/1"
STUDY_SCHEMA = "edge-transfer.study/2"

UNTRAINED_LABEL = "untrained weights: speed only"

# the precision vocabulary: of a graph (ExportManifest.precision), of what an engine runs
# (engines' ``precisions``), of a profile and a deployed backbone
FP32, INT8 = "fp32", "int8"
PRECISIONS = (FP32, INT8)


def is_ticket(folder) -> bool:
    return (Path(folder) / TICKET_FILE).is_file()


def is_export(folder) -> bool:
    return (Path(folder) / MANIFEST_FILE).is_file()


def ticket_tag(method: str, sparsity: float, block: int = 1, scope: str | None = None) -> str:
    """The one naming rule for tickets (folders, bench rows, demo tables): ``omp90``,
    ``omp90-block4`` for 1x4 blocks, ``-layer`` appended when ``scope`` is given as layer."""
    return (f"{method}{round(sparsity * 100):02d}" + (f"-block{block}" if block > 1 and sparsity > 0 else "")
            + ("-layer" if scope == "layer" else ""))


# Bounds on what a small file can make the reader allocate or recurse into (hostile records):
# the largest record written here (a bench or study JSON) is a few MB and 8 levels deep.
MAX_JSON_BYTES = 64 << 20
MAX_JSON_DEPTH = 64
MAX_CLASSES = 100_000  # ImageNet-21k has 21,841
MAX_FEATURE_DIM = 1 << 16
MAX_CHANNELS = 16
MAX_INPUT_SIDE = 4096  # pixels; a 3x4096x4096 float32 input is 200 MB per image


def read_json_file(path: Path, error: type[EdgeTransferError], fix: str):
    """The parsed JSON at ``path``; an unreadable, invalid, oversized or too deeply nested file
    raises ``error`` naming ``fix``."""
    import os
    import stat

    path = Path(path)
    try:
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK)) as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise error(f"{path} is not a regular file; {fix}")
            if st.st_size > MAX_JSON_BYTES:
                raise error(f"{path} is {st.st_size / 2**20:.0f} MiB, over the {MAX_JSON_BYTES >> 20} MiB a record may "
                            f"take; {fix}")
            data = json.loads(f.read(MAX_JSON_BYTES + 1).decode("utf-8"))
    except FileNotFoundError:
        raise error(f"{path} not found; {fix}") from None
    except RecursionError:
        raise error(f"{path} nests deeper than {MAX_JSON_DEPTH} levels; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path} is not readable JSON ({getattr(exc, 'msg', None) or getattr(exc, 'strerror', None) or exc}); "
                    f"{fix}") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise error(f"{path} nests deeper than {MAX_JSON_DEPTH} levels; {fix}")
    return data


def _depth(value) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def confined_name(name, where: str, error: type[EdgeTransferError], fix: str, subfolders: bool = False) -> str:
    """``name``, a file name recorded in ``where``, if it stays inside the record's folder: no
    absolute path, no ``..``, no sub-folder unless ``subfolders``; else ``error``."""
    from pathlib import PurePosixPath

    parts = PurePosixPath(name).parts if isinstance(name, str) else ()
    if (not parts or PurePosixPath(name).is_absolute() or any(p in ("..", ".") for p in parts) or "\\" in name
            or "\0" in name or (len(parts) > 1 and not subfolders)):
        raise error(f"{where} names the file {name!r}, which is not inside its folder; {fix}")
    return name


def confined_file(folder: Path, name: str, where: str, error: type[EdgeTransferError], fix: str,
                  subfolders: bool = False) -> Path:
    """``folder / name`` for a recorded ``name`` (see ``confined_name``), also refused when a
    link takes it out of ``folder``."""
    path = Path(folder) / confined_name(name, where, error, fix, subfolders)
    if not path.resolve().is_relative_to(Path(folder).resolve()):
        raise error(f"{where} names {name!r}, a link that leaves its folder; {fix}")
    return path


def read_record(path: Path, schemas: tuple[str, ...], error: type[EdgeTransferError], fix: str) -> dict:
    """A JSON object at ``path`` whose ``schema`` is one of ``schemas``."""
    data = read_json_file(path, error, fix)
    if not isinstance(data, dict) or data.get("schema") not in schemas:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise error(f"{path} has schema {found!r}, expected {schemas[0]!r}; {fix}")
    return data


class Record:
    """Shared by the typed records: required fields checked by type, unknown keys kept."""

    SCHEMAS: ClassVar[tuple[str, ...]]
    ERROR: ClassVar[type[EdgeTransferError]]
    FIX: ClassVar[str]
    REQUIRED: ClassVar[dict[str, type | tuple[type, ...]]]

    @classmethod
    def from_json(cls, data, where: str = "record"):
        if not isinstance(data, dict):
            raise cls.ERROR(f"{where} is a JSON {type(data).__name__}, not an object; {cls.FIX}")
        if data.get("schema") not in cls.SCHEMAS:
            raise cls.ERROR(f"{where} has schema {data.get('schema')!r}, expected {cls.SCHEMAS[0]!r}; {cls.FIX}")
        for name, kind in cls.REQUIRED.items():
            if name not in data:
                raise cls.ERROR(f"{where} lacks {name!r}; {cls.FIX}")
            value = data[name]
            if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
                raise cls.ERROR(f"{where} has {name} = {value!r} (expected {_names(kind)}); {cls.FIX}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        record = cls(**known, extra={k: v for k, v in data.items() if k not in names})
        record._check(where)
        return dataclasses.replace(record, schema=cls.SCHEMAS[0])

    @classmethod
    def read(cls, path: Path):
        path = Path(path)
        return cls.from_json(read_json_file(path, cls.ERROR, cls.FIX), str(path))

    def _check(self, where: str) -> None:
        pass

    def to_json(self, without: tuple[str, ...] = ()) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out.update(self.extra)
        return {k: _plain(v) for k, v in out.items() if k not in without}

    def write(self, path: Path) -> None:
        write_json(Path(path), self.to_json())

    # Every record that lists its folder's files (ticket.json, manifest.json, deploy.json) writes
    # and checks their hashes here: ``files`` maps a name to its sha256, or to a dict holding it.
    @staticmethod
    def file_entry(path: Path, **extra) -> dict:
        """What a record lists for one file it carries: its sha256 and size (and ``extra``)."""
        return {"sha256": sha256_file(path), "bytes": path.stat().st_size, **extra}

    def check_files(self, folder: Path, record_file: str, verify_hashes: bool = True) -> None:
        """Every file the record lists is inside ``folder`` and present, and with ``verify_hashes``
        matches its recorded sha256 (a modified model must not run)."""
        where = str(Path(folder) / record_file)
        for name, entry in self.files.items():
            path = confined_file(Path(folder), name, where, self.ERROR, self.FIX)
            if not path.is_file():
                raise self.ERROR(f"{where} lists {name} but it is missing; {self.FIX}")
            expected = entry.get("sha256") if isinstance(entry, dict) else entry
            if verify_hashes and sha256_file(path) != expected:
                raise self.ERROR(f"{path} does not match the sha256 in {record_file}: it was modified or damaged; {self.FIX}")


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _names(kind) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def shape_field(value, where: str, name: str, error, fix: str, kind=(int, float)) -> tuple:
    """Three positive finite numbers (mean, std); with ``kind=int`` an input size C, H, W
    bounded by MAX_CHANNELS and MAX_INPUT_SIDE, checked before anything is allocated from it."""
    import math

    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, kind) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in value)):
        raise error(f"{where} has {name} = {value!r}, not three positive finite numbers; {fix}")
    if kind is int and (value[0] > MAX_CHANNELS or max(value[1:]) > MAX_INPUT_SIDE):
        raise error(f"{where} has {name} = {list(value)}, over {MAX_CHANNELS} channels or {MAX_INPUT_SIDE} pixels a "
                    f"side; {fix}")
    return tuple(value)


def _bounded(value, where: str, name: str, upper: int, error, fix: str) -> None:
    if value is not None and not 0 <= value <= upper:
        raise error(f"{where} has {name} = {value}, outside [0, {upper}]; {fix}")


@dataclass(frozen=True)
class TicketMeta(Record):
    """``ticket.json``: what was pruned, how, from which source, and each layer's counts."""

    SCHEMAS: ClassVar = (TICKET_SCHEMA, "edge-transfer.ticket/1")
    ERROR: ClassVar = TicketError
    FIX: ClassVar = "redraw the ticket with `edge-transfer prune`"
    REQUIRED: ClassVar = {"arch": str, "method": str, "num_classes": int, "achieved_sparsity": (int, float),
                          "input_size": list, "mean": list, "std": list}

    schema: str
    arch: str
    method: str
    method_params: dict = field(default_factory=dict)
    target_sparsity: float | None = None
    achieved_sparsity: float = 0.0
    scope: str = "global"
    block: int = 1  # tickets drawn before --block are unstructured
    prune_first_conv: bool = False
    num_classes: int = 0
    input_size: tuple = ()
    mean: tuple = ()
    std: tuple = ()
    source: dict = field(default_factory=dict)
    robust: bool | None = None
    untrained: bool = False
    note: str | None = None
    seed: int | None = None
    data: dict | None = None
    training: dict | None = None
    # a drawn ticket's running statistics are whatever the draw left (the dense source's for
    # one-shot schemes); adapt and finetune re-estimate them on the task's images
    batchnorm: dict | None = None
    totals: dict = field(default_factory=dict)
    layers: tuple = ()
    wall_seconds: float | None = None
    tool_version: str | None = None
    options: dict | None = None
    files: dict | None = None  # tensor file -> sha256, checked on every load (absent before ticket/2)
    finetuned: dict | None = None  # set by `edge-transfer finetune`
    dense_baseline: str | None = None  # what dense.safetensors holds when it is not the draw's source
    # per-layer sparsities drawn to (prune --allocation / --target-speedup): the layers, and for a
    # speed target the profile it was solved on with the predicted time and speedup
    allocation: dict | None = None
    extra: dict = field(default_factory=dict)

    def _check(self, where: str) -> None:
        fix = self.FIX
        shape_field(self.input_size, where, "input_size", TicketError, fix, kind=int)
        shape_field(self.mean, where, "mean", TicketError, fix)
        shape_field(self.std, where, "std", TicketError, fix)
        if not 1 <= self.num_classes <= MAX_CLASSES or not 0.0 <= self.achieved_sparsity <= 1.0:
            raise TicketError(f"{where} has num_classes {self.num_classes} and sparsity {self.achieved_sparsity} "
                              f"(at most {MAX_CLASSES} classes, sparsity in [0, 1]); {fix}")
        if not isinstance(self.block, int) or self.block < 1:
            raise TicketError(f"{where} has block = {self.block!r}; {fix}")
        for name, kind in (("totals", dict), ("layers", (list, tuple)), ("source", dict), ("method_params", dict)):
            if not isinstance(getattr(self, name), kind):
                raise TicketError(f"{where} has {name} = {getattr(self, name)!r} (expected {_names(kind)}); {fix}")
        object.__setattr__(self, "input_size", tuple(self.input_size))
        object.__setattr__(self, "mean", tuple(self.mean))
        object.__setattr__(self, "std", tuple(self.std))
        object.__setattr__(self, "layers", tuple(self.layers or ()))

    @property
    def pretraining(self) -> str | None:
        return (self.source or {}).get("pretraining")

    @property
    def label(self) -> str:
        """Short description used in every report; says so when weights are untrained."""
        base = f"{self.arch} {self.method} {self.achieved_sparsity:.1%}"
        return f"{base} ({UNTRAINED_LABEL})" if self.untrained else base

    @property
    def tag(self) -> str:
        """Row name of a ticket in reports: ``omp90``, ``omp90-block4-layer``, ``omp82-block4-layer-target2x``."""
        target = (self.allocation or {}).get("target_speedup")
        return ticket_tag(self.method, self.achieved_sparsity, self.block, self.scope) + (f"-target{target:g}x" if target else "")


@dataclass(frozen=True)
class ExportManifest(Record):
    """``manifest.json``: one exported variant (ticket or dense; FP32 or INT8) and its validation."""

    SCHEMAS: ClassVar = (EXPORT_SCHEMA, "edge-transfer.export/1")
    ERROR: ClassVar = OnnxModelError
    FIX: ClassVar = "re-export the folder with `edge-transfer export` (or `quantize`)"
    REQUIRED: ClassVar = {"variant": str, "arch": str, "sparsity": (int, float), "input_size": list,
                          "mean": list, "std": list, "files": dict, "validation": dict}

    schema: str
    variant: str  # ticket | dense
    precision: str = FP32
    label: str = ""
    ticket_path: str | None = None
    source_export: str | None = None  # the FP32 export an INT8 folder was quantized from
    ticket: TicketMeta | dict | None = None  # the ticket's record without its layers (ticket variant)
    arch: str = ""
    sparsity: float = 0.0
    untrained: bool = False
    opset: int = 13
    batch_size: int | str = "dynamic"
    input_size: tuple = ()
    mean: tuple = ()
    std: tuple = ()
    num_classes: int | None = None
    feature_dim: int | None = None
    forms: dict | None = None  # INT8: form -> {graph stem -> file}
    files: dict = field(default_factory=dict)  # file -> {sha256, bytes, inputs, outputs}
    quantization: dict | None = None
    validation: dict = field(default_factory=dict)
    dense: str | None = None  # the dense baseline's manifest, relative
    seconds: float | None = None
    tool_version: str | None = None
    extra: dict = field(default_factory=dict)

    def _check(self, where: str) -> None:
        fix = self.FIX
        if self.variant not in ("ticket", "dense") or self.precision not in PRECISIONS:
            raise OnnxModelError(f"{where} has variant {self.variant!r}, precision {self.precision!r}; {fix}")
        object.__setattr__(self, "input_size", shape_field(self.input_size, where, "input_size", OnnxModelError, fix, int))
        object.__setattr__(self, "mean", shape_field(self.mean, where, "mean", OnnxModelError, fix))
        object.__setattr__(self, "std", shape_field(self.std, where, "std", OnnxModelError, fix))
        if isinstance(self.ticket, dict):
            meta = {"layers": [], **self.ticket}
            meta["schema"] = meta.get("schema", TICKET_SCHEMA)
            object.__setattr__(self, "ticket", TicketMeta.from_json(meta, f"{where} (its ticket record)"))
        if self.precision == INT8 and not isinstance(self.forms, dict):
            raise OnnxModelError(f"{where} is INT8 but lists no forms; {fix}")
        _bounded(self.num_classes, where, "num_classes", MAX_CLASSES, OnnxModelError, fix)
        _bounded(self.feature_dim, where, "feature_dim", MAX_FEATURE_DIM, OnnxModelError, fix)
        for name in self.files:
            confined_name(name, where, OnnxModelError, fix)
        for files in (self.forms or {}).values():
            for name in files.values() if isinstance(files, dict) else [files]:
                confined_name(name, where, OnnxModelError, fix)
        if self.dense is not None:
            confined_name(self.dense, where, OnnxModelError, fix, subfolders=True)

    def to_json(self, without: tuple[str, ...] = ()) -> dict:
        out = super().to_json(without)
        if isinstance(self.ticket, TicketMeta):
            out["ticket"] = self.ticket.to_json(without=("layers",))
        return out

    @property
    def passed(self) -> bool:
        return bool(self.validation.get("passed"))

    @property
    def tag(self) -> str:
        """Row name in bench reports: ``resnet50-omp90-block4-int8``, ``resnet50-dense``."""
        ticket = self.ticket if isinstance(self.ticket, TicketMeta) else None
        body = "dense" if self.variant == "dense" else (ticket.tag if ticket else f"sparse{round(self.sparsity * 100):02d}")
        return f"{self.arch}-{body}" + ("-int8" if self.precision == INT8 else "")
