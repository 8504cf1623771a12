"""``run_study(StudyOptions) -> StudyResult``: natural vs robust tickets, end to end.

The unit of replication is the source seed: for each pretraining (natural, pgd,
smoothing) and each of ``source_seeds`` seeds a dense source model is pretrained on the
source task (cached by a hash of everything that shapes it), and from it every scheme draws
tickets at every sparsity with that seed (imp/aimp reach all sparsities in one pruning
trajectory; lmp learns its mask on the target task, the others draw on the source task).
Each ticket and the dense model (sparsity 0, the baseline B) is then transferred to the
target task with that seed, both modes on the same training images: ``linear`` is adapt's
--precompute mode (fresh BatchNorm statistics, frozen backbone on an engine, converged
L-BFGS probe), ``full`` is ``finetune`` (fresh statistics, mask held fixed).

Results: flat records (``edge-transfer.study/2``) with accuracy mean and 95% interval over
source seeds, the relative increase in error eps = (err_S - err_B) / err_B against the
dense model of the same pretraining and mode, the robust-minus-natural gap with Welch's
interval and test (Holm-corrected over the reported cells), and a verdict that says "no
conclusion" unless the statistics carry one; a table, Markdown, JSON and a PNG of accuracy
vs sparsity. Finished evaluations are kept under the output folder, so an interrupted
study resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..errors import OptionError
from ..formats import STUDY_SCHEMA
from ..train.attacks import PRETRAINING_OF, PRETRAININGS

MODES = ("linear", "full")
ROBUST_KIND = {pretraining: kind for kind, pretraining in PRETRAINING_OF.items()}  # natural -> none, pgd -> pgd


@dataclass
class StudyOptions:
    arch: str = "resnet18-cifar"
    source: str = "embedded:mnist-0to4"
    target: str = "embedded:mnist-5to9"
    # OMP costs nothing to draw, so the default spends the hour on independent source seeds;
    # imp, aimp, lmp, gmp and the recipes are one --methods away
    methods: tuple[str, ...] = ("omp",)
    sparsities: tuple[float, ...] = (0.8, 0.9, 0.95)
    robust: tuple[str, ...] = ("natural", "pgd")
    modes: tuple[str, ...] = MODES
    source_seeds: int = 5  # independent pretrainings per arm; each also seeds its draws and transfers
    quick: bool = False
    # Budget (2 cores, default study within an hour): 16 px digits, short schedules.
    image_size: int = 16
    scope: str = "layer"  # per-layer ranking: global magnitude ranking empties whole layers of a short-trained net
    pretrain_epochs: int = 4
    source_limit: int | None = None  # pretrain on at most this many source images
    draw_epochs: int = 1  # per round for imp/aimp; in total for lmp and recipe schemes
    prune_ratio_per_round: float = 0.5
    # on train_limit images the curve has flattened by then (90% OMP ticket, 8 epochs: val top-1
    # 0.908/0.942/0.944 after epochs 1-3, then 0.942-0.944; train loss 1.00/0.21/0.09 then 0.06)
    finetune_epochs: int = 4
    finetune_lr: float = 0.01  # the papers' step (0.05 was measured unstable for a one-epoch fine-tune)
    train_limit: int | None = 1000  # target training images, the same ones for linear and full transfer
    draw_limit: int | None = 1000  # the training schemes (imp, aimp, lmp, recipes) draw on this many images
    eps: float = 0.1  # PGD (L-inf, pixel units) for pgd pretraining and aimp
    pgd_steps: int = 3
    noise_sigma: float = 0.25
    engine: str = "deepsparse"  # linear mode's backbone engine
    output: Path = Path("export/study")
    cache_dir: Path | None = None  # pretrained sources; default OUTPUT/cache
    json: Path | None = None
    progress: bool = False

    def resolved(self) -> "StudyOptions":
        """--quick: one source seed (so no conclusion), one training epoch per stage, 512
        training images per task."""
        if not self.quick:
            return self
        return replace(self, source_seeds=1, pretrain_epochs=1, draw_epochs=1, finetune_epochs=1,
                       source_limit=512 if self.source_limit is None else min(self.source_limit, 512),
                       train_limit=512 if self.train_limit is None else min(self.train_limit, 512))

    def validate(self) -> None:
        from ..backbones import get_backbone_cfg
        from ..prune import METHODS

        get_backbone_cfg(self.arch)
        for name, values, valid in (("--methods", self.methods, METHODS), ("--robust", self.robust, PRETRAININGS),
                                    ("--modes", self.modes, MODES)):
            if not values:
                raise OptionError(f"{name} is empty; give at least one of: {', '.join(valid)}")
            unknown = [v for v in values if v not in valid]
            if unknown:
                raise OptionError(f"unknown {name} value {unknown[0]!r}; choose from: {', '.join(valid)}")
        for s in self.sparsities:
            if not 0.0 < s < 1.0:
                raise OptionError(f"--sparsities must be in (0, 1), got {s}; the dense model (0) is always included")
        if self.source_seeds < 1:
            raise OptionError(f"--source-seeds must be >= 1, got {self.source_seeds}")
        if self.eps < 0:
            raise OptionError(f"--eps must be >= 0, got {self.eps}")
        for name, limit in (("--train-limit", self.train_limit), ("--source-limit", self.source_limit)):
            if limit is not None and limit < 10:
                raise OptionError(f"{name} must be at least 10 images, got {limit}")
        if not 0 < self.prune_ratio_per_round < 1:
            raise OptionError(f"--prune-ratio-per-round must be in (0, 1), got {self.prune_ratio_per_round}")
        if self.finetune_lr <= 0:
            raise OptionError(f"--finetune-lr must be > 0, got {self.finetune_lr}")
        if self.noise_sigma < 0:
            raise OptionError(f"--noise-sigma must be >= 0, got {self.noise_sigma}")
        self._check_stages()

    def _check_stages(self) -> None:
        """Every stage's own checks, up front: a typo fails in a second, not after pretraining."""
        from ..data import load_task
        from ..engines import get_engine

        get_engine(self.engine)
        for spec in (self.source, self.target):
            load_task(spec)
        for pretraining in self.robust:
            _robustness(self, pretraining).validate()
            _train(self, self.source, self.pretrain_epochs, 0, limit=self.source_limit).validate()

    def key(self) -> str:
        """Hash of what shapes tickets and evaluations (not which cells are run), so a rerun
        with more methods or seeds reuses every finished cell and a changed setting does not."""
        shaping = {k: v for k, v in asdict(self).items()
                   if k not in ("methods", "sparsities", "robust", "modes", "source_seeds", "quick", "output",
                                "cache_dir", "json", "progress")}
        return _digest(shaping)


