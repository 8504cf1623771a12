"""``edge-transfer deploy``: an adapt run or a fine-tuned ticket -> one validated artifact."""

from __future__ import annotations

from pathlib import Path

from ..deploy import DeployOptions, deploy
from . import _args


def add_arguments(parser) -> None:
    d = _args.defaults(DeployOptions)
    parser.add_argument("source", type=_args.input_path, metavar="SOURCE", help="adapt run folder, or a fine-tuned ticket")
    parser.add_argument("--output", type=_args.output_folder, required=True, help="artifact folder to create")
    parser.add_argument("--engine", default=d["engine"], help=f"engine it is validated and timed on (default {d['engine']})")
    parser.add_argument("--cores", type=_args.positive_int, help="cores (default: all physical cores)")
    parser.add_argument("--val", type=_args.input_spec, help="validation data (default: the source's own val split)")
    parser.add_argument("--time", type=_args.positive_float, default=d["time"],
                        help=f"seconds of batch-1 timing, sparse and dense artifacts together (default {d['time']:g})")
    g = parser.add_argument_group("INT8")
    g.add_argument("--int8", action="store_true",
                   help="the backbone in the engine's INT8 form (calibrated on the task's training images; head FP32)")
    g.add_argument("--calibration-samples", type=_args.positive_int, default=d["calibration_samples"],
                   help=f"calibration images (default {d['calibration_samples']})")
    g.add_argument("--max-drop", type=_args.non_negative_float, default=d["max_drop"],
                   help=f"val top-1 points an INT8 or --fold-preprocessing artifact may lose against the run before nothing is "
                        f"written (default {d['max_drop']:g}; an FP32 one must agree on 99.5%% of the images)")
    parser.add_argument("--seed", type=int, default=d["seed"], help="seed of the parity inputs")
    parser.add_argument("--fold-preprocessing", action="store_true",
                        help="the graph takes uint8 NHWC images at the input size and normalises them itself")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")


def run(args) -> int:
    result = deploy(_args.options_from(DeployOptions, args), log=print)
    v = result.manifest.validation
    t = v["timing"]
    print(f"val top-1 {v['val']['top1']:.4f} (source {v['val']['reference_top1'] or '-'}), agreement "
          f"{v['val']['agreement'] if v['val']['agreement'] is not None else '-'}; batch-1 p50 "
          f"{t['sparse']['latency_ms_p50']:.2f} ms vs dense {t['dense']['latency_ms_p50']:.2f} ms "
          f"({t['speedup_p50']:.2f}x); batch 64 throughput {t['batch_64']['speedup']:.2f}x the dense artifact on {v['engine']}")
    print(f"wrote {result.path}/ (model.onnx, head.safetensors, labels.json, deploy.json)")
    return 0
