"""ONNX forms of a fake-quantized model, and the INT8 zero audit.

- ``qdq``: int8 weight initializers -> DequantizeLinear -> Conv/Gemm, activations through
  QuantizeLinear/DequantizeLinear pairs: ONNX Runtime's and OpenVINO's INT8 input.
- ``deepsparse``: sparseml's exporter rewrites the same graph into QLinearConv (where the
  output is quantized) or ConvInteger + rescale (where it is not), with uint8 weights:
  the form DeepSparse's sparse INT8 kernels run.

Every quantized conv/gemm node is named after its weight (``layer1.0.conv1``) before the
rewrite, so the weight initializers of both forms carry the ticket's parameter names and
the audit can compare them position by position with the ticket's masks.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ..onnx_io import remove_identity_nodes
from ..thirdparty import import_sparseml

# Quantized weight consumers: op type -> index of the weight input. Every one of them has
# the weight's zero point two inputs later.
_WEIGHT_INPUT = {"DequantizeLinear": 0, "QLinearConv": 3, "ConvInteger": 1, "MatMulInteger": 1}
INPUT_NAME = "input"


def _fold_constants(model) -> None:
    """torch's exporter spells quantization parameters as Constant -> Cast chains; make them
    initializers (sparseml's transforms read quantization parameters from initializers)."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    for node in [n for n in graph.node if n.op_type == "Constant"]:
        tensor = copy.deepcopy(helper.get_attribute_value(node.attribute[0]))
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        inits[tensor.name] = tensor
        graph.node.remove(node)
    for node in [n for n in graph.node if n.op_type == "Cast" and n.input[0] in inits]:
        dtype = helper.tensor_dtype_to_np_dtype(helper.get_attribute_value(node.attribute[0]))
        tensor = numpy_helper.from_array(numpy_helper.to_array(inits[node.input[0]]).astype(dtype), node.output[0])
        graph.initializer.append(tensor)
        inits[tensor.name] = tensor
        graph.node.remove(node)
    remove_identity_nodes(model)
    used = {name for n in graph.node for name in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    onnx.checker.check_model(model)


def _producers(model) -> dict:
    return {out: node for node in model.graph.node for out in node.output}


def _name_layers_by_weight(model) -> None:
    """Name each Conv/Gemm after its weight parameter (found through DQ <- Q <- initializer)."""
    inits = {i.name for i in model.graph.initializer}
    producer = _producers(model)
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        dq = producer.get(node.input[1])
        q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is not None and q.op_type == "QuantizeLinear" and q.input[0] in inits:
            node.name = q.input[0].removesuffix(".weight")


def export_fake_quant(fq_model, input_size, output_name: str, opset: int = 13):
    """Export the fake-quantized module (dynamic batch) to a clean QDQ ModelProto with fp32
    weights behind QuantizeLinear: the common source of both forms."""
    import io

    import onnx
    import torch

    import warnings

    buffer = io.BytesIO()
    dummy = torch.zeros(1, *input_size)
    # The weight scale is a Python float read off the weight: the tracer warns that it
    # becomes a constant of the graph, which is exactly what the export should hold.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(fq_model, (dummy,), buffer, dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                          output_names=[output_name], dynamic_axes={INPUT_NAME: {0: "batch"}, output_name: {0: "batch"}},
                          # Folding would bake Q(weight) into int8 constants sparseml cannot match.
                          do_constant_folding=False, export_params=True)
    model = onnx.load_from_string(buffer.getvalue())
    _fold_constants(model)
    _name_layers_by_weight(model)
    return model


def qdq_form(source):
    """fp32 weight -> QuantizeLinear becomes an int8 initializer (same name) -> DequantizeLinear."""
    import numpy as np
    from onnx import numpy_helper

    model = copy.deepcopy(source)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consumers: dict = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for q in [n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] in inits]:
        weight = numpy_helper.to_array(inits[q.input[0]])
        scale = float(numpy_helper.to_array(inits[q.input[1]]))
        zero = numpy_helper.to_array(inits[q.input[2]])
        info = np.iinfo(zero.dtype)
        quantized = np.clip(np.round(weight / scale) + int(zero), info.min, info.max).astype(zero.dtype)
        graph.initializer.remove(inits[q.input[0]])
        graph.initializer.append(numpy_helper.from_array(quantized, q.input[0]))
        for dq in consumers.get(q.output[0], []):
            dq.input[0] = q.input[0]
        graph.node.remove(q)
    return model


def deepsparse_form(source):
    """sparseml's ONNX-to-DeepSparse rewrite, with QLinearConv wherever the output is
    quantized and ConvInteger + rescale elsewhere (sparseml offers one or the other)."""
    import logging

    T = import_sparseml("sparseml.exporters.transforms")
    ONNXToDeepsparse = import_sparseml("sparseml.exporters.onnx_to_deepsparse").ONNXToDeepsparse

    exporter = ONNXToDeepsparse(inplace=False)
    exporter.transforms = [
        T.ConstantsToInitializers(), T.FoldIdentityInitializers(), T.InitializersToUint8(), T.FlattenQParams(),
        T.DeleteRepeatedQdq(), T.FoldReLUQuants(), T.ConvToQLinearConv(), T.ConvToConvIntegerAddCastMul(),
        T.GemmToQLinearMatMul(), T.GemmToMatMulIntegerAddCastMul(), T.QuantizeResiduals(),
        T.RemoveDuplicateQConvWeights(), T.RemoveDuplicateQuantizeOps(),
    ]
    import warnings

    quiet = logging.getLogger("sparseml")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # sparseml quantizes biases with torch.quantize_per_tensor, deprecated in torch 2.14 but working.
            warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
            return exporter.apply(copy.deepcopy(source))
    finally:
        quiet.setLevel(level)


def quantized_weights(model) -> dict:
    """``{layer name: (integer weight array, zero point)}`` for every quantized conv/gemm
    weight of either form, keyed by the ticket's parameter name (what ``validation.audit_zeros``
    reads: a ticket's zero must be the zero point, which dequantizes to exactly 0)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        index = _WEIGHT_INPUT.get(node.op_type)
        if index is None or len(node.input) <= index + 2 or node.input[index] not in inits:
            continue
        # sparseml names a rewritten weight "<node name>.weight_quantized"; the node was named
        # after the layer, so this gives the ticket's "<layer>.weight" back.
        name = node.input[index].removesuffix("_quantized")
        zero = int(numpy_helper.to_array(inits[node.input[index + 2]]).reshape(-1)[0])
        out[name] = (numpy_helper.to_array(inits[node.input[index]]), zero)
    return out


def save(model, path: Path) -> None:
    import onnx

    onnx.save(model, str(path))
