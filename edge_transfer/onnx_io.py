"""Reading ONNX files safely and tidying exported graphs.

onnx 1.14 predates the fix for external-data path traversal, so a tensor's
external ``location`` is checked to stay inside the model's folder before
anything (onnx, ONNX Runtime, DeepSparse) is allowed to follow it.
"""

from __future__ import annotations

from pathlib import Path

from .errors import OnnxModelError


def _graph_tensors(graph):
    """Every tensor a graph holds, subgraphs (If/Loop/Scan bodies) and node attributes included."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield from (attr.sparse_tensor.values, attr.sparse_tensor.indices)
            for sparse in attr.sparse_tensors:
                yield from (sparse.values, sparse.indices)
            if attr.HasField("g"):
                yield from _graph_tensors(attr.g)
            for sub in attr.graphs:
                yield from _graph_tensors(sub)


def _external_entries(model):
    from onnx import TensorProto

    for tensor in _graph_tensors(model.graph):
        if tensor.data_location == TensorProto.EXTERNAL:
            yield tensor.name, {e.key: e.value for e in tensor.external_data}


def _check_external(path: Path, folder: Path, name: str, entries: dict) -> None:
    location = entries.get("location", "")
    target = (folder / location).resolve()
    if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
        raise OnnxModelError(
            f"{path}: tensor {name!r} points at external data {location!r} outside the model's folder; "
            "refusing to follow it (re-save the model with its data beside it)"
        )
    if not target.is_file():
        raise OnnxModelError(f"{path}: external data file {location!r} for tensor {name!r} is missing")
    try:
        offset, length = int(entries.get("offset", 0)), int(entries.get("length", 0))
    except ValueError:
        raise OnnxModelError(f"{path}: tensor {name!r} has a malformed external-data offset or length; re-export it") from None
    if offset < 0 or length < 0 or offset + length > target.stat().st_size:
        raise OnnxModelError(f"{path}: tensor {name!r} reads past the end of {location!r} (offset {offset}, length "
                             f"{length}, file {target.stat().st_size} bytes); the data file is truncated: re-export it")


def load_onnx(path: Path, load_external: bool = True):
    """Parse an ONNX file, refusing external data that points outside its folder."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise OnnxModelError(f"ONNX file {path} not found; export one with `edge-transfer export`")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError) as exc:
        raise OnnxModelError(f"{path} is not a readable ONNX model ({type(exc).__name__}); re-export it") from None
    if not model.graph.node:
        raise OnnxModelError(f"{path} has an empty graph; re-export it")
    folder = path.resolve().parent
    for name, entries in _external_entries(model):
        _check_external(path, folder, name, entries)
    if load_external:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, str(folder))
    return model


def check_onnx_file(path: Path) -> None:
    """Validate ``path`` before handing it to an engine that would load it unchecked."""
    load_onnx(path, load_external=False)


def remove_identity_nodes(model) -> int:
    """Drop Identity nodes by rewiring their consumers; returns how many were removed."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    removed = 0
    for node in [n for n in graph.node if n.op_type == "Identity"]:
        src, dst = node.input[0], node.output[0]
        if dst in outputs:
            # Keep the public output name: let the producer write it directly.
            producers = [n for n in graph.node if src in n.output]
            if len(producers) != 1 or src in outputs or any(src in n.input for n in graph.node if n is not node):
                continue
            producer = producers[0]
            producer.output[list(producer.output).index(src)] = dst
        else:
            for other in graph.node:
                for i, name in enumerate(other.input):
                    if name == dst:
                        other.input[i] = src
        graph.node.remove(node)
        removed += 1
    return removed


def io_signature(model) -> dict:
    """Input/output names and shapes (symbolic dims as their names)."""

    def shape(value_info):
        dims = value_info.type.tensor_type.shape.dim
        return [d.dim_param if d.dim_param else d.dim_value for d in dims]

    initializers = {i.name for i in model.graph.initializer}
    return {
        "inputs": [{"name": i.name, "shape": shape(i)} for i in model.graph.input if i.name not in initializers],
        "outputs": [{"name": o.name, "shape": shape(o)} for o in model.graph.output],
    }


def initializer_arrays(model) -> dict:
    from onnx import numpy_helper

    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
