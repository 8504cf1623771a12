"""``edge-transfer quantize``: a ticket or export -> INT8 (QDQ and DeepSparse forms), validated."""

from __future__ import annotations

from pathlib import Path

from ..quantize import QuantizeOptions, quantize
from ..quantize.options import QuantizeOptions as Q
from ..tables import text_table
from . import _args


def add_arguments(parser) -> None:
    d = _args.defaults(Q)
    parser.add_argument("source", type=_args.input_path, metavar="TICKET|EXPORT", help="ticket folder or FP32 export folder")
    parser.add_argument("--output", type=_args.output_folder, required=True, help="folder to create for the INT8 models")
    g = parser.add_argument_group("calibration")
    g.add_argument("--calibration", type=_args.input_spec, default=d["calibration"], metavar="DATA",
                   help=f"images to calibrate on: embedded:mnist-5to9, a folder of class sub-folders, or 'random' "
                        f"(speed only) (default {d['calibration']})")
    g.add_argument("--samples", type=_args.positive_int, default=d["samples"],
                   help=f"calibration images (default {d['samples']})")
    g = parser.add_argument_group("quantization-aware fine-tuning (mask held fixed)")
    g.add_argument("--qat-epochs", type=_args.non_negative_int, default=d["qat_epochs"],
                   help=f"epochs of QAT after calibration (default {d['qat_epochs']}: none)")
    g.add_argument("--data", type=_args.input_spec, help="labelled images for QAT (default: the calibration data)")
    g.add_argument("--qat-lr", type=_args.positive_float, default=d["qat_lr"],
                   help=f"SGD learning rate of QAT (default {d['qat_lr']})")
    g = parser.add_argument_group("validation")
    g.add_argument("--max-drop", type=_args.non_negative_float, default=d["max_drop"],
                   help=f"accuracy points INT8 may lose against FP32 on the held-out split (default {d['max_drop']})")
    g.add_argument("--validate-engines", type=_args.name_list, default=d["validate_engines"],
                   help="engines compared with the fake-quantized PyTorch model (default onnxruntime,deepsparse)")
    g.add_argument("--no-dense", action="store_true", help="skip the dense INT8 baseline in OUTPUT/dense/")
    g.add_argument("--seed", type=int, default=d["seed"])
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")


def run(args) -> int:
    opts = _args.options_from(QuantizeOptions, args, with_dense=not args.no_dense)
    result = quantize(opts, log=print)
    v = result.manifest.validation
    print(text_table(["graph", "engine", "batch", "rel RMS error", "max rel diff", "tolerance", "parity"],
                     [[p["graph"], p["engine"], p["batch_size"], f"{p['rms_rel_diff']:.2e}", f"{p['max_rel_diff']:.2e}",
                       f"{p['tolerance']:.0e}",
                       "ok" if p["passed"] else "FAIL"] for p in v["parity"]]))
    print(f"INT8 zero audit: {len(v['audit'])} pruned layer graphs, lost {v['lost_zeros']}, "
          f"gained {v['gained_zeros']} (weights that round to the zero point)")
    acc = result.accuracy
    if acc and acc.get("evaluated"):
        line = f"held-out {acc['data']} ({acc['images']} images): top-1 agreement FP32 vs INT8 {acc['top1_agreement']:.2%}"
        if "change_points" in acc:
            line += f"; top-1 FP32 {acc['fp32_top1']:.2%} -> INT8 {acc['int8_top1']:.2%} ({acc['change_points']:+.2f} points)"
        else:
            line += f" ({acc['reason']})"
        print(line)
    if result.manifest.untrained:
        print("untrained weights: speed only")
    dense = ", dense/" if opts.with_dense else ""
    print(f"wrote {result.path}/ (model.onnx + backbone.onnx: QDQ form; *.deepsparse.onnx: DeepSparse form; manifest.json{dense})")
    return 0
