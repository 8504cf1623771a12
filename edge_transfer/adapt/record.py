"""``AdaptRecord``: adapt.json read as the contract it is between adapt and deploy. adapt writes
the whole run (settings, epochs, summary, system); what a later stage relies on is typed here
and checked field by field, so a damaged or hand-edited run fails with the field's name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgeTransferError
from ..formats import ADAPT_FILE, ADAPT_SCHEMA, read_record, shape_field


@dataclass(frozen=True)
class AdaptRecord:
    classes: tuple[str, ...]  # the head's outputs, in order
    data: str  # the task the head was trained on: its val split validates what is built from it
    val: str | None
    mean: tuple  # the input normalisation the features were computed with
    std: tuple
    val_top1: float
    val_predictions: tuple[int, ...]  # the run's own predictions on its val split, in order
    ticket: str | None  # the backbone ticket kept in the run folder (None: made from an export)
    payload: dict  # the whole adapt.json

    @classmethod
    def read(cls, folder: Path, error: type[EdgeTransferError], fix: str) -> "AdaptRecord":
        where = Path(folder) / ADAPT_FILE
        run = read_record(where, (ADAPT_SCHEMA,), error, fix)

        def field(keys: tuple, kind):
            """``run[k1][k2]...`` of type ``kind``, or the error that names the missing or wrong field."""
            value = run
            for key in keys:
                if not isinstance(value, dict) or key not in value:
                    raise error(f"{where} lacks {'.'.join(keys)}; {fix}")
                value = value[key]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise error(f"{where} has {'.'.join(keys)} = {str(value)[:60]!r}, not a {kind}; {fix}")
            return value

        classes = field(("classes",), list)
        if len({str(c) for c in classes}) != len(classes):
            raise error(f"{where} lists {len(classes)} classes but not {len(classes)} distinct ones; {fix}")
        predictions = field(("val_predictions",), list)
        if not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p < len(classes) for p in predictions):
            raise error(f"{where} has val_predictions that are not class indices in [0, {len(classes)}); {fix}")
        return cls(tuple(str(c) for c in classes), field(("settings", "train", "data"), str),
                   field(("settings", "train", "val"), (str, type(None))),
                   shape_field(field(("settings", "mean"), list), str(where), "settings.mean", error, fix),
                   shape_field(field(("settings", "std"), list), str(where), "settings.std", error, fix),
                   float(field(("summary", "val_top1"), (int, float))), tuple(predictions),
                   run.get("ticket") if isinstance(run.get("ticket"), str) else None, run)
