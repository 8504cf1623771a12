"""``edge-transfer adapt``: online linear fine-tuning with a (sparse) backbone engine."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..adapt import PROBES, AdaptOptions
from . import _args


def _steps(text: str) -> tuple[int, ...]:
    return tuple(_args.positive_int(x) for x in _args.name_list(text)) if text.strip() else ()


def add_arguments(parser) -> None:
    parser.add_argument("source", type=Path, metavar="TICKET_OR_EXPORT", help="ticket folder or export folder")
    g = parser.add_argument_group("data")
    g.add_argument("--data", default="embedded:mnist-5to9", help="embedded:mnist-5to9 (default), embedded:mnist-0to4, or an ImageFolder DIR")
    g.add_argument("--val", help="validation ImageFolder DIR (default: fixed 80/20 split of --data)")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True, help="RandomResizedCrop + flip (default on)")
    g.add_argument("--dataset-stats", action="store_true", help="normalise with the training set's mean/std, not the backbone's")
    g = parser.add_argument_group("training (defaults: the seed paper's)")
    g.add_argument("--epochs", type=_args.positive_int, default=150)
    g.add_argument("--batch-size", type=_args.positive_int, default=64)
    g.add_argument("--lr", type=float, default=0.01)
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--weight-decay", type=float, default=5e-4)
    g.add_argument("--lr-steps", type=_steps, default=(50, 100), help="epochs where lr is multiplied by 0.1 (default 50,100)")
    g.add_argument("--precompute", action="store_true",
                   help="linear evaluation: extract features once (no augmentation) and fit a converged probe")
    g.add_argument("--probe", choices=PROBES, default=AdaptOptions.probe,
                   help="with --precompute: lbfgs (default; standardised features, logistic regression, L2 chosen on "
                        "a held-out 20%% of train) or sgd (the online recipe over --epochs)")
    g.add_argument("--keep-bn-stats", action="store_true",
                   help="keep a ticket's source BatchNorm statistics (default: re-estimate them on the training images)")
    g.add_argument("--train-limit", type=_args.positive_int, metavar="N", help="use at most N training images (a fixed subset)")
    g.add_argument("--no-overlap", action="store_true", help="do not overlap feature extraction with head updates")
    g.add_argument("--seed", type=int, default=0)
    g = parser.add_argument_group("engine")
    g.add_argument("--engine", default="deepsparse", help="deepsparse (default), onnxruntime or torch")
    g.add_argument("--cores", type=_args.positive_int, help="cores (default: all physical cores)")
    g.add_argument("--compare-dense", action="store_true", help="run the same schedule on the dense baseline and report speedups")
    g = parser.add_argument_group("output")
    g.add_argument("--output", type=Path, default=Path("export/adapt"), help="run folder: checkpoint, adapt.json, report.md, adapt.png")
    g.add_argument("--checkpoint-every", type=_args.positive_int, default=1, help="save the head every N epochs (default 1)")
    g.add_argument("--resume", action="store_true", help="continue the run saved in --output")
    g.add_argument("--force", action="store_true", help="start over in an --output that holds a run")
    g.add_argument("--json", type=Path, metavar="OUT", help="also copy adapt.json here")


def run(args) -> int:
    from ..adapt import adapt
    from ..adapt.report import summary_lines

    opts = AdaptOptions(
        source=args.source, data=args.data, val=args.val, output=args.output, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
        lr_steps=args.lr_steps, augment=args.augment, engine=args.engine, cores=args.cores,
        compare_dense=args.compare_dense, precompute=args.precompute, overlap=not args.no_overlap,
        probe=args.probe, keep_bn_stats=args.keep_bn_stats, train_limit=args.train_limit,
        dataset_stats=args.dataset_stats, checkpoint_every=args.checkpoint_every, resume=args.resume,
        force=args.force, seed=args.seed,
    )
    result = adapt(opts, log=print)
    print("\n".join(summary_lines(result.payload)))
    if args.json:
        shutil.copyfile(result.path / "adapt.json", args.json)
    print(f"wrote {result.path}/ (checkpoint.pt, adapt.json, report.md, adapt.png)")
    return 0
