"""OpenVINO backend (Intel's CPU plugin), reading the ONNX file directly."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..formats import FP32, INT8
from ..onnx_io import check_onnx_file

# No usage event on `import openvino`: openvino_telemetry skips CI jobs; TF_BUILD is the CI marker only it reads here.
os.environ["TF_BUILD"] = os.environ.get("TF_BUILD") or "True"


class _OpenVINOModel:
    def __init__(self, compiled, settings: dict):
        self._compiled = compiled
        self._n_outputs = len(compiled.outputs)
        self._local = threading.local()  # an InferRequest serves one call at a time: one per thread
        self.settings = settings

    def run(self, inputs):
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        request.infer(list(inputs), share_inputs=True, share_outputs=True)
        # The output tensors are reused by the next call on this request: hand back copies.
        return [np.array(request.get_output_tensor(i).data, copy=True) for i in range(self._n_outputs)]


class OpenVINOEngine:
    name = "openvino"
    precisions = (FP32, INT8)
    int8_form = "qdq"  # OpenVINO turns QuantizeLinear/DequantizeLinear pairs into its own INT8 kernels
    needs_torch_model = False
    native_benchmark = False
    layer_timing = False  # no per-layer timing API

    def version(self) -> str:
        import openvino

        return openvino.__version__.split("-", 1)[0]

    # None: OpenVINO's own default, which is bf16 on CPUs with avx512_bf16/AMX. That is what
    # its user gets, so it is the fair peer; the precision that ran is recorded in settings
    # and bench checks bf16 outputs against a looser tolerance. "f32" forces full precision.
    precision_hint: str | None = None

    def compile(self, model_path: Path, batch_size: int, num_cores: int | None = None, streams: int = 1, torch_model=None):
        import openvino as ov

        check_onnx_file(model_path)
        core = ov.Core()
        model = core.read_model(str(model_path))
        new_shapes = {}
        for port in model.inputs:
            shape = port.get_partial_shape()
            if shape.rank.is_static and len(shape) > 0 and shape[0].is_dynamic:
                new_shapes[port] = ov.PartialShape([ov.Dimension(batch_size), *list(shape)[1:]])
        if new_shapes:
            model.reshape(new_shapes)
        config = {
            "PERFORMANCE_HINT": "LATENCY" if streams <= 1 else "THROUGHPUT",
            "NUM_STREAMS": max(streams, 1),
        }
        if self.precision_hint:
            config["INFERENCE_PRECISION_HINT"] = self.precision_hint
        if num_cores:
            config["INFERENCE_NUM_THREADS"] = num_cores
        compiled = core.compile_model(model, "CPU", config)
        hint = compiled.get_property("PERFORMANCE_HINT")
        threads = int(compiled.get_property("INFERENCE_NUM_THREADS"))
        output_shape = compiled.outputs[0].get_partial_shape()
        settings = {
            "cores": threads,
            "inference_num_threads": threads,
            "num_streams": int(compiled.get_property("NUM_STREAMS")),
            "performance_hint": getattr(hint, "name", str(hint)),
            "inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),  # "f32", "bf16"
            "enable_cpu_pinning": bool(compiled.get_property("ENABLE_CPU_PINNING")),
            "batch_size": batch_size,
            "streams": streams,
            "output_shape": [d.get_length() for d in output_shape] if output_shape.is_static else None,
        }
        return _OpenVINOModel(compiled, settings)
