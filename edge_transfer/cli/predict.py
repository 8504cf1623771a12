"""``edge-transfer predict``: classify images with a deployed artifact."""

from __future__ import annotations

from pathlib import Path

from ..deploy.options import PredictOptions
from ..deploy.predict import predict_files
from ..errors import OptionError
from ..fileio import write_json
from . import _args

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def add_arguments(parser) -> None:
    d = _args.defaults(PredictOptions)
    parser.add_argument("artifact", type=_args.input_path, metavar="DIR", help="artifact folder from `edge-transfer deploy`")
    parser.add_argument("inputs", type=_args.input_path, nargs="+", metavar="INPUT", help="image files or folders (PNG, JPEG)")
    parser.add_argument("--engine", default=d["engine"], help=f"{d['engine']} (default), onnxruntime or openvino")
    parser.add_argument("--cores", type=_args.positive_int, help="cores (default: all physical cores)")
    parser.add_argument("--top-k", type=_args.positive_int, default=d["top_k"], help=f"labels shown per image (default {d['top_k']})")
    parser.add_argument("--batch-size", type=_args.positive_int, default=d["batch_size"],
                        help=f"images per engine call (default {d['batch_size']}; 1 also reports latency percentiles)")
    parser.add_argument("--json", type=_args.output_file, metavar="OUT", help="also write the predictions here")


def image_files(inputs: list[Path]) -> list[Path]:
    """Files as given, folders searched recursively for PNG and JPEG, in sorted order."""
    files = []
    for path in inputs:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise OptionError(f"{path} not found; give image files or folders of them")
    return files


def run(args) -> int:
    result = predict_files(_args.options_from(PredictOptions, args, files=tuple(image_files(args.inputs))))
    for row in result["predictions"]:
        print(f"{row['file']}: " + ", ".join(f"{label} {p:.3f}" for label, p in row["top_k"]))
    s = result["summary"]
    for entry in s["unreadable_files"]:
        print(f"{entry['file']}: unreadable ({entry['reason']}), skipped")
    line = (f"{s['images']} images ({s['unreadable']} unreadable, skipped) in {s['seconds']:.2f}s: "
            f"{s['images_per_sec']:.1f} images/s on {s['engine']}, batch {s['batch_size']}")
    if "latency_ms_p50" in s:
        line += f"; end-to-end (decode to label) batch-1 latency p50 {s['latency_ms_p50']:.2f} ms, p99 {s['latency_ms_p99']:.2f} ms"
    print(line)
    if args.json:
        write_json(args.json, result)
    return 0
