"""One registry for inference engines. Each backend is one module exposing a class with

    name: str
    precisions: tuple[str, ...]   # model precisions it runs: "fp32", "int8"
    int8_form: str | None         # ONNX form of an INT8 model it wants: "qdq" (QuantizeLinear/
                                  # DequantizeLinear), "deepsparse" (sparseml's ConvInteger/QLinearConv
                                  # form), or None when it runs no INT8 ONNX ("int8" not in precisions)
    needs_torch_model: bool       # runs the ticket's nn.Module, so compile() needs ``torch_model``
    layer_timing: bool            # analyze_layers(model_path, batch_size, num_cores, inputs) times each
                                  # unit the engine runs (speed profiles; DeepSparse only)
    native_benchmark: bool        # its CompiledModel has native_benchmark(inputs, iterations, warmup)
                                  # -> items/s from the engine's own timer (DeepSparse only)
    version() -> str
    compile(model_path, batch_size, num_cores, streams=1, torch_model=None) -> CompiledModel
                                  # for exactly ``batch_size`` images a call (callers pad the last batch)

and a CompiledModel has ``run(list[np.ndarray]) -> list[np.ndarray]`` (safe to call from
``streams`` threads at once) and ``settings`` (a flat dict). Every backend's settings hold the
common keys ``cores`` (threads or cores it runs on), ``streams``, ``batch_size`` and
``output_shape`` (the first output's shape as a list of ints, or None when not static), beside
backend-specific ones. ``torch_model`` is a zero-argument callable building the nn.Module, used
only by backends with ``needs_torch_model``. Callers ask these attributes and never branch on the
engine's name. Backends are imported lazily so listing them costs nothing.
"""

from __future__ import annotations

import functools
import importlib
import numbers

from ..errors import EdgeTransferError, OnnxModelError, UnknownNameError
from ..interrupts import native_section
from ..onnx_io import load_onnx

# the engine every other engine's outputs are checked against: ONNX Runtime's CPU provider,
# the ONNX operators' reference behaviour
REFERENCE_ENGINE = "onnxruntime"

# name -> "module:Class"; a module starting with "." is relative to this package.
_BACKENDS = {
    "onnxruntime": ".ort:ORTEngine",
    "deepsparse": ".deepsparse_engine:DeepSparseEngine",
    "openvino": ".openvino_engine:OpenVINOEngine",
    "torch": ".torch_engine:TorchEngine",
}


def register_engine(name: str, target: str) -> None:
    """Register a backend ``"package.module:Class"`` under ``name`` (plugins, tests)."""
    _BACKENDS[name] = target


def list_engines() -> list[str]:
    return sorted(_BACKENDS)


def reference_engine():
    return get_engine(REFERENCE_ENGINE)


def get_engine(name: str):
    try:
        module_name, cls_name = _BACKENDS[name].split(":")
    except KeyError:
        raise UnknownNameError(f"unknown engine {name!r}; choose from: {', '.join(list_engines())}") from None
    module = importlib.import_module(module_name, __name__)
    return _Checked(getattr(module, cls_name)())


class _Checked:
    """A backend whose ``compile`` refuses a batch the graph cannot take, turns the engine's own
    load failure (an unknown operator, a malformed graph) into one line, and holds Ctrl-C until
    the native engine is built (see ``interrupts``)."""

    def __init__(self, backend):
        object.__setattr__(self, "_backend", backend)

    def __getattr__(self, name):
        if name == "_backend":  # not set yet (a copy or unpickling in progress): no recursion
            raise AttributeError(name)
        return getattr(self._backend, name)

    def __setattr__(self, name, value):  # settings such as OpenVINO's precision_hint belong to the backend
        setattr(self._backend, name, value)

    def version(self) -> str:
        with native_section():  # the first call imports the engine's native library
            return self._backend.version()

    def compile(self, model_path, batch_size: int, *args, **kwargs):
        if not getattr(self._backend, "needs_torch_model", False):
            _check_batch(model_path, batch_size)
        try:
            with native_section():  # Ctrl-C waits for the engine to be built (or not started)
                return self._backend.compile(model_path, batch_size, *args, **kwargs)
        except EdgeTransferError:
            raise
        except Exception as exc:  # each engine raises its own types; the message is what matters
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1].strip()[:240]
            raise OnnxModelError(f"{self._backend.name} cannot load {model_path} ({first}); check the model's "
                                 "operators and opset, or re-export it with `edge-transfer export`") from None


@functools.lru_cache(maxsize=64)
def _static_batch(path: str, _mtime_ns: int, _size: int) -> int:
    """The graph's static batch size, 0 when dynamic (cached per file version: bench compiles
    the same graph once per configuration and repeat)."""
    graph = load_onnx(path, load_external=False).graph
    dims = graph.input[0].type.tensor_type.shape.dim if graph.input else ()
    return dims[0].dim_value if dims and dims[0].HasField("dim_value") else 0


def _check_batch(model_path, batch_size: int) -> None:
    from pathlib import Path

    stat = Path(model_path).stat() if Path(model_path).is_file() else None
    static = _static_batch(str(model_path), stat.st_mtime_ns, stat.st_size) if stat else 0
    if static > 0 and static != batch_size:
        raise OnnxModelError(f"{model_path} has a static batch of {static}, asked to run at batch {batch_size}; "
                             f"use --batch-size {static} or re-export it with a dynamic batch")


def static_shape(dims, batch_size: int | None = None) -> list[int] | None:
    """``dims`` as a list of ints, or None when unknown or not static. A symbolic first
    dimension counts as ``batch_size`` when one is given (the model is compiled for it)."""
    if dims is None:
        return None
    try:
        dims = list(dims)
    except TypeError:
        return None
    if dims and batch_size is not None and not _is_dim(dims[0]):
        dims[0] = batch_size
    return [int(d) for d in dims] if all(_is_dim(d) for d in dims) else None


def _is_dim(d) -> bool:
    return isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0
