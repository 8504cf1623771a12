"""``edge-transfer adapt``: online linear fine-tuning with a (sparse) backbone engine."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..adapt import PROBES, RESULTS_FILE, AdaptOptions
from ..adapt.options import default_train_settings
from . import _args


def _steps(text: str) -> tuple[int, ...]:
    return tuple(_args.positive_int(x) for x in _args.name_list(text)) if text.strip() else ()


def add_arguments(parser) -> None:
    d, t = _args.defaults(AdaptOptions), default_train_settings()
    parser.add_argument("source", type=Path, metavar="TICKET_OR_EXPORT", help="ticket folder or export folder")
    g = parser.add_argument_group("data")
    g.add_argument("--data", default=t.data, help=f"{t.data} (default), embedded:digits, embedded:mnist-0to4, or an ImageFolder DIR")
    g.add_argument("--val", help="validation ImageFolder DIR (default: fixed 80/20 split of --data)")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=t.augment,
                   help=f"RandomResizedCrop + flip (default {'on' if t.augment else 'off'})")
    g.add_argument("--dataset-stats", action="store_true", help="normalise with the training set's mean/std, not the backbone's")
    g = parser.add_argument_group("training (defaults: the seed paper's)")
    g.add_argument("--epochs", type=_args.positive_int, default=t.epochs)
    g.add_argument("--batch-size", type=_args.positive_int, default=t.batch_size)
    g.add_argument("--lr", type=_args.positive_float, default=t.lr)
    g.add_argument("--momentum", type=_args.non_negative_float, default=t.momentum)
    g.add_argument("--weight-decay", type=_args.non_negative_float, default=t.weight_decay)
    g.add_argument("--lr-steps", type=_steps, default=d["lr_steps"],
                   help=f"epochs where lr is multiplied by {d['lr_decay']:g} (default {','.join(map(str, d['lr_steps']))})")
    g.add_argument("--precompute", action="store_true",
                   help="linear evaluation: extract features once (no augmentation) and fit a converged probe")
    g.add_argument("--probe", choices=PROBES, default=d["probe"],
                   help="with --precompute: lbfgs (default; standardised features, logistic regression, L2 chosen on "
                        "a held-out 20%% of train) or sgd (the online recipe over --epochs)")
    g.add_argument("--keep-bn-stats", action="store_true",
                   help="keep a ticket's source BatchNorm statistics (default: re-estimate them on the training images)")
    g.add_argument("--train-limit", type=_args.positive_int, metavar="N", default=t.limit,
                   help="use at most N training images (a fixed subset)")
    g.add_argument("--no-overlap", action="store_true", help="do not overlap feature extraction with head updates")
    g.add_argument("--seed", type=int, default=t.seed)
    g = parser.add_argument_group("engine")
    g.add_argument("--engine", default=d["engine"], help=f"{d['engine']} (default), onnxruntime, openvino or torch")
    g.add_argument("--cores", type=_args.positive_int, help="cores (default: all physical cores)")
    g.add_argument("--compare-dense", action="store_true", help="run the same schedule on the dense baseline and report speedups")
    g = parser.add_argument_group("output")
    g.add_argument("--output", type=Path, default=d["output"], help="run folder: checkpoint, adapt.json, report.md, adapt.png")
    g.add_argument("--checkpoint-every", type=_args.positive_int, default=d["checkpoint_every"],
                   help=f"save the head every N epochs (default {d['checkpoint_every']})")
    g.add_argument("--resume", action="store_true", help="continue the run saved in --output")
    g.add_argument("--force", action="store_true", help="start over in an --output that holds a run")
    g.add_argument("--json", type=_args.output_file, metavar="OUT", help="also copy adapt.json here")


def train_settings(args):
    """adapt's training flags as a TrainSettings (its image size is the export's: no flag)."""
    from dataclasses import replace

    return replace(default_train_settings(), data=args.data, val=args.val, epochs=args.epochs,
                   batch_size=args.batch_size, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                   augment=args.augment, seed=args.seed, limit=args.train_limit)


def run(args) -> int:
    from ..adapt import adapt
    from ..adapt.report import summary_lines

    opts = _args.options_from(AdaptOptions, args, train=train_settings(args), overlap=not args.no_overlap)
    result = adapt(opts, log=print)
    print("\n".join(summary_lines(result.payload)))
    if args.json:
        from ..fileio import atomic_write_bytes

        atomic_write_bytes(args.json, (result.path / RESULTS_FILE).read_bytes())
    print(f"wrote {result.path}/ (checkpoint.pt, adapt.json, report.md, adapt.png)")
    return 0


def kept_on_interrupt(args) -> str | None:
    """adapt keeps its last completed epoch's checkpoint (written atomically) so a stopped run resumes."""
    from ..adapt.options import CHECKPOINT_FILE

    checkpoint = Path(args.output) / CHECKPOINT_FILE
    if checkpoint.is_file():
        return f"the last completed epoch is kept in {checkpoint}: rerun with --resume to continue"
    return None

