"""Imports of the end-of-life Neural Magic packages without their import-time noise."""

from __future__ import annotations


def import_sparseml(module: str):
    """``importlib.import_module(module)`` for a sparseml module, minus the pkg_resources
    deprecation warning that sparseml's import raises under the pinned setuptools."""
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        return importlib.import_module(module)
