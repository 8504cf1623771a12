"""Argument groups shared by the commands that train (pretrain, prune, finetune, study)."""

from __future__ import annotations

import argparse

from ..train import Robustness, TrainSettings
from ..train.attacks import NORMS, ROBUST_KINDS
from . import _args


non_negative_float = _args.non_negative_float


def add_train_arguments(parser, defaults, epochs_help: str = "training epochs", data_help: str | None = None) -> None:
    """``defaults`` is a TrainSettings whose values become the flags' defaults."""
    g = parser.add_argument_group("training data and optimiser (SGD, momentum; lr x0.1 at 1/3 and 2/3 of the epochs)")
    g.add_argument("--data", type=_args.input_spec, default=defaults.data, help=data_help or "embedded:mnist-0to4, embedded:mnist-5to9 or an ImageFolder DIR")
    g.add_argument("--val", type=_args.input_spec, default=defaults.val, help="validation ImageFolder DIR (default: fixed 80/20 split of --data)")
    g.add_argument("--epochs", type=_args.positive_int, default=defaults.epochs, help=f"{epochs_help} (default {defaults.epochs})")
    g.add_argument("--batch-size", type=_args.positive_int, default=defaults.batch_size, help=f"default {defaults.batch_size}")
    g.add_argument("--lr", type=_args.positive_float, default=defaults.lr, help=f"default {defaults.lr}")
    g.add_argument("--momentum", type=_args.non_negative_float, default=defaults.momentum, help=f"default {defaults.momentum}")
    g.add_argument("--weight-decay", type=_args.non_negative_float, default=defaults.weight_decay, help=f"default {defaults.weight_decay}")
    g.add_argument("--image-size", type=_args.positive_int, default=defaults.image_size,
                   help="train at this square size (default: the architecture's input size)")
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=defaults.augment,
                   help="RandomResizedCrop + flip while training (default off)")
    g.add_argument("--train-limit", type=_args.positive_int, default=defaults.limit,
                   help="use at most this many training images (a fixed random subset)")
    g.add_argument("--train-seed", type=int, default=defaults.seed, help="seed of data order and init (default 0)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def train_settings(args):
    return TrainSettings(data=args.data, val=args.val, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         momentum=args.momentum, weight_decay=args.weight_decay, image_size=args.image_size,
                         augment=args.augment, seed=args.train_seed, progress=not args.no_progress,
                         limit=args.train_limit)


def add_online_arguments(parser, defaults, data_help: str, training_title: str):
    """The online learner's data and optimiser flags (adapt, learn), defaults from a
    TrainSettings. No --image-size: the backbone's exported input size is fixed. Returns the
    two groups so a command can add its own flags beside them."""
    data = parser.add_argument_group("data")
    data.add_argument("--data", type=_args.input_spec, default=defaults.data, required=defaults.data is None, help=data_help)
    data.add_argument("--val", type=_args.input_spec, default=defaults.val, help="validation ImageFolder DIR (default: fixed 80/20 split of --data)")
    data.add_argument("--augment", action=argparse.BooleanOptionalAction, default=defaults.augment,
                      help=f"RandomResizedCrop + flip (default {'on' if defaults.augment else 'off'})")
    data.add_argument("--train-limit", type=_args.positive_int, metavar="N", default=defaults.limit,
                      help="use at most N training images (a fixed subset)")
    training = parser.add_argument_group(training_title)
    training.add_argument("--epochs", type=_args.positive_int, default=defaults.epochs, help=f"default {defaults.epochs}")
    training.add_argument("--batch-size", type=_args.positive_int, default=defaults.batch_size,
                          help=f"default {defaults.batch_size}")
    training.add_argument("--lr", type=_args.positive_float, default=defaults.lr, help=f"default {defaults.lr}")
    training.add_argument("--momentum", type=_args.non_negative_float, default=defaults.momentum,
                          help=f"default {defaults.momentum}")
    training.add_argument("--weight-decay", type=_args.non_negative_float, default=defaults.weight_decay,
                          help=f"default {defaults.weight_decay}")
    training.add_argument("--seed", type=int, default=defaults.seed, help=f"data order and head init (default {defaults.seed})")
    return data, training


def online_settings(args, defaults):
    """The flags of ``add_online_arguments`` as ``defaults`` with every given value."""
    from dataclasses import replace

    return replace(defaults, data=args.data, val=args.val, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   momentum=args.momentum, weight_decay=args.weight_decay, augment=args.augment, seed=args.seed,
                   limit=args.train_limit)


def add_robust_arguments(parser, kind_default: str | None, title: str) -> None:
    g = parser.add_argument_group(title)
    if kind_default is not None:
        g.add_argument("--robust", default=kind_default, choices=ROBUST_KINDS,
                       help=f"none (natural), pgd (adversarial training) or smoothing (Gaussian noise); default {kind_default}")
    g.add_argument("--norm", default="linf", choices=NORMS, help="PGD ball (default linf)")
    g.add_argument("--eps", type=non_negative_float, default=0.1, help="PGD radius in pixel units of [0,1] images (default 0.1)")
    g.add_argument("--pgd-steps", type=_args.positive_int, default=3, help="PGD steps (default 3)")
    g.add_argument("--pgd-step-size", type=_args.positive_float, help="PGD step (default 2.5 * eps / steps)")
    g.add_argument("--noise-sigma", type=non_negative_float, default=0.25, help="smoothing noise std (default 0.25)")


def robustness(args, kind: str | None = None):
    return Robustness(kind=kind or args.robust, norm=args.norm, eps=args.eps, steps=args.pgd_steps,
                      step_size=args.pgd_step_size, sigma=args.noise_sigma)
