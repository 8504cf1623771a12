"""Artifact file names and how a folder is recognised, in one place: a ticket folder holds
``ticket.json`` (``edge-transfer prune``), an export folder ``manifest.json``
(``edge-transfer export`` / ``quantize``), with its dense baseline under ``dense/``."""

from __future__ import annotations

from pathlib import Path

TICKET_FILE = "ticket.json"
MANIFEST_FILE = "manifest.json"
DENSE_DIR = "dense"


def is_ticket(folder) -> bool:
    return (Path(folder) / TICKET_FILE).is_file()


def is_export(folder) -> bool:
    return (Path(folder) / MANIFEST_FILE).is_file()
