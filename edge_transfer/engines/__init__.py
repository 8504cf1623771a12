"""One registry for inference engines. Each backend is one module exposing a class with

    name: str
    version() -> str
    compile(model_path, batch_size, num_cores, streams=1, torch_model=None) -> CompiledModel

and a CompiledModel has ``run(list[np.ndarray]) -> list[np.ndarray]`` (safe to call from
``streams`` threads at once) and ``settings`` (a flat dict). ``torch_model`` is a
zero-argument callable building the nn.Module, used only by the torch backend. Callers never branch on the engine's name. Backends are imported
lazily so listing them costs nothing.
"""

from __future__ import annotations

import importlib

from ..errors import UnknownNameError

# name -> "module:Class"; a module starting with "." is relative to this package.
_BACKENDS = {
    "onnxruntime": ".ort:ORTEngine",
    "deepsparse": ".deepsparse_engine:DeepSparseEngine",
    "torch": ".torch_engine:TorchEngine",
}


def register_engine(name: str, target: str) -> None:
    """Register a backend ``"package.module:Class"`` under ``name`` (plugins, tests)."""
    _BACKENDS[name] = target


def list_engines() -> list[str]:
    return sorted(_BACKENDS)


def get_engine(name: str):
    try:
        module_name, cls_name = _BACKENDS[name].split(":")
    except KeyError:
        raise UnknownNameError(f"unknown engine {name!r}; choose from: {', '.join(list_engines())}") from None
    module = importlib.import_module(module_name, __name__)
    return getattr(module, cls_name)()
