"""PyTorch eager backend: runs the ticket's nn.Module (not the ONNX file) on CPU threads."""

from __future__ import annotations

from pathlib import Path

from ..errors import OptionError
from ..formats import FP32


class _TorchModel:
    def __init__(self, module, settings: dict):
        self._module = module
        self.settings = settings

    def run(self, inputs):
        import torch

        with torch.inference_mode():
            out = self._module(*[torch.from_numpy(x) for x in inputs])
        return [out.numpy()]


class TorchEngine:
    name = "torch"
    precisions = (FP32,)  # runs the ticket's nn.Module: an INT8 ONNX file is nothing it can load
    int8_form = None
    needs_torch_model = True
    native_benchmark = False
    layer_timing = False  # no per-layer timing API

    def version(self) -> str:
        import torch

        return torch.__version__

    def compile(self, model_path: Path, batch_size: int, num_cores: int | None = None, streams: int = 1, torch_model=None):
        import torch

        if torch_model is None:
            raise OptionError(
                f"the torch engine needs the PyTorch model, which {model_path} alone does not carry "
                "(or its ticket folder has moved); give a ticket or export folder whose ticket exists, or another --engine"
            )
        if num_cores:
            torch.set_num_threads(num_cores)
        module = torch_model().eval()
        threads = torch.get_num_threads()
        settings = {"cores": threads, "threads": threads, "batch_size": batch_size, "streams": streams, "output_shape": None}
        # Like the ONNX engines, take a fixed batch: the caller pads (OnlineLearner does).
        return _TorchModel(module, settings)
