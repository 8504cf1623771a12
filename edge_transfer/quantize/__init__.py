"""INT8 tickets: ``quantize(QuantizeOptions) -> QuantizeResult`` (quantize.py), the
fake-quantized reference model (fakequant.py), the ONNX forms each engine runs (forms.py) and the
calibration and held-out images with the INT8 accuracy check (images.py)."""

from .images import RANDOM_CALIBRATION  # noqa: F401
from .quantize import (  # noqa: F401
    FORM_FILES,
    INT8_TOLERANCE,
    QuantizeOptions,
    QuantizeResult,
    quantize,
    resolve_ticket,
)
