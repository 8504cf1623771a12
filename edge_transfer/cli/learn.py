"""``edge-transfer learn``: keep learning on the device from a deployed artifact; writes a new one."""

from __future__ import annotations

from pathlib import Path

from ..deploy import learn
from ..deploy.options import LearnOptions, default_train_settings
from . import _args, _train_args


def add_arguments(parser) -> None:
    d, t = _args.defaults(LearnOptions), default_train_settings()
    parser.add_argument("artifact", type=_args.input_path, metavar="DIR", help="artifact folder from `edge-transfer deploy` or `learn`")
    parser.add_argument("--output", type=_args.output_folder, required=True, help="new artifact folder to create")
    _train_args.add_online_arguments(parser, t, "new labelled images: an ImageFolder DIR or embedded:NAME; class "
                                     "folders not in the artifact become new classes", "training (the online head)")
    parser.add_argument("--engine", default=d["engine"], help=f"engine for the backbone (default {d['engine']})")
    parser.add_argument("--cores", type=_args.positive_int, help="cores (default: all physical cores)")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")


def run(args) -> int:
    opts = _args.options_from(LearnOptions, args, train=_train_args.online_settings(args, default_train_settings()))
    r = learn(opts, log=print)
    before = r.val_top1_before
    print(f"val top-1 {r.val_top1:.4f} on {r.val_images} val images of --data ({','.join(r.classes_in_data)})"
          + (f" (before learning {before:.4f})" if before is not None else "") + f", {r.manifest.num_classes} classes")
    print(f"wrote {args.output}/ (model.onnx, head.safetensors, labels.json, deploy.json)")
    return 0
