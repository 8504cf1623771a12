"""``edge-transfer profile``: the device's per-layer speed profile, for ``prune --target-speedup``."""

from __future__ import annotations

from pathlib import Path

from ..formats import FP32, INT8
from ..speed.profile import ProfileOptions, measure_profile
from ..speed.report import plot_profile, profile_lines
from . import _args


def add_arguments(parser) -> None:
    d = _args.defaults(ProfileOptions)
    parser.add_argument("model", type=_args.input_path, metavar="MODEL",
                        help="ticket or export folder: its architecture and input size are profiled")
    parser.add_argument("--output", type=_args.output_file, default=d["output"],
                        help=f"profile JSON to write, reused when it holds this key (default {d['output']}); a plot "
                             "beside it (.png)")
    parser.add_argument("--engine", default=d["engine"], help=f"engine with per-layer timing (default {d['engine']})")
    parser.add_argument("--batch-size", type=_args.positive_int, default=d["batch_size"],
                        help=f"batch the device runs (default {d['batch_size']})")
    parser.add_argument("--cores", type=_args.positive_int, help="cores (default: all physical cores)")
    parser.add_argument("--precision", choices=(FP32, INT8), default=d["precision"],
                        help=f"form timed: int8 is the engine's INT8 form, as deployed (default {d['precision']})")
    parser.add_argument("--block", type=int, choices=(1, 4), default=d["block"],
                        help=f"4: 1x4 blocks, the layout of DeepSparse's INT8 kernels (default {d['block']})")
    parser.add_argument("--grid", type=_args.sparsity_list, default=d["grid"],
                        help=f"sparsities timed (default {','.join(f'{s:g}' for s in d['grid'])})")
    parser.add_argument("--iterations", type=_args.positive_int, default=d["iterations"],
                        help=f"analysis iterations per grid point (default {d['iterations']})")
    parser.add_argument("--time", type=_args.positive_float, default=d["time_s"], dest="time_s",
                        help=f"seconds of whole-model timing per grid point (default {d['time_s']:g})")
    parser.add_argument("--force", action="store_true", help="measure again even when --output holds this key")


def run(args) -> int:
    opts = _args.options_from(ProfileOptions, args)
    profile = measure_profile(opts, log=print)
    print("\n".join(profile_lines(profile)))
    plot = Path(opts.output).with_suffix(".png")
    plot_profile(profile, plot)
    print(f"wrote {opts.output} and {plot}")
    return 0
