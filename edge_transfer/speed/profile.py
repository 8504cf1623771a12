"""``measure_profile(ProfileOptions)``: the device's per-layer speed profile. At every grid
sparsity a ticket of the model is drawn with that sparsity in every prunable layer (OMP per
layer, 1x4 blocks where asked, random weights: time depends on where the zeros are, not on
their values), exported (and quantized to the engine's INT8 form where asked), and the
engine's own analysis times each unit it runs. Real masks are used at every grid point:
DeepSparse's imposed kernel sparsity (``imposed_ks``) leaves the units it fuses into
'pyramids' dense (measured: kernel_sparsity 0.0 on every pyramid of resnet18-cifar under
imposed_ks 0.9), while a real 98% mask speeds those pyramids up, so the shortcut would
mis-time exactly the layers batch 1 depends on."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import __version__
from ..bench.timing import time_sync
from ..cluster.identity import isa_flags
from ..cores import pinned
from ..engines import get_engine
from ..errors import OptionError
from ..export import ExportOptions, export_ticket
from ..export.resolve import read_manifest
from ..fileio import check_writable
from ..formats import FP32, INT8, MODEL_FILE, is_export, is_ticket
from ..onnx_io import load_onnx
from ..prune import PruneOptions, draw_ticket
from ..quantize import QuantizeOptions, quantize
from ..quantize.images import RANDOM_CALIBRATION
from ..quantize.quantize import FORM_FILES
from ..system import cpu_model
from ..ticket import load_ticket_meta
from ..train import TrainSettings
from .record import PROFILE_SCHEMA, ProfileKey, SpeedProfile

DEFAULT_GRID = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
QUANTIZED_SUFFIX = "_quantized"
METHOD = "real masks at every grid point (OMP per layer), timed by the engine's per-unit analysis"


@dataclass
class ProfileOptions:
    model: Path  # a ticket or export folder: its architecture and input size are profiled
    output: Path = Path("profile.json")
    engine: str = "deepsparse"
    batch_size: int = 1
    cores: int | None = None
    precision: str = FP32  # or int8 (the engine's INT8 form, as deployed)
    block: int = 1  # 4: 1x4 blocks, the layout of DeepSparse's INT8 kernels
    grid: tuple = DEFAULT_GRID
    iterations: int = 20  # analysis iterations per grid point
    time_s: float = 1.0  # whole-model timing per grid point
    force: bool = False  # measure again even when --output holds a profile of the same key

    def validate(self) -> None:
        engine = get_engine(self.engine)
        if not engine.layer_timing:
            raise OptionError(f"--engine {self.engine} has no per-layer timing; profile on deepsparse")
        if self.precision not in engine.precisions:
            raise OptionError(f"--precision {self.precision}: {self.engine} runs {', '.join(engine.precisions)}")
        if self.block not in (1, 4):
            raise OptionError(f"--block must be 1 or 4, got {self.block}")
        grid = list(self.grid)
        if len(grid) < 2 or grid[0] != 0 or grid != sorted(set(grid)) or not all(0 <= s < 1 for s in grid):
            raise OptionError(f"--grid must be ascending sparsities in [0, 1) starting at 0, got {self.grid}")
        if self.batch_size < 1 or self.iterations < 1 or not self.time_s > 0:
            raise OptionError("--batch-size and --iterations must be positive, --time > 0")
        if Path(self.output).is_dir():
            raise OptionError(f"--output {self.output} is a folder; give a file such as profile.json")
        check_writable(self.output)


def model_key(model: Path, engine_name: str, batch_size: int, cores: int, precision: str, block: int) -> ProfileKey:
    """The key of a profile of ``model`` (ticket or export folder) on this machine."""
    arch, input_size = _arch_and_size(Path(model))
    return ProfileKey(arch=arch, input_size=tuple(input_size), engine=engine_name,
                      engine_version=get_engine(engine_name).version(), batch_size=batch_size, cores=cores,
                      cpu=cpu_model(), isa=tuple(isa_flags()), precision=precision, block=block)


def _arch_and_size(model: Path) -> tuple[str, tuple]:
    if is_ticket(model):
        meta = load_ticket_meta(model)
        return meta.arch, tuple(meta.input_size)
    if is_export(model):
        manifest = read_manifest(model)
        return manifest.arch, tuple(manifest.input_size)
    raise OptionError(f"{model} is neither a ticket folder nor an export folder; give one of the model to profile")


def measure_profile(opts: ProfileOptions, log: Callable[[str], None] = lambda _m: None) -> SpeedProfile:
    """The profile at ``opts.output``: reused when the file there has this key, else measured."""
    import tempfile

    opts.validate()
    started = time.perf_counter()
    with pinned(opts.cores) as core:
        key = model_key(opts.model, opts.engine, opts.batch_size, core.cores, opts.precision, opts.block)
        cached = _cached(Path(opts.output), key, opts.grid) if not opts.force else None
        if cached is not None:
            log(f"profile {opts.output} already holds this key ({key.digest()}); reused (--force measures again)")
            return cached
        units, fixed, measured = {}, [], []
        with tempfile.TemporaryDirectory(prefix="edge-transfer-profile-") as tmp:
            for i, sparsity in enumerate(opts.grid):
                point = _grid_point(key, sparsity, opts, Path(tmp) / f"s{i}", log)
                shutil.rmtree(Path(tmp) / f"s{i}", ignore_errors=True)  # resnet50's forms take 250 MB a point
                fixed.append(point["fixed_ms"])
                measured.append(point["measured_ms"])
                for layers, ms in point["units"].items():
                    units.setdefault(layers, [None] * len(opts.grid))[i] = ms
        profile = SpeedProfile(schema=PROFILE_SCHEMA, key=key, grid=tuple(opts.grid), units=_merge(units),
                               fixed_ms=tuple(fixed), measured_ms=tuple(measured), method=METHOD,
                               seconds=time.perf_counter() - started, tool_version=__version__)
        profile = SpeedProfile.from_json(profile.to_json(), "the measured profile")
    profile.write(Path(opts.output))
    return profile


def _cached(path: Path, key: ProfileKey, grid) -> SpeedProfile | None:
    if not path.is_file():
        return None
    try:
        found = SpeedProfile.read(path)
    except OptionError:
        return None  # damaged or another format: measured again and replaced
    return found if found.key == key and tuple(found.grid) == tuple(grid) else None


def _grid_point(key: ProfileKey, sparsity: float, opts: ProfileOptions, folder: Path, log) -> dict:
    """One grid point: {units: {layers tuple: ms}, fixed_ms, measured_ms}."""
    import numpy as np

    t0 = time.perf_counter()
    c, h, w = key.input_size
    ticket = draw_ticket(PruneOptions(arch=key.arch, output=folder / "ticket", sparsity=sparsity, scope="layer",
                                      block=key.block, train=TrainSettings(image_size=h)))
    exported = export_ticket(ExportOptions(ticket=ticket.path, output=folder / "export", validate_engines=()))
    graph = exported.path / MODEL_FILE
    if key.precision == INT8:
        engine_form = get_engine(key.engine).int8_form
        q = quantize(QuantizeOptions(source=exported.path, output=folder / "int8", calibration=RANDOM_CALIBRATION,
                                     samples=32, with_dense=False, validate_engines=(), progress=False))
        graph = q.path / FORM_FILES[engine_form]["model"]
    engine = get_engine(key.engine)
    x = [np.random.default_rng(0).standard_normal((key.batch_size, c, h, w), dtype=np.float32)]
    analysis = engine.analyze_layers(graph, key.batch_size, key.cores, x, iterations=opts.iterations)
    timing = time_sync(engine.compile(graph, key.batch_size, key.cores), x, key.batch_size, opts.time_s, 5, 0.2)
    owners = _layer_of_output(graph, {r["name"] for r in ticket.meta.layers if r["prunable"]})
    units, fixed = {}, 0.0
    for unit in analysis["units"]:
        layers = tuple(sorted({layer for out in unit["outputs"] for layer in owners.get(out, ())}))
        if layers:
            units[layers] = units.get(layers, 0.0) + unit["ms"]
        else:
            fixed += unit["ms"]
    measured = float(np.median(timing.latencies_s)) * 1e3
    log(f"sparsity {sparsity:.2f}: {len(units)} prunable units, analysed {analysis['total_ms']:.2f} ms "
        f"({fixed:.2f} ms fixed), measured {measured:.2f} ms ({time.perf_counter() - t0:.0f}s)")
    return {"units": units, "fixed_ms": fixed, "measured_ms": measured}


def _layer_of_output(graph: Path, prunable: set) -> dict:
    """Graph output name -> the prunable layers (their weight initializers, named as the ticket's
    parameters in FP32 and both INT8 forms) read by the node producing it."""
    model = load_onnx(graph, load_external=False)
    owners = {}
    for node in model.graph.node:
        # sparseml's DeepSparse INT8 form names a quantized weight NAME_quantized
        layers = [name.removesuffix(QUANTIZED_SUFFIX) for name in node.input
                  if name.removesuffix(QUANTIZED_SUFFIX) in prunable]
        for out in node.output:
            owners[out] = layers
    return owners


def _merge(units: dict) -> list:
    """Units measured at the grid points -> the allocation's units: layers that share a unit
    at any grid point are one unit (pruned to one sparsity); its time at a point is the sum of
    that point's units among its layers. A unit never timed at a point (the engine fused it
    into another) counts 0 there: its time is in the unit that holds it."""
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for layers in units:
        for other in layers[1:]:
            parent[find(other)] = find(layers[0])
        find(layers[0])
    groups: dict = {}
    for layers, times in units.items():
        root = find(layers[0])
        group = groups.setdefault(root, {"layers": set(), "ms": [0.0] * len(times)})
        group["layers"] |= set(layers)
        group["ms"] = [a + (b or 0.0) for a, b in zip(group["ms"], times)]
    return [{"layers": sorted(g["layers"]), "ms": g["ms"]} for g in groups.values()]
