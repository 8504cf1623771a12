"""INT8 tickets: ``quantize(QuantizeOptions) -> QuantizeResult`` (quantize.py; its options in options.py), the
fake-quantized reference model (fakequant.py), the ONNX forms each engine runs (forms.py) and the
calibration and held-out images with the INT8 accuracy check (images.py)."""

from .images import RANDOM_CALIBRATION  # noqa: F401
from .options import MAX_CALIBRATION_SAMPLES, QuantizeOptions  # noqa: F401
from .quantize import FORM_FILES, INT8_TOLERANCE, QuantizeResult, quantize, resolve_ticket  # noqa: F401
