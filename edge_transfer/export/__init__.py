"""Export a ticket to ONNX: ``export_ticket(ExportOptions) -> ExportResult``.

Writes ``model.onnx`` (classifier), ``backbone.onnx`` (pooled penultimate features,
what online learning runs) and ``manifest.json``; with ``with_dense`` the dense
baseline (same weights, mask not applied) goes to ``dense/`` in the same layout.
Every export is validated (engine parity and the zero audit) before the folder
appears; on failure nothing is written.
"""

from .options import BACKBONE_FILE, MODEL_FILE, OPSETS, ExportOptions, ExportResult  # noqa: F401
from .export import export_ticket  # noqa: F401
