"""The artifact's graph: a validated backbone graph with the head appended (feature
standardisation folded in, then softmax); two outputs, ``probabilities`` and ``features``
(the backbone's, so the device keeps learning from the same compiled model)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DeployError
from ..tolerances import HEAD_TOLERANCE
from ..validation import compare
from .options import FEATURES, PROBABILITIES


def _copy(model):
    """A deep copy of an ModelProto: the caller's graph is never edited in place."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def with_new_head(onnx_model, names: dict, weight, bias):
    """A copy of ``onnx_model`` whose folded head is ``weight``/``bias`` (the class count may
    change); every other initializer is kept byte for byte."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    out = _copy(onnx_model)
    arrays = {names["weight"]: np.ascontiguousarray(weight, dtype=np.float32),
              names["bias"]: np.ascontiguousarray(bias, dtype=np.float32)}
    for init in out.graph.initializer:
        if init.name in arrays:
            init.CopyFrom(numpy_helper.from_array(arrays.pop(init.name), init.name))
    if arrays:
        raise DeployError(f"model.onnx has no head initializer {next(iter(arrays))}; rebuild it with `edge-transfer deploy`")
    for output in out.graph.output:
        if output.name == PROBABILITIES:
            output.type.tensor_type.shape.dim[1].dim_value = int(weight.shape[0])
    onnx.checker.check_model(out)
    return out


def backbone_unchanged(before, after, names: dict) -> int:
    """How many initializers other than the head differ between two graphs (0 when the
    backbone, and so every pruned zero, is exactly as validated)."""
    a = {i.name: i.SerializeToString() for i in before.graph.initializer if i.name not in names.values()}
    b = {i.name: i.SerializeToString() for i in after.graph.initializer if i.name not in names.values()}
    return sum(a.get(k) != b.get(k) for k in a.keys() | b.keys())


HEAD_WEIGHT, HEAD_BIAS = "deployed_head.weight", "deployed_head.bias"


def append_head(backbone, weight, bias):
    """``backbone`` (an ONNX graph whose one output is the pooled ``features``, e.g. an INT8
    form from ``quantize``) with an FP32 head appended: Gemm -> Softmax. The head stays FP32
    so that learning on the device can replace it (``with_new_head``)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = _copy(backbone)
    g = out.graph
    if len(g.output) != 1:
        raise DeployError(f"the backbone graph has {len(g.output)} outputs, expected its features only; re-export it")
    features = g.output[0]
    batch = features.type.tensor_type.shape.dim[0]
    g.initializer.extend([numpy_helper.from_array(np.ascontiguousarray(weight, dtype=np.float32), HEAD_WEIGHT),
                          numpy_helper.from_array(np.ascontiguousarray(bias, dtype=np.float32), HEAD_BIAS)])
    g.node.extend([helper.make_node("Gemm", [features.name, HEAD_WEIGHT, HEAD_BIAS], ["deployed_head.logits"], transB=1),
                   helper.make_node("Softmax", ["deployed_head.logits"], [PROBABILITIES], axis=1)])
    probabilities = helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, [None, int(weight.shape[0])])
    probabilities.type.tensor_type.shape.dim[0].CopyFrom(batch)
    kept = onnx.ValueInfoProto()
    kept.CopyFrom(features)
    if kept.name != FEATURES:
        raise DeployError(f"the backbone graph's output is {kept.name!r}, not {FEATURES!r}; re-export it")
    del g.output[:]
    g.output.extend([probabilities, kept])
    onnx.checker.check_model(out)
    return out, {"weight": HEAD_WEIGHT, "bias": HEAD_BIAS}


def head_parity(path: Path, engines, head, x) -> list:
    """The graph's probabilities against ``head`` (a HeadState) applied to the graph's own
    features output in float64, on every engine: the head is exact FP32 whatever the backbone's
    precision (absolute difference on probabilities)."""
    import numpy as np

    records = []
    for engine in engines:
        probabilities, features = engine.compile(path, len(x)).run([x])
        weight, bias = head.folded()
        logits = features.astype(np.float64) @ weight.T.astype(np.float64) + bias
        expected = np.exp(logits - logits.max(1, keepdims=True))
        expected /= expected.sum(1, keepdims=True)
        records.append(compare("model.onnx (head)", engine.name, probabilities, expected, HEAD_TOLERANCE,
                               "max_abs_diff"))
    return records


IMAGE_INPUT = "image"  # a folded artifact's input: uint8 NHWC at the input size


def fold_preprocessing(model, mean, std):
    """``model`` taking uint8 NHWC images instead of normalised float NCHW: Cast, Transpose,
    then x * 1/(255 std) - mean/std per channel, folded into one Mul and one Add."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = _copy(model)
    g = out.graph
    if len(g.input) != 1:
        raise DeployError(f"the graph has {len(g.input)} inputs; folding preprocessing needs exactly one")
    old = g.input[0]
    dims = old.type.tensor_type.shape.dim  # N, C, H, W
    std, mean = np.asarray(std, dtype=np.float32), np.asarray(mean, dtype=np.float32)
    scale = (1.0 / (255.0 * std)).reshape(1, -1, 1, 1).astype(np.float32)
    shift = (-mean / std).reshape(1, -1, 1, 1).astype(np.float32)
    g.initializer.extend([numpy_helper.from_array(scale, "deployed_input.scale"),
                          numpy_helper.from_array(shift, "deployed_input.shift")])
    prefix = [helper.make_node("Cast", [IMAGE_INPUT], ["deployed_input.float"], to=TensorProto.FLOAT),
              helper.make_node("Transpose", ["deployed_input.float"], ["deployed_input.nchw"], perm=[0, 3, 1, 2]),
              helper.make_node("Mul", ["deployed_input.nchw", "deployed_input.scale"], ["deployed_input.scaled"]),
              helper.make_node("Add", ["deployed_input.scaled", "deployed_input.shift"], [old.name])]
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(prefix + nodes)
    image = helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.UINT8, [None, dims[2].dim_value, dims[3].dim_value,
                                                                           dims[1].dim_value])
    image.type.tensor_type.shape.dim[0].CopyFrom(dims[0])
    del g.input[:]
    g.input.extend([image])
    onnx.checker.check_model(out)
    return out
