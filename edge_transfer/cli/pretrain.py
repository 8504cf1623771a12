"""``edge-transfer pretrain``: train a dense source model (natural, PGD or smoothing)."""

from __future__ import annotations

from pathlib import Path

from ..pretrain import EVAL_PGD_STEPS, PretrainOptions, default_train_settings, pretrain, sidecar
from . import _args, _train_args


def add_arguments(parser) -> None:
    parser.add_argument("--arch", required=True, help="architecture name (see `edge-transfer info --list-archs`)")
    _train_args.add_train_arguments(parser, default_train_settings())
    _train_args.add_robust_arguments(parser, "none", "robust pretraining")
    parser.add_argument("--eval-pgd-steps", type=_args.positive_int, default=EVAL_PGD_STEPS,
                        help=f"PGD steps of the attack that measures robust accuracy (default {EVAL_PGD_STEPS})")
    parser.add_argument("--output", type=_args.output_folder, required=True, metavar="CKPT", help="checkpoint file (.pt or .safetensors)")
    parser.add_argument("--force", action="store_true", help="replace an existing checkpoint")


def run(args) -> int:
    opts = _args.options_from(PretrainOptions, args, train=_train_args.train_settings(args),
                              robust=_train_args.robustness(args))
    result = pretrain(opts, log=print)
    r = result.record
    print(f"wrote {result.path} (and {sidecar(result.path).name}) in {r['seconds']:.0f}s: {r['pretraining']} pretraining, "
          f"val clean top-1 {r['val_clean']['top1']:.3f}, robust top-1 {r['val_robust']['top1']:.3f} ({r['eval_attack']})")
    print(f"next: edge-transfer prune --arch {r['arch']} --checkpoint {result.path} --pretraining {r['pretraining']} ...")
    return 0
