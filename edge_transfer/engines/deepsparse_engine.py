"""DeepSparse backend (Neural Magic's sparsity-aware CPU engine, 1.8, end of life)."""

from __future__ import annotations

from pathlib import Path


class _DeepSparseModel:
    def __init__(self, engine, settings: dict):
        self._engine = engine
        self.settings = settings

    def run(self, inputs):
        return self._engine.run(inputs)


class DeepSparseEngine:
    name = "deepsparse"

    def version(self) -> str:
        import deepsparse

        return deepsparse.__version__

    def compile(self, model_path: Path, batch_size: int, num_cores: int | None = None) -> _DeepSparseModel:
        import deepsparse

        from ..onnx_io import check_onnx_file

        check_onnx_file(model_path)
        engine = deepsparse.Engine(model=str(model_path), batch_size=batch_size, num_cores=num_cores)
        settings = {"num_cores": engine.num_cores, "batch_size": batch_size}
        return _DeepSparseModel(engine, settings)
