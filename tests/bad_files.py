"""Hostile and broken inputs for tests/test_bad_inputs.py, each made by the test (no download)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def _tiny_graph(path: Path, *, op: str = "Relu", batch: int | str = "N", external: dict | None = None,
                in_subgraph: bool = False) -> Path:
    """A one-node ONNX model; ``external`` makes its constant an external-data tensor."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3, 8, 8])
    bias = numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "bias")
    if external is not None:
        bias.ClearField("raw_data")
        bias.data_location = TensorProto.EXTERNAL
        for key, value in external.items():
            entry = bias.external_data.add()
            entry.key, entry.value = key, str(value)
    if in_subgraph:  # the tensor sits in an If branch, not in the main graph's initializers
        branch_out = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3, 1, 1])
        then = helper.make_graph([helper.make_node("Constant", [], ["b"], value=bias)], "then", [], [branch_out])
        other = helper.make_graph([helper.make_node("Constant", [], ["b"], value=numpy_helper.from_array(
            np.zeros((1, 3, 1, 1), np.float32)))], "else", [], [branch_out])
        cond = numpy_helper.from_array(np.array(True), "cond")
        nodes = [helper.make_node("If", ["cond"], ["bias"], then_branch=then, else_branch=other),
                 helper.make_node("Add", ["x", "bias"], ["y"])]
        graph = helper.make_graph(nodes, "g", [x], [y], initializer=[cond])
    else:
        graph = helper.make_graph([helper.make_node(op, ["x", "bias"] if op == "Add" else ["x"], ["y"])], "g", [x],
                                  [y], initializer=[bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _bad_artifact(root: Path, source: Path, name: str, filename: str, change) -> Path:
    folder = root / name
    shutil.copytree(source, folder)
    record = json.loads((folder / filename).read_text())
    (folder / filename).write_text(json.dumps(change(record)))
    return folder


def _image_folders(root: Path) -> dict:
    none_readable = root / "unreadable"
    for cls in ("a", "b"):
        (none_readable / cls).mkdir(parents=True)
        for i in range(3):
            (none_readable / cls / f"{i}.png").write_bytes(b"not a png at all")
    empty = root / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "b").mkdir(parents=True)
    return {"unreadable": none_readable, "empty": empty}


def _checkpoints(root: Path) -> dict:
    import os

    import torch

    from edge_transfer.backbones import create_backbone

    class Bomb:
        def __reduce__(self):
            return (os.system, (f"touch {root / 'PWNED'}",))

    torch.save({"state_dict": Bomb()}, root / "bomb.pt")
    state = create_backbone("resnet18-cifar").state_dict()
    state["conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, root / "nan.pt")
    (root / "garbage.pt").write_bytes(b"\x80\x04garbage" * 100)
    return {"bomb": root / "bomb.pt", "nan": root / "nan.pt", "garbage_ckpt": root / "garbage.pt"}


def _recipes(root: Path) -> dict:
    bomb = root / "bomb.yaml"
    bomb.write_text("num_epochs: 1\nfinal_sparsity: 0.5\nmodifiers:\n  - !EpochRangeModifier\n    start_epoch: 0\n"
                    "    end_epoch: eval(num_epochs)\n  - !GMPruningModifier\n    params: __ALL_PRUNABLE__\n"
                    "    init_sparsity: 0.05\n    final_sparsity: eval(final_sparsity)\n    start_epoch: 0\n"
                    "    end_epoch: eval(num_epochs)\n    update_frequency: eval(9 ** 9 ** 9)\n")
    call = root / "call.yaml"
    call.write_text(bomb.read_text().replace("eval(9 ** 9 ** 9)", "eval(__import__('os').getpid())"))
    notyaml = root / "notyaml.yaml"
    notyaml.write_text("modifiers: [unclosed\n")
    return {"recipe_bomb": bomb, "recipe_call": call, "recipe_notyaml": notyaml}


def make_bad_files(root: Path, ticket: Path, export: Path) -> dict:
    """{name: path} of every broken or hostile input the table uses."""
    root.mkdir(parents=True, exist_ok=True)
    files = {"ticket": ticket, "export": export, "missing": root / "does-not-exist"}
    files["garbage"] = root / "garbage.bin"
    files["garbage"].write_bytes(bytes(range(256)) * 8)
    files["list_json"] = root / "list.json"
    files["list_json"].write_text("[1, 2, 3]")
    files["no_results"] = root / "no_results.json"
    files["no_results"].write_text(json.dumps({"schema": "edge-transfer.bench/1"}))
    files["a_folder"] = root / "a_folder"
    files["a_folder"].mkdir()
    files["t_list"] = _bad_artifact(root, ticket, "t_list", "ticket.json", lambda m: [m])
    files["t_noarch"] = _bad_artifact(root, ticket, "t_noarch", "ticket.json",
                                      lambda m: {k: v for k, v in m.items() if k != "arch"})
    files["t_ten"] = _bad_artifact(root, ticket, "t_ten", "ticket.json", lambda m: {**m, "num_classes": "ten"})
    files["m_list"] = _bad_artifact(root, export, "m_list", "manifest.json", lambda m: [m])
    files["m_noarch"] = _bad_artifact(root, export, "m_noarch", "manifest.json",
                                      lambda m: {k: v for k, v in m.items() if k != "arch"})
    files["m_size"] = _bad_artifact(root, export, "m_size", "manifest.json", lambda m: {**m, "input_size": [3, -1]})
    swapped = root / "swapped"
    shutil.copytree(export, swapped)
    shutil.copy(swapped / "dense" / "model.onnx", swapped / "model.onnx")
    files["swapped"] = swapped
    flipped = root / "flipped"
    shutil.copytree(ticket, flipped)
    data = bytearray((flipped / "weights.safetensors").read_bytes())
    data[-3] ^= 1
    (flipped / "weights.safetensors").write_bytes(bytes(data))
    files["flipped"] = flipped
    onnx_dir = root / "onnx"
    (onnx_dir / "secret.bin").parent.mkdir(parents=True, exist_ok=True)
    (root / "secret.bin").write_bytes(b"\x00" * 12)
    files["onnx_outside"] = _tiny_graph(onnx_dir / "outside" / "m.onnx", op="Add", external={"location": "../../secret.bin"})
    files["onnx_subgraph"] = _tiny_graph(onnx_dir / "subgraph" / "m.onnx", external={"location": "../../secret.bin"},
                                         in_subgraph=True)
    (onnx_dir / "pastend").mkdir(parents=True)
    (onnx_dir / "pastend" / "w.bin").write_bytes(b"\x00" * 4)
    files["onnx_pastend"] = _tiny_graph(onnx_dir / "pastend" / "m.onnx", op="Add",
                                        external={"location": "w.bin", "offset": 0, "length": 12})
    files["onnx_unknown_op"] = _tiny_graph(onnx_dir / "unknown" / "m.onnx", op="NoSuchOperator")
    files["onnx_static1"] = _tiny_graph(onnx_dir / "static" / "m.onnx", batch=1)
    files.update(_image_folders(root / "images"))
    files.update(_checkpoints(root))
    files.update(_recipes(root))
    return files
