"""``edge-transfer study``: natural vs robust tickets under every drawing scheme, linear and
full transfer."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..study import StudyOptions, run_study
from ..study.options import BATCHNORMS
from ..study.report import summary_lines
from . import _args


def _sparsities(text: str) -> tuple[float, ...]:
    values = tuple(_args.sparsity(x) for x in _args.name_list(text))
    if not values or any(v == 0 for v in values):
        raise argparse.ArgumentTypeError("give sparsities in (0, 1), e.g. 0.5,0.8,0.9; the dense model is always included")
    return values


def add_arguments(parser) -> None:
    d = StudyOptions()
    parser.add_argument("--arch", default=d.arch, help=f"default {d.arch}")
    parser.add_argument("--source", type=_args.input_spec, default=d.source, help=f"pretraining task (default {d.source})")
    parser.add_argument("--target", type=_args.input_spec, default=d.target, help=f"transfer task (default {d.target})")
    parser.add_argument("--methods", type=_args.name_list, default=d.methods,
                        help=f"schemes (default {','.join(d.methods)}); ROBUST/NATURAL pairs two, e.g. aimp/imp: "
                             "A-IMP in the robust arms against IMP in the natural one (seed 000's comparison); ltht: "
                             "LTH-T, gmp's mask on the dense source weights (seed 004)")
    parser.add_argument("--sparsities", type=_sparsities, default=d.sparsities,
                        help=f"default {','.join(map(str, d.sparsities))}")
    parser.add_argument("--robust", type=_args.name_list, default=d.robust,
                        help=f"pretrainings to compare: natural, pgd, smoothing (default {','.join(d.robust)})")
    parser.add_argument("--modes", type=_args.name_list, default=d.modes, help="linear, full (default both)")
    parser.add_argument("--source-seeds", type=_args.positive_int, default=d.source_seeds,
                        help=f"independent pretrainings per arm, each with its own draws and transfers (default "
                             f"{d.source_seeds}; fewer than 3 gives no conclusion)")
    parser.add_argument("--quick", action="store_true",
                        help="one source seed, one epoch, 512 images per task: a few minutes, no conclusion")
    g = parser.add_argument_group("budget (defaults fit the embedded study in an hour on 2 cores)")
    g.add_argument("--image-size", type=_args.positive_int, default=d.image_size, help=f"default {d.image_size} px")
    g.add_argument("--scope", default=d.scope, choices=("global", "layer"), help=f"default {d.scope}")
    g.add_argument("--pretrain-epochs", type=_args.positive_int, default=d.pretrain_epochs)
    g.add_argument("--draw-epochs", type=_args.positive_int, default=d.draw_epochs,
                   help="per round for imp/aimp, in total for lmp and recipes")
    g.add_argument("--prune-ratio-per-round", type=_args.positive_float, default=d.prune_ratio_per_round)
    g.add_argument("--finetune-epochs", type=_args.positive_int, default=d.finetune_epochs)
    g.add_argument("--finetune-lr", type=_args.positive_float, default=d.finetune_lr)
    g.add_argument("--draw-limit", type=_args.positive_int, default=d.draw_limit,
                   help=f"images the training schemes draw on (default {d.draw_limit})")
    g.add_argument("--train-limit", type=_args.positive_int, default=d.train_limit,
                   help=f"target training images, the same for linear and full transfer (default {d.train_limit})")
    g.add_argument("--source-limit", type=_args.positive_int, default=d.source_limit,
                   help="pretrain on at most this many source images (default all)")
    g.add_argument("--eps", type=_args.non_negative_float, default=d.eps, help=f"PGD L-inf radius, pixel units (default {d.eps})")
    g.add_argument("--pgd-steps", type=_args.positive_int, default=d.pgd_steps)
    g.add_argument("--noise-sigma", type=_args.non_negative_float, default=d.noise_sigma)
    g.add_argument("--engine", default=d.engine, help=f"linear mode's backbone engine (default {d.engine})")
    g.add_argument("--batchnorm", default=d.batchnorm, choices=BATCHNORMS,
                   help="BatchNorm statistics a transfer starts from: re-estimated on the target's training images "
                        "(AdaBN), the source's own, or the source's re-estimated on source images (default "
                        f"{d.batchnorm})")
    g.add_argument("--robust-eval-limit", type=_args.positive_int, default=d.robust_eval_limit,
                   help=f"measure the sources' PGD accuracy on this many validation images (default "
                        f"{d.robust_eval_limit})")
    g = parser.add_argument_group("where cells run")
    g.add_argument("--cluster", metavar="ADDRESS|local:N",
                   help="run the cells on dask: local:N starts N worker processes here, tcp://host:8786 uses a "
                        "scheduler started with `dask scheduler` (default: serially in this process)")
    g.add_argument("--cores", type=_args.positive_int,
                   help="threads of every cell; the same cell gives the same numbers only at the same --cores "
                        "(default: this machine's cores, shared between local:N workers; 1 on a remote cluster)")
    g = parser.add_argument_group("output")
    g.add_argument("--output", type=_args.output_folder, default=d.output, help=f"study folder (default {d.output}); reruns resume")
    g.add_argument("--cache-dir", type=Path, help="pretrained sources (default OUTPUT/cache)")
    g.add_argument("--json", type=_args.output_file, metavar="OUT", help="also write the results JSON here")
    g.add_argument("--progress", action="store_true", help="progress bars for every training run")


def run(args) -> int:
    opts = _args.options_from(StudyOptions, args)
    result = run_study(opts, log=print)
    print("\n".join(summary_lines(result.payload)))
    print(f"wrote {result.output}/ (study.json, report.md, study.png)" + (f" and {args.json}" if args.json else ""))
    return 0
