"""``edge-transfer adapt``: online linear fine-tuning with a (sparse) backbone engine."""

from __future__ import annotations

from pathlib import Path

from ..adapt import AdaptOptions, PROBES, RESULTS_FILE, adapt
from ..adapt.options import CHECKPOINT_FILE, default_train_settings
from ..adapt.report import summary_lines
from ..fileio import atomic_write_bytes
from . import _args, _train_args


def _steps(text: str) -> tuple[int, ...]:
    return tuple(_args.positive_int(x) for x in _args.name_list(text)) if text.strip() else ()


def add_arguments(parser) -> None:
    d, t = _args.defaults(AdaptOptions), default_train_settings()
    parser.add_argument("source", type=_args.input_path, metavar="TICKET_OR_EXPORT", help="ticket folder or export folder")
    data, g = _train_args.add_online_arguments(
        parser, t, f"{t.data} (default), embedded:digits, embedded:mnist-0to4, or an ImageFolder DIR",
        "training (defaults: the seed paper's)")
    data.add_argument("--dataset-stats", action="store_true",
                      help="normalise with the training set's mean/std, not the backbone's")
    g.add_argument("--lr-steps", type=_steps, default=d["lr_steps"],
                   help=f"epochs where lr is multiplied by {d['lr_decay']:g} (default {','.join(map(str, d['lr_steps']))})")
    g.add_argument("--precompute", action="store_true",
                   help="linear evaluation: extract features once (no augmentation) and fit a converged probe")
    g.add_argument("--probe", choices=PROBES, default=d["probe"],
                   help="with --precompute: lbfgs (default; standardised features, logistic regression, L2 chosen on "
                        "a held-out 20%% of train) or sgd (the online recipe over --epochs)")
    g.add_argument("--keep-bn-stats", action="store_true",
                   help="keep a ticket's source BatchNorm statistics (default: re-estimate them on the training images)")
    g.add_argument("--no-overlap", action="store_true", help="do not overlap feature extraction with head updates")
    g = parser.add_argument_group("engine")
    g.add_argument("--engine", default=d["engine"], help=f"{d['engine']} (default), onnxruntime, openvino or torch")
    g.add_argument("--cores", type=_args.positive_int, help="cores (default: all physical cores)")
    g.add_argument("--compare-dense", action="store_true", help="run the same schedule on the dense baseline and report speedups")
    g = parser.add_argument_group("output")
    g.add_argument("--output", type=_args.output_folder, default=d["output"], help="run folder: checkpoint, adapt.json, report.md, adapt.png")
    g.add_argument("--checkpoint-every", type=_args.positive_int, default=d["checkpoint_every"],
                   help=f"save the head every N epochs (default {d['checkpoint_every']})")
    g.add_argument("--resume", action="store_true", help="continue the run saved in --output")
    g.add_argument("--force", action="store_true", help="start over in an --output that holds a run")
    g.add_argument("--json", type=_args.output_file, metavar="OUT", help="also copy adapt.json here")
    g.add_argument("--no-keep-backbone", action="store_true",
                   help="do not copy the backbone ticket into the run (`deploy` needs it)")


def train_settings(args):
    return _train_args.online_settings(args, default_train_settings())


def run(args) -> int:
    opts = _args.options_from(AdaptOptions, args, train=train_settings(args), overlap=not args.no_overlap,
                              keep_backbone=not args.no_keep_backbone)
    result = adapt(opts, log=print)
    print("\n".join(summary_lines(result.payload)))
    if args.json:
        atomic_write_bytes(args.json, (result.path / RESULTS_FILE).read_bytes())
    print(f"wrote {result.path}/ (checkpoint.pt, adapt.json, report.md, adapt.png)")
    return 0


def kept_on_interrupt(args) -> str | None:
    """adapt keeps its last completed epoch's checkpoint (written atomically) so a stopped run resumes."""
    checkpoint = Path(args.output) / CHECKPOINT_FILE
    if checkpoint.is_file():
        return f"the last completed epoch is kept in {checkpoint}: rerun with --resume to continue"
    return None

