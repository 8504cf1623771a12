"""Each option default is declared once, on the options dataclass: every subcommand's parser
default for a same-named field equals the dataclass's (a retyped default drifts silently)."""

import dataclasses
from pathlib import Path

import pytest

from edge_transfer.cli.main import build_parser

# subcommand -> (options class, the positional arguments it needs to parse)
COMMANDS = {
    "adapt": ("edge_transfer.adapt:AdaptOptions", ["T"]),
    "bench": ("edge_transfer.bench:BenchOptions", []),
    "export": ("edge_transfer.export:ExportOptions", ["T", "--output", "O"]),
    "quantize": ("edge_transfer.quantize:QuantizeOptions", ["T", "--output", "O"]),
    "study": ("edge_transfer.study:StudyOptions", []),
    "demo": ("edge_transfer.demo:DemoOptions", []),
    "prune": ("edge_transfer.prune:PruneOptions", ["--arch", "resnet18", "--output", "O"]),
    "pretrain": ("edge_transfer.pretrain:PretrainOptions", ["--arch", "resnet18", "--output", "O"]),
    "finetune": ("edge_transfer.finetune:FinetuneOptions", ["T"]),
    "deploy": ("edge_transfer.deploy:DeployOptions", ["R", "--output", "O"]),
    "learn": ("edge_transfer.deploy:LearnOptions", ["A", "--output", "O", "--data", "D"]),
    "predict": ("edge_transfer.deploy.options:PredictOptions", ["A", "x.png"]),
    "profile": ("edge_transfer.speed.profile:ProfileOptions", ["M"]),
}


def _normalise(value):
    if isinstance(value, (list, tuple)):
        return tuple(_normalise(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return value


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_parser_defaults_are_the_dataclass_defaults(command):
    import importlib

    from edge_transfer.cli._args import defaults

    target, positional = COMMANDS[command]
    module, name = target.split(":")
    options_cls = getattr(importlib.import_module(module), name)
    args = build_parser().parse_args([command, *positional])
    declared = defaults(options_cls)
    given = {a.lstrip("-").replace("-", "_") for a in positional if a.startswith("--")}
    compared = [f.name for f in dataclasses.fields(options_cls)
                if f.name in declared and hasattr(args, f.name) and f.name not in given
                and not dataclasses.is_dataclass(declared[f.name])]  # nested settings: built from several flags
    assert compared, "no field shared with the parser"
    differing = {n: (getattr(args, n), declared[n]) for n in compared
                 if _normalise(getattr(args, n)) != _normalise(declared[n])}
    assert not differing, f"{command}: parser default != {name} default for {differing}"


@pytest.mark.parametrize("command, module", [("pretrain", "edge_transfer.pretrain"), ("finetune", "edge_transfer.finetune"),
                                             ("prune", "edge_transfer.train")])
def test_training_flags_default_to_the_stage_settings(command, module):
    """The shared training flags build exactly the stage's default TrainSettings."""
    import importlib

    from edge_transfer.cli._train_args import train_settings

    _, positional = COMMANDS[command]
    stage = importlib.import_module(module)
    expected = stage.default_train_settings() if hasattr(stage, "default_train_settings") else stage.TrainSettings()
    args = build_parser().parse_args([command, *positional])
    assert train_settings(args) == expected
    if command == "pretrain":
        from edge_transfer.cli._train_args import robustness
        from edge_transfer.train import Robustness

        assert robustness(args) == stage.PretrainOptions.__dataclass_fields__["robust"].default_factory() == Robustness()


def test_adapt_training_flags_default_to_adapt_settings():
    from edge_transfer.adapt import AdaptOptions
    from edge_transfer.adapt.options import default_train_settings
    from edge_transfer.cli.adapt import train_settings

    _, positional = COMMANDS["adapt"]
    args = build_parser().parse_args(["adapt", *positional])
    assert train_settings(args) == default_train_settings() == AdaptOptions(source=Path("t")).train
    changed = build_parser().parse_args(["adapt", *positional, "--lr", "0.2", "--train-limit", "50", "--no-augment"])
    t = train_settings(changed)
    assert (t.lr, t.limit, t.augment, t.epochs) == (0.2, 50, False, default_train_settings().epochs)


def test_learn_training_flags_default_to_learn_settings():
    from edge_transfer.cli._train_args import online_settings
    from edge_transfer.deploy.options import default_train_settings

    _, positional = COMMANDS["learn"]
    args = build_parser().parse_args(["learn", *positional])
    assert online_settings(args, default_train_settings()) == dataclasses.replace(default_train_settings(), data="D")