@dataclass
class StudyResult:
    output: Path
    payload: dict = field(repr=False)


def _digest(obj) -> str:
    from .. import __version__

    text = json.dumps({"v": __version__, **obj}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _train(opts: StudyOptions, data: str, epochs: int, seed: int, lr: float = 0.01, wd: float = 1e-4,
           limit: int | None = None):
    from ..train import TrainSettings

    return TrainSettings(data=data, epochs=epochs, lr=lr, weight_decay=wd, image_size=opts.image_size, seed=seed,
                         progress=opts.progress, limit=limit)


def _robustness(opts: StudyOptions, pretraining: str):
    from ..train import Robustness

    return Robustness(kind=ROBUST_KIND[pretraining], eps=opts.eps, steps=opts.pgd_steps, sigma=opts.noise_sigma)


def _pretrained(opts: StudyOptions, pretraining: str, seed: int, log) -> tuple[Path, dict]:
    """The source checkpoint for ``pretraining`` and source seed ``seed``, trained once per
    content hash."""
    from ..formats import PRETRAIN_SCHEMA, read_record
    from ..pretrain import PretrainOptions, default_train_settings, pretrain, sidecar

    schedule = default_train_settings()  # pretrain's own learning rate and weight decay
    p = PretrainOptions(arch=opts.arch, output=Path("unused"),
                        train=_train(opts, opts.source, opts.pretrain_epochs, seed, lr=schedule.lr,
                                     wd=schedule.weight_decay, limit=opts.source_limit),
                        robust=_robustness(opts, pretraining))
    key = _digest({"arch": p.arch, "train": {k: v for k, v in p.train.to_dict().items() if k != "progress"},
                   "robust": p.robust.to_dict(), "eval": p.eval_pgd_steps})
    cache = Path(opts.cache_dir or Path(opts.output) / "cache")
    path = cache / f"{opts.arch}-{pretraining}-{key}.pt"
    if path.is_file() and sidecar(path).is_file():
        log(f"pretrained {pretraining} source: cached {path}")
        return path, read_record(sidecar(path), (PRETRAIN_SCHEMA,), OptionError, f"delete {path} to pretrain it again")
    log(f"pretraining the {pretraining} source, seed {seed} ({p.robust.describe()}, {p.train.epochs} epochs on "
        f"{opts.source})")
    result = pretrain(replace(p, output=path, force=True), log=lambda m: log("  " + m))
    return path, result.record


class _Runs:
    """Finished evaluations, one JSON file each, so a stopped study resumes."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str):
        from ..formats import read_json_file

        path = self.folder / f"{key}.json"
        return read_json_file(path, OptionError, f"delete {path} to run that cell again") if path.is_file() else None

    def put(self, key: str, record: dict) -> None:
        from ..fileio import write_json

        write_json(self.folder / f"{key}.json", record)


def _draw(opts: StudyOptions, method: str, pretraining: str, ckpt: Path, seed: int, work: Path, log) -> dict:
    """Tickets of ``method`` at every sparsity (and the dense model for method 'dense'),
    drawn from source seed ``seed``'s checkpoint with that seed."""
    from ..prune import PruneOptions, draw_tickets
    from ..prune._registry import get_method
    from ..formats import TICKET_FILE

    folder = work / "tickets" / pretraining / f"source{seed}"
    scheme = get_method("omp" if method == "dense" else method)  # the dense baseline is OMP at sparsity 0
    targets = (0.0,) if method == "dense" else tuple(sorted(opts.sparsities))
    shared = method != "dense" and scheme.shares_trajectory
    # imp/aimp's rounds depend on every requested sparsity: name the trajectory, draw it whole
    stem = f"{method}[{','.join(f'{s:g}' for s in targets)}]" if shared else method
    outputs = {s: folder / f"{stem}-{s:g}" for s in targets}
    todo = {s: p for s, p in outputs.items() if not (p / TICKET_FILE).is_file()}
    if shared and todo:
        todo = outputs
    if todo:
        data = opts.target if scheme.draws_on == "target" else opts.source
        prune = PruneOptions(arch=opts.arch, output=Path("unused"), method=scheme.name,
                             scope=opts.scope, checkpoint=ckpt, pretraining=pretraining, seed=seed,
                             train=_train(opts, data, opts.draw_epochs, seed, limit=opts.draw_limit),
                             robust=_robustness(opts, "pgd"),
                             prune_ratio_per_round=opts.prune_ratio_per_round, force=True)
        t0 = time.perf_counter()
        draw_tickets(prune, todo)
        log(f"  drew {method} ({pretraining}, source seed {seed}) at {', '.join(f'{s:g}' for s in todo)} "
            f"in {time.perf_counter() - t0:.0f}s")
    return outputs


def _draw_figures(ticket: Path, omp_ticket: Path | None) -> dict:
    """What the draw did: its last training loss (None for one-shot schemes) and the share of
    the OMP ticket's kept weights (same source and sparsity) that it keeps too."""
    from safetensors.torch import load_file

    from ..ticket import MASKS_FILE, load_ticket_meta

    params = load_ticket_meta(ticket).method_params
    history = params.get("history") or [{}]
    loss = params.get("train_loss", history[-1].get("train_loss"))
    overlap = None
    if omp_ticket is not None and omp_ticket != ticket:
        mine, omp = load_file(str(ticket / MASKS_FILE)), load_file(str(omp_ticket / MASKS_FILE))
        both = sum(int((mine[n].bool() & omp[n].bool()).sum()) for n in omp)
        overlap = both / max(sum(int(m.bool().sum()) for m in omp.values()), 1)
    return {"draw_train_loss": loss, "omp_overlap": overlap}


def _evaluate(opts: StudyOptions, mode: str, ticket: Path, seed: int, work: Path) -> dict:
    if mode == "full":
        from ..finetune import FinetuneOptions, finetune

        r = finetune(FinetuneOptions(ticket=ticket, train=_train(opts, opts.target, opts.finetune_epochs, seed,
                                                                 lr=opts.finetune_lr, limit=opts.train_limit)))
        last = r.record["epochs"][-1]
        return {"acc": r.top1, "mean_class_acc": r.mean_class_acc, "train_loss": last["train_loss"],
                "curve": [e["val_top1"] for e in r.record["epochs"]], "seconds": r.record["seconds"]}
    from ..adapt import AdaptOptions, adapt

    t0 = time.perf_counter()
    run_folder = work / "linear" / ticket.relative_to(work / "tickets") / f"seed{seed}"
    r = adapt(AdaptOptions(source=ticket, data=opts.target, output=run_folder, precompute=True, probe="lbfgs",
                           train_limit=opts.train_limit, augment=False, engine=opts.engine, seed=seed, force=True))
    return {"acc": r.summary["val_top1"], "mean_class_acc": r.summary["val_mean_class_acc"],
            "train_loss": r.summary["probe"]["train_loss"], "probe_C": r.summary["probe"]["C"],
            "probe_converged": r.summary["probe"]["converged"], "seconds": time.perf_counter() - t0}


def run_study(opts: StudyOptions, log: Callable[[str], None] = lambda _m: None) -> StudyResult:
    from ..fileio import write_json
    from ..system import system_info
    from ..formats import TICKET_FILE
    from .report import aggregate, source_summary, write_reports

    opts = opts.resolved()
    opts.validate()
    started = time.perf_counter()
    work = Path(opts.output) / f"work-{opts.key()}"
    runs = _Runs(work / "runs")
    sources, records = {}, []
    methods = ("dense", *opts.methods)
    n_evals = len(opts.robust) * opts.source_seeds * len(opts.modes) * (1 + len(opts.methods) * len(opts.sparsities))
    log(f"study: {opts.arch}, {opts.source} -> {opts.target}; {len(opts.robust)} pretrainings x "
        f"{opts.source_seeds} source seeds x {len(opts.methods)} methods x {len(opts.sparsities)} sparsities, modes "
        f"{'/'.join(opts.modes)}: {n_evals} transfer evaluations")
    done = 0
    for seed in range(opts.source_seeds):  # seed-major: an interrupted study still has whole replicates
        for pretraining in opts.robust:
            sources[(pretraining, seed)] = _pretrained(opts, pretraining, seed, log)
            ckpt = sources[(pretraining, seed)][0]
            drawn = {m: _draw(opts, m, pretraining, ckpt, seed, work, log) for m in methods}
            for method in methods:
                for sparsity, ticket in drawn[method].items():
                    ticket_id = hashlib.sha256((ticket / TICKET_FILE).read_bytes()).hexdigest()[:12]
                    figures = {} if method == "dense" else _draw_figures(ticket, drawn.get("omp", {}).get(sparsity))
                    for mode in opts.modes:
                        # keyed by the ticket's own record, so a redrawn ticket is evaluated again
                        key = f"{ticket.relative_to(work / 'tickets')}-{ticket_id}-{mode}".replace("/", "_")
                        record = runs.get(key)
                        if record is None:
                            record = {"pretraining": pretraining, "method": method, "sparsity": sparsity,
                                      "mode": mode, "source_seed": seed, "ticket": str(ticket), **figures,
                                      **_evaluate(opts, mode, ticket, seed, work)}
                            runs.put(key, record)
                        records.append(record)
                        done += 1
                        log(f"[{done}/{n_evals}] {pretraining:9s} source {seed} {method:6s} {sparsity:4.0%} "
                            f"{mode:6s}: top-1 {record['acc']:.4f}, train loss {record['train_loss']:.3f} "
                            f"({time.perf_counter() - started:.0f}s elapsed)")
    results, gaps, headline = aggregate(records, opts)
    payload = {
        "schema": STUDY_SCHEMA,
        "settings": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}, "key": opts.key()},
        "pretrained": [{"pretraining": p, "source_seed": seed, "checkpoint": str(path),
                        "val_clean": rec["val_clean"], "val_robust": rec["val_robust"],
                        "eval_attack": rec["eval_attack"], "seconds": rec["seconds"]}
                       for (p, seed), (path, rec) in sources.items()],
        "results": results,
        "gaps": gaps,
        "headline": headline,
        "runs": records,
        "system": system_info(),
        "seconds": time.perf_counter() - started,
    }
    payload["sources"] = source_summary(payload)
    payload["headline"] = payload["sources"]["warnings"] + headline
    write_reports(Path(opts.output), payload)
    write_json(Path(opts.output) / "study.json", payload)
    if opts.json is not None:
        write_json(opts.json, payload)
    return StudyResult(Path(opts.output), payload)
