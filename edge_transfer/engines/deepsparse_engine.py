"""DeepSparse backend (Neural Magic's sparsity-aware CPU engine, 1.8, end of life)."""

from __future__ import annotations

from pathlib import Path

from ..formats import FP32, INT8
from ..onnx_io import check_onnx_file
from . import static_shape


class _DeepSparseModel:
    def __init__(self, engine, settings: dict):
        self._engine = engine
        self.settings = settings

    def run(self, inputs):
        return self._engine.run(inputs)

    def native_benchmark(self, inputs, iterations: int, warmup: int) -> float:
        """Items/s from DeepSparse's own Engine.benchmark, to check the harness against."""
        result = self._engine.benchmark(inputs, num_iterations=iterations, num_warmup_iterations=warmup)
        return float(result.items_per_second)


class DeepSparseEngine:
    name = "deepsparse"
    precisions = (FP32, INT8)
    int8_form = "deepsparse"  # sparseml's ConvInteger/QLinearConv graph, the form DeepSparse runs fastest
    needs_torch_model = False
    layer_timing = True  # analyze_layers: the engine's own per-unit times (speed profiles)
    native_benchmark = True  # the compiled engine's own benchmark loop (compiled.native_benchmark)

    def version(self) -> str:
        import deepsparse

        return deepsparse.__version__

    def compile(self, model_path: Path, batch_size: int, num_cores: int | None = None, streams: int = 1, torch_model=None):
        import deepsparse

        check_onnx_file(model_path)
        # Concurrent requests need the multi-stream scheduler; one stream uses the default.
        scheduler = "multi_stream" if streams > 1 else None
        engine = deepsparse.Engine(
            model=str(model_path), batch_size=batch_size, num_cores=num_cores, num_streams=streams if streams > 1 else None,
            scheduler=scheduler,
        )
        # Some INT8 graphs have no static output shape: output_shapes is None or holds None.
        output_shapes = engine.output_shapes
        settings = {
            "cores": engine.num_cores,
            "num_cores": engine.num_cores,
            "batch_size": batch_size,
            "streams": streams,
            "scheduler": str(engine.scheduler),
            "fraction_of_supported_ops": float(engine.fraction_of_supported_ops),
            "output_shape": static_shape(output_shapes[0], batch_size) if output_shapes else None,
        }
        return _DeepSparseModel(engine, settings)

    def analyze_layers(self, model_path: Path, batch_size: int, num_cores: int | None, inputs, iterations: int = 20,
                       warmup: int = 5) -> dict:
        """DeepSparse's per-unit timing of one compiled graph (``model_debug_analysis``): each unit
        the engine runs (one layer, or several it fuses into a 'pyramid') with the graph outputs it
        produces and its mean time; and the total."""
        from deepsparse.engine import model_debug_analysis

        check_onnx_file(model_path)
        result = model_debug_analysis(str(model_path), inputs, batch_size=batch_size, num_cores=num_cores,
                                      num_iterations=iterations, num_warmup_iterations=warmup)
        units = [{"name": u["name"], "ms": float(u["average_run_time_in_ms"]),
                  "outputs": [o for o in str(u.get("canonical_name", "")).split(",") if o and o != "<none>"],
                  "kernel_sparsity": float(u.get("kernel_sparsity", 0.0))} for u in result["layer_info"]]
        return {"units": units, "total_ms": float(result["average_total_time"])}
