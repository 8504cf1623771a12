"""``DemoOptions`` (what the demo runs, every default in one place) and ``DemoResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..backbones import get_backbone_cfg
from ..engines import get_engine
from ..errors import OptionError

DEMO_MARKER = ".edge-transfer-demo"  # in every folder the demo writes: the only kind it replaces
SOURCE_IMAGE_SIZE = 16  # the study's size: pretraining on 2 cores in about a minute


@dataclass
class DemoOptions:
    output: Path = Path("export/demo")
    archs: tuple[str, ...] = ("resnet50", "resnet18-cifar")
    sparsities: tuple[float, ...] = (0.0, 0.8, 0.9, 0.95)
    validate_engines: tuple[str, ...] = ("onnxruntime", "deepsparse")
    seed: int = 0
    # Trained source for these archs (the rest stay untrained: speed only).
    pretrain_archs: tuple[str, ...] = ("resnet18-cifar",)
    source_data: str = "embedded:mnist-0to4"
    pretrain_epochs: int = 3  # 0: every ticket untrained
    # The measured headline: this arch's tickets at these sparsities (and 1x4 blocks), FP32 and INT8.
    bench: bool = True
    bench_arch: str = "resnet50"
    bench_sparsities: tuple[float, ...] = (0.9,)
    bench_blocks: tuple[int, ...] = (1, 4)
    bench_engines: tuple[str, ...] = ("deepsparse", "onnxruntime", "openvino")
    ticket_engines: tuple[str, ...] = ("deepsparse",)  # the sparse engine; dense peers run on every engine
    bench_batch_sizes: tuple[int, ...] = (1, 64)
    bench_time_s: float = 1.0
    # The speed-target ticket (prune --target-speedup): each layer's sparsity chosen from a profile
    # the demo measures of the benchmarked arch in its deployed form (INT8, the largest block) on
    # DeepSparse at this batch, for this predicted speedup over that form's dense model (lowered
    # to 95% of the profile's ceiling where the device cannot reach it). None: no such row.
    speed_target: float | None = 2.0
    speed_target_batch: int = 1
    profile_grid: tuple[float, ...] = (0.0, 0.9, 0.95, 0.98)
    calibration: str = "embedded:mnist-5to9"
    calibration_samples: int = 64
    # Online learning: this ticket against its dense baseline on the embedded target task.
    adapt_ticket: str = "resnet18-cifar-omp90"
    adapt_epochs: int = 5
    # Deployment: the adapted ticket as one artifact (validated on the run's val images and
    # timed at batch 1 against the same artifact on the dense backbone), then `predict`.
    deploy: bool = True
    deploy_time_s: float = 2.0
    predict_images: int = 8
    # Natural vs robust quick study: opt-in (about 5 minutes more, a smoke-sized study).
    # Its own folder outside the demo's, so its cached pretraining and evaluations survive reruns.
    study: bool = False
    study_output: Path = Path("export/demo-study")

    def validate(self) -> None:
        for arch in self.archs:
            get_backbone_cfg(arch)
        for s in self.sparsities:
            if not 0.0 <= s < 1.0:
                raise OptionError(f"--sparsities must be in [0, 1), got {s}")
        if self.pretrain_epochs < 0 or self.adapt_epochs < 0:
            raise OptionError("--pretrain-epochs and --adapt-epochs must be >= 0 (0 skips the stage)")
        if self.bench:
            if self.bench_arch not in self.archs:
                raise OptionError(f"--bench-arch {self.bench_arch} is not one of --archs {','.join(self.archs)}; "
                                  "add it, or pass --no-bench")
            for name in self.bench_engines:
                get_engine(name)
            if any(not 0.0 < s < 1.0 for s in self.bench_sparsities):
                raise OptionError(f"--bench-sparsities must be in (0, 1), got {self.bench_sparsities}")
            if not self.bench_time_s > 0:
                raise OptionError(f"--bench-time must be > 0 seconds, got {self.bench_time_s}")
            if self.speed_target is not None and not (self.speed_target > 1 and self.speed_target < float("inf")):
                raise OptionError(f"--speed-target must be a finite speedup > 1, got {self.speed_target}")

    def trained(self, arch: str) -> bool:
        return arch in self.pretrain_archs and self.pretrain_epochs > 0

    def tickets(self) -> list[tuple[str, float, int]]:
        """(arch, sparsity, block) of every ticket drawn: the sparsity grid, plus the block
        tickets of the benchmarked architecture."""
        out = [(arch, s, 1) for arch in self.archs for s in self.sparsities]
        if self.bench:
            for s in self.bench_sparsities:
                out += [(self.bench_arch, s, b) for b in self.bench_blocks if (self.bench_arch, s, b) not in out]
        return out


@dataclass
class DemoResult:
    path: Path
    rows: list[dict] = field(default_factory=list)
    metas: dict = field(default_factory=dict, repr=False)  # ticket tag -> TicketMeta
    sources: dict = field(default_factory=dict, repr=False)  # arch -> pretraining record
    bench: object | None = field(default=None, repr=False)  # BenchResult of the measured headline
    adapt: dict | None = field(default=None, repr=False)  # adapt.json of the online-learning run
    deployed: dict | None = field(default=None, repr=False)  # the artifact's validation and a few predictions
    study: dict | None = field(default=None, repr=False)  # study.json of the quick transfer study
    seconds: float = 0.0
