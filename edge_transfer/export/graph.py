"""PyTorch -> clean ONNX: BatchNorm folded into convolutions, Identity nodes removed,
onnx.checker passing."""

from __future__ import annotations

import copy
import io
from pathlib import Path

from ..onnx_io import io_signature, remove_identity_nodes

INPUT_NAME = "input"


def fold_batchnorm(model):
    """Fold every Conv->BatchNorm pair (eval statistics) into the convolution.

    The fused weight is ``w * gamma / sqrt(var + eps)`` per output channel: a row
    scaled by one finite scalar, so an exactly-zero weight stays exactly zero. The
    sparsity audit checks that on the exported graph.
    """
    from torch.fx.experimental.optimization import fuse

    return fuse(copy.deepcopy(model).eval())


def export_onnx(model, path: Path, input_size, batch_size: int | None, opset: int, output_name: str) -> dict:
    """Export ``model`` to ``path``; ``batch_size=None`` makes the batch dimension dynamic."""
    import onnx
    import torch

    folded = fold_batchnorm(model)
    dummy = torch.zeros(batch_size or 1, *input_size)
    dynamic = {INPUT_NAME: {0: "batch"}, output_name: {0: "batch"}} if batch_size is None else None
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            folded,
            (dummy,),
            buffer,
            dynamo=False,  # the dynamo exporter needs onnx>=1.16, which deepsparse forbids
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[output_name],
            dynamic_axes=dynamic,
            do_constant_folding=True,
            export_params=True,
        )
    graph = onnx.load_from_string(buffer.getvalue())  # a ModelProto
    removed = remove_identity_nodes(graph)
    onnx.checker.check_model(graph, full_check=True)
    leftover = sum(n.op_type in ("Identity", "BatchNormalization") for n in graph.graph.node)
    if leftover:
        raise RuntimeError(f"{leftover} Identity/BatchNormalization nodes left in {path.name}; please report this")
    onnx.save(graph, str(path))
    return {"identity_nodes_removed": removed, **io_signature(graph)}
