"""``edge-transfer finetune``: full fine-tuning of a ticket with its mask held fixed."""

from __future__ import annotations

from pathlib import Path

from ..finetune import FinetuneOptions, default_train_settings, finetune
from . import _args, _train_args
from ..fileio import write_json


def add_arguments(parser) -> None:
    parser.add_argument("ticket", type=_args.input_path, metavar="TICKET", help="ticket folder")
    _train_args.add_train_arguments(parser, default_train_settings(), data_help="target task: embedded:mnist-5to9 (default) or a DIR")
    parser.add_argument("--output", type=_args.output_folder, help="write the fine-tuned ticket (same mask) and finetune.json here")
    parser.add_argument("--json", type=_args.output_file, metavar="OUT", help="write the result record as JSON")
    parser.add_argument("--force", action="store_true", help="replace an existing --output folder")
    d = _args.defaults(FinetuneOptions)
    parser.add_argument("--head-epochs", type=_args.non_negative_int, default=d["head_epochs"],
                        help="LP-FT: epochs training the head alone on the frozen backbone (10x the lr) before "
                             f"everything trains (0: none; default {d['head_epochs']})")
    parser.add_argument("--keep-bn-stats", action="store_true",
                        help="keep the source's BatchNorm statistics (default: re-estimate them on the training images first)")


def run(args) -> int:
    opts = _args.options_from(FinetuneOptions, args, train=_train_args.train_settings(args))
    result = finetune(opts, log=print)
    r = result.record
    print(f"{r['ticket_label']} fine-tuned on {r['data']['spec']} ({r['epochs'][-1]['epoch']} epochs, {r['seconds']:.0f}s): "
          f"top-1 {result.top1:.4f}, mean per-class {result.mean_class_acc:.4f}; "
          f"pruned weights still zero: {r['masked_weights_nonzero'] == 0}; final training loss "
          f"{r['final_train_loss']:.4f}" + ("" if r["converged"] else " (NOT converged: the budget decided this accuracy; "
                                                "raise --epochs)"))
    if args.json:
        write_json(args.json, r)
    if args.output:
        print(f"wrote {args.output}/ (fine-tuned ticket, finetune.json)")
    return 0
