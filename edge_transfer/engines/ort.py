"""ONNX Runtime backend (CPU execution provider)."""

from __future__ import annotations

from pathlib import Path

from ..formats import FP32, INT8
from ..onnx_io import check_onnx_file
from . import static_shape


class _ORTModel:
    def __init__(self, session, settings: dict):
        self._session = session
        self._input_names = [i.name for i in session.get_inputs()]
        self.settings = settings

    def run(self, inputs):
        return self._session.run(None, dict(zip(self._input_names, inputs)))


class ORTEngine:
    name = "onnxruntime"
    precisions = (FP32, INT8)
    int8_form = "qdq"  # QuantizeLinear/DequantizeLinear around float ops, fused by ORT's optimizer
    needs_torch_model = False
    native_benchmark = False
    layer_timing = False  # no per-layer timing API

    def version(self) -> str:
        import onnxruntime

        return onnxruntime.__version__

    def compile(self, model_path: Path, batch_size: int, num_cores: int | None = None, streams: int = 1, torch_model=None):
        import onnxruntime as ort

        check_onnx_file(model_path)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if num_cores:
            opts.intra_op_num_threads = num_cores
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        settings = {"cores": num_cores, "intra_op_threads": num_cores, "inter_op_threads": 1, "batch_size": batch_size,
                    "streams": streams, "output_shape": static_shape(session.get_outputs()[0].shape, batch_size)}
        return _ORTModel(session, settings)
