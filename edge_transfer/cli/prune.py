"""``edge-transfer prune``: draw a ticket."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OptionError
from ..formats import read_json_file
from ..prune import PRETRAINING, PruneOptions, SCOPES, draw_ticket
from ..prune._registry import list_methods, methods_help
from ..prune.options import OVER
from ..speed.peers import with_best_peer
from ..train import TrainSettings
from . import _args, _train_args
from .info import print_ticket_summary


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; e.g. 0.2") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}; e.g. 0.2 prunes 20%% of what is left per round")
    return value


class _Given(argparse.Action):
    """Stores the value and notes that it was typed (a default does not conflict with --target-speedup)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def _allocation(text: str) -> dict:
    try:
        data = read_json_file(Path(text), OptionError, 'give a JSON file {"layer1.0.conv1.weight": 0.9, ...}')
    except OptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if isinstance(data, dict) and isinstance(data.get("allocation"), dict):  # a speed-target ticket's ticket.json
        data = data["allocation"]
    return data["layers"] if isinstance(data, dict) and isinstance(data.get("layers"), dict) else data


def add_arguments(parser) -> None:
    d = _args.defaults(PruneOptions)
    g = parser.add_argument_group("source model")
    g.add_argument("--arch", required=True, help="architecture name (see `edge-transfer info --list-archs`)")
    g.add_argument("--checkpoint", type=_args.input_path, help="pretrained weights; without it: random init, speed only")
    g.add_argument("--trust-checkpoint", action="store_true", help="allow arbitrary unpickling (only for files you trust)")
    g.add_argument("--pretraining", default=d["pretraining"], choices=PRETRAINING,
                   help=f"how the checkpoint was trained (recorded; default {d['pretraining']})")
    g = parser.add_argument_group("pruning")
    g.add_argument("--method", default=d["method"], choices=list_methods(),
                   help=f"drawing scheme, default {d['method']}. {methods_help()}")
    g.add_argument("--sparsity", type=_args.sparsity, default=d["sparsity"], action=_Given,
                   help=f"fraction of prunable weights set to 0 (default {d['sparsity']})")
    g.add_argument("--scope", default=d["scope"], choices=SCOPES, help=f"rank weights globally or per layer (default {d['scope']})")
    g.add_argument("--prune-first-conv", action="store_true", help="also prune the stem convolution (kept dense by default)")
    block = d["block"]
    g.add_argument("--block", type=int, default=block, metavar="N",
                   help=f"prune whole blocks: 4 = 1x4 blocks along input channels, the layout DeepSparse's INT8 "
                        f"(VNNI) kernels run fastest; 1 = unstructured (default {block}); "
                        f"with --method {', '.join(list_methods(takes_blocks=True))}")
    g.add_argument("--seed", type=int, default=d["seed"], help=f"seed of the random init (default {d['seed']})")
    g.add_argument("--mask-from", type=_args.input_path, metavar="TICKET", help="LTH-T: apply TICKET's mask to this checkpoint's weights (its sparsity and scope replace --sparsity, --scope)")
    g = parser.add_argument_group(f"per-layer sparsity ({', '.join(list_methods(takes_allocation=True))}): to a speed "
                                  "target, or as given")
    g.add_argument("--target-speedup", type=_args.positive_float, metavar="X",
                   help="each layer's sparsity chosen so the model is predicted X times faster than dense on the device "
                        "--profile measured (batch, cores and INT8 or FP32 form are the profile's)")
    g.add_argument("--over", choices=OVER, default=d["over"],
                   help="what --target-speedup is over: the dense model of the profile's form, or the fastest dense "
                        "model (FP32 and INT8 on every engine), measured at the profile's batch and cores first "
                        f"(default {d['over']})")
    g.add_argument("--target-latency", type=_args.positive_float, metavar="MS", dest="target_latency_ms",
                   help="or: the whole model's latency in ms on that device (the profile's measured scale)")
    g.add_argument("--profile", type=_args.input_path, metavar="P", help="a speed profile from `edge-transfer profile`")
    g.add_argument("--allocation", type=_allocation, metavar="FILE",
                   help="JSON {layer: sparsity}, or a speed-target ticket's ticket.json (its allocation); unnamed "
                        "layers stay dense")
    g = parser.add_argument_group("iterative schemes (imp, aimp)")
    g.add_argument("--prune-ratio-per-round", type=_ratio, help="fraction of the remaining weights pruned per round (default 0.2)")
    g.add_argument("--rounds", type=_args.positive_int, help="number of rounds (the per-round ratio follows from it)")
    g.add_argument("--rewind", action=argparse.BooleanOptionalAction, default=d["rewind"],
                   help="rewind surviving weights to the checkpoint after each round (default on)")
    g = parser.add_argument_group("learnable mask (lmp) and recipes (gmp, acdc, woodfisher, rigl)")
    g.add_argument("--score-lr", type=_args.positive_float, default=d["score_lr"],
                   help=f"lmp: Adam step size of the mask scores (default {d['score_lr']:g})")
    g.add_argument("--recipe", type=_args.input_path, help="a sparseml recipe YAML to use instead of the shipped one")
    _train_args.add_train_arguments(parser, TrainSettings(), "epochs: per round for imp/aimp, in total for lmp, str and recipes",
                                    "task to train on (needed by imp, aimp, lmp, str, recipes); lmp's is the downstream task")
    _train_args.add_robust_arguments(parser, None, "the inner maximisation (PGD) of aimp and almp")
    parser.set_defaults(sparsity_given=False)
    g = parser.add_argument_group("output")
    g.add_argument("--output", type=_args.output_folder, required=True, help="ticket folder to create")
    g.add_argument("--force", action="store_true", help="replace an existing output folder")


def run(args) -> int:
    per_layer = (args.target_speedup, args.target_latency_ms, args.allocation)
    if args.sparsity_given and any(x is not None for x in per_layer):
        raise OptionError("--sparsity sets every layer alike; drop it with --target-speedup, --target-latency or "
                          "--allocation")
    opts = _args.options_from(PruneOptions, args, train=_train_args.train_settings(args),
                              robust=_train_args.robustness(args, kind="pgd"))

    result = draw_ticket(with_best_peer(opts, log=print), log=print)
    print_ticket_summary(result.meta)
    return 0
