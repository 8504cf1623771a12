"""Argument types shared by subcommands: bad values become one-line usage errors (exit 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OptionError


def sparsity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; e.g. 0.9 for 90% zeros") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}; e.g. 0.9 for 90% zeros")
    return value


def sparsity_list(text: str) -> tuple[float, ...]:
    """Comma-separated sparsities; an empty item is an error, not silently dropped."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty item; e.g. 0,0.8,0.9")
    return tuple(sparsity(part) for part in parts)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def batch_size_or_dynamic(text: str) -> int | None:
    if text == "dynamic":
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'dynamic', got {text!r}") from None


def name_list(text: str) -> tuple[str, ...]:
    """Comma-separated names or numbers; an empty item is an error, not silently dropped."""
    parts = tuple(part.strip() for part in text.split(","))
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty item; separate values with single commas, e.g. 1,64")
    return parts


# What a command reads and what it writes, marked by the argument's type so that ``main``
# can refuse, before any work, an output that is, holds or lies inside an input (``--json
# IMG`` would replace the image, ``--json ART/deploy.json`` the artifact's record).
class InputPath(type(Path())):
    """A file or folder the command reads."""


class InputSpec(str):
    """Data given as ``embedded:NAME`` or a folder: an input where it names an existing path."""


class OutputFile(type(Path())):
    """A file the command writes (``--json``, ``--csv``, ``--markdown``, ``--plot``)."""


class OutputFolder(type(Path())):
    """A folder (or checkpoint) the command creates."""


def input_path(text: str) -> InputPath:
    return InputPath(text)


def input_spec(text: str) -> InputSpec:
    return InputSpec(text)


def output_folder(text: str) -> OutputFolder:
    return OutputFolder(text)


def output_file(text: str) -> OutputFile:
    """A file to write a result to: refused up front if it names a folder, so a long run does
    not end in an error after all its work."""
    path = OutputFile(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file path, e.g. {path / 'results.json'}")
    return path


def _flat(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _plain(value):
    """A marked value as the plain type it stands for (nothing below the CLI sees the marks: a
    marked str or Path pickled into a checkpoint would not load with weights_only)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, (InputPath, OutputFile, OutputFolder)):
        return Path(value)
    if isinstance(value, InputSpec):
        return str(value)
    return value


def unmark(args) -> None:
    """Replace every marked argument of ``args`` by its plain value, in place."""
    for dest, value in vars(args).items():
        setattr(args, dest, _plain(value))


def check_outputs_apart(args) -> None:
    """Refuse any output (file or folder) that is, holds or lies inside an input of the same
    command; nothing has been read or written yet."""
    inputs = [Path(v) for value in vars(args).values() for v in _flat(value)
              if isinstance(v, InputPath) or (isinstance(v, InputSpec) and ":" not in v and Path(v).exists())]
    for dest, value in vars(args).items():
        for out in _flat(value):
            if not isinstance(out, (OutputFile, OutputFolder)):
                continue
            resolved = out.resolve()
            for source in inputs:
                src = source.resolve()
                if resolved == src or src.is_relative_to(resolved) or resolved.is_relative_to(src):
                    flag = "--" + dest.replace("_", "-")
                    raise OptionError(f"{flag} {out} is, holds or lies inside the input {source}; choose a path "
                                      "outside it")


def finite_float(text: str) -> float:
    """Any finite number (refuses nan and inf)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _finite_float(text: str, strictly_positive: bool) -> float:
    """A finite number > 0 or >= 0 (refuses nan and inf, which compare false with everything)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (strictly_positive and value == 0):
        raise argparse.ArgumentTypeError(f"must be a finite number {'>' if strictly_positive else '>='} 0, got {text}")
    return value


def positive_float(text: str) -> float:
    return _finite_float(text, strictly_positive=True)


def non_negative_float(text: str) -> float:
    return _finite_float(text, strictly_positive=False)


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def defaults(options_cls) -> dict:
    """An options dataclass's defaults by field name (factories called): what a parser's
    ``default=`` reads, so a default is declared once, on the dataclass."""
    import dataclasses

    out = {}
    for f in dataclasses.fields(options_cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def options_from(options_cls, args, **overrides):
    """``options_cls`` from the parsed ``args``: every field with a same-named argument,
    then ``overrides`` (arguments whose name or meaning differs, e.g. --no-overlap)."""
    import dataclasses

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(options_cls) if hasattr(args, f.name)}
    return options_cls(**{**values, **overrides})
