"""INT8 tickets: ``quantize(QuantizeOptions) -> QuantizeResult`` (quantize.py), the
fake-quantized reference model (fakequant.py) and the ONNX forms each engine runs (forms.py)."""

from .quantize import (  # noqa: F401
    FORM_FILES,
    INT8_TOLERANCE,
    RANDOM_CALIBRATION,
    QuantizeOptions,
    QuantizeResult,
    quantize,
    resolve_ticket,
)
