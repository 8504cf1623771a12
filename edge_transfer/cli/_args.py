"""Argument types shared by subcommands: bad values become one-line usage errors (exit 2)."""

from __future__ import annotations

import argparse


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


def output_file(text: str):
    """A file to write a result to: refused up front if it names a folder, so a long run does
    not end in an error after all its work."""
    from pathlib import Path

    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file path, e.g. {path / 'results.json'}")
    return path


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
