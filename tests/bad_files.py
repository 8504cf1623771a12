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


# -- the device side: artifacts, adapt runs, images, bench records --------------------------

def _linked_copy(source: Path, folder: Path) -> Path:
    """A copy whose files are hard links (an artifact is 44 MB); ``_rewrite`` unlinks before writing."""
    import os

    shutil.copytree(source, folder, copy_function=os.link)
    return folder


def _rewrite(path: Path, data: bytes | str) -> None:
    path.unlink()
    (path.write_text if isinstance(data, str) else path.write_bytes)(data)


def _rehash(folder: Path, name: str) -> None:
    """deploy.json's recorded sha256 of ``name`` made to match the file again: the tampering
    reaches the checks behind the hash (a user who rebuilt the record by hand)."""
    from edge_transfer.fileio import sha256_file

    record = json.loads((folder / "deploy.json").read_text())
    record["files"][name] = {"sha256": sha256_file(folder / name), "bytes": (folder / name).stat().st_size}
    _rewrite(folder / "deploy.json", json.dumps(record))


def _variant(root: Path, source: Path, name: str, filename: str, change) -> Path:
    folder = _linked_copy(source, root / name)
    record = json.loads((folder / filename).read_text())
    _rewrite(folder / filename, json.dumps(change(record)))
    return folder


NESTED = "[" * 100_000 + "]" * 100_000


def _png(path: Path, width: int = 20, height: int = 20, value: int = 0) -> Path:
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(path)
    return path


def _bomb_png(path: Path, side: int = 30_000) -> Path:
    """A 312-byte PNG whose header declares side x side pixels: a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * (side + 1) * 8, 9)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def _images(root: Path) -> dict:
    """Good images, bombs only, and a mix, in class folders named like the target's digits."""
    good, bombs, mixed = root / "good", root / "bombs", root / "mixed"
    for i, cls in enumerate(("5", "6", "7", "8", "9")):
        for j in range(4):
            _png(good / cls / f"{j}.png", value=40 * i + 5 * j)
            _png(mixed / cls / f"{j}.png", value=40 * i + 5 * j)
        for j in range(5):
            _bomb_png(bombs / cls / f"bomb{j or ''}.png", side=30_000 - j)
    _bomb_png(mixed / "7" / "bomb.png")
    jpeg_bomb = root / "bomb.jpg"  # a JPEG whose frame header declares 65500 x 65500 pixels
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (65500).to_bytes(2, "big") * 2
    jpeg_bomb.write_bytes(bytes(data))
    truncated = root / "truncated.png"
    truncated.write_bytes((good / "5" / "0.png").read_bytes()[:40])
    return {"image": good / "5" / "0.png", "images": good, "bombs": bombs, "mixed": mixed,
            "bomb_png": bombs / "5" / "bomb.png", "bomb_jpeg": jpeg_bomb, "truncated_png": truncated}


def _artifacts(root: Path, artifact: Path, secret: Path) -> dict:
    import numpy as np
    from safetensors.numpy import load_file, save_file

    out = {}

    def edit(name, change):
        out[name] = _variant(root, artifact, name, "deploy.json", change)

    def rehashed(name, filename, data):
        folder = _linked_copy(artifact, root / name)
        _rewrite(folder / filename, data)
        _rehash(folder, filename)
        out[name] = folder

    edit("a_std_inf", lambda m: {**m, "std": [float("inf")] * 3})
    edit("a_mean_nan", lambda m: {**m, "mean": [float("nan")] * 3})
    edit("a_size_huge", lambda m: {**m, "input_size": [3, 100_000, 100_000]})
    edit("a_size_other", lambda m: {**m, "input_size": [3, 32, 32]})
    edit("a_format_other", lambda m: {**m, "input_format": "uint8 NHWC"})
    edit("a_classes_huge", lambda m: {**m, "num_classes": 10**12})
    edit("a_features_huge", lambda m: {**m, "feature_dim": 10**9})
    edit("a_classes_other", lambda m: {**m, "num_classes": 7})
    edit("a_outputs_none", lambda m: {k: v for k, v in m.items() if k != "outputs"})
    edit("a_outputs_reversed", lambda m: {**m, "outputs": m["outputs"][::-1]})
    edit("a_outputs_text", lambda m: {**m, "outputs": "probabilities"})
    edit("a_files_up", lambda m: {**m, "files": {**m["files"], "../secret.bin": {"sha256": "0" * 64}}})
    edit("a_files_absolute", lambda m: {**m, "files": {**m["files"], str(secret): {"sha256": "0" * 64}}})
    edit("a_head_name", lambda m: {**m, "head": {"weight": "no.such.tensor", "bias": m["head"]["bias"]}})
    edit("a_history_int", lambda m: {**m, "history": 5})
    edit("a_list", lambda m: [m])
    for name, text in (("a_nested", NESTED), ("a_not_json", "{'python': 'dict'}")):
        out[name] = _linked_copy(artifact, root / name)
        _rewrite(out[name] / "deploy.json", text)
    out["a_huge_json"] = _linked_copy(artifact, root / "a_huge_json")
    (out["a_huge_json"] / "deploy.json").unlink()
    with open(out["a_huge_json"] / "deploy.json", "wb") as f:
        f.truncate(100 << 20)  # sparse: 100 MiB that take no disk
    out["a_link_out"] = _linked_copy(artifact, root / "a_link_out")
    (out["a_link_out"] / "labels.json").unlink()
    (out["a_link_out"] / "labels.json").symlink_to(secret)
    _rehash(out["a_link_out"], "labels.json")
    tampered = _linked_copy(artifact, root / "a_tampered")
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-7] ^= 1
    _rewrite(tampered / "model.onnx", bytes(data))
    out["a_tampered"] = tampered
    rehashed("a_model_garbage", "model.onnx", bytes(range(256)) * 64)
    rehashed("a_model_outside", "model.onnx",
             _tiny_graph(root / "outside-graph" / "m.onnx", op="Add", external={"location": "../../secret.bin"}).read_bytes())
    rehashed("a_labels_dup", "labels.json", json.dumps(["5", "5", "6", "7", "8"]))
    rehashed("a_labels_nested", "labels.json", NESTED)
    rehashed("a_head_garbage", "head.safetensors", bytes(range(256)) * 8)
    head = load_file(str(artifact / "head.safetensors"))
    narrow = root / "narrow.safetensors"
    save_file({**head, "weight": np.zeros((5, 100), np.float32)}, str(narrow))
    rehashed("a_head_width", "head.safetensors", narrow.read_bytes())
    save_file({**head, "weight": np.full_like(head["weight"], np.nan)}, str(narrow))
    rehashed("a_head_nan", "head.safetensors", narrow.read_bytes())
    return out


def _runs(root: Path, run: Path, bomb: Path) -> dict:
    import torch

    out = {}

    def edit(name, change):
        out[name] = _variant(root, run, name, "adapt.json", change)

    edit("r_no_settings", lambda r: {k: v for k, v in r.items() if k != "settings"})
    edit("r_preds_short", lambda r: {**r, "val_predictions": r["val_predictions"][:17]})
    edit("r_preds_text", lambda r: {**r, "val_predictions": [str(p) for p in r["val_predictions"]]})
    edit("r_classes_dup", lambda r: {**r, "classes": ["5"] * len(r["classes"])})
    edit("r_mean_inf", lambda r: {**r, "settings": {**r["settings"], "mean": [float("inf")] * 3}})
    edit("r_data_int", lambda r: {**r, "settings": {**r["settings"], "train": {**r["settings"]["train"], "data": 5}}})
    out["r_nested"] = _linked_copy(run, root / "r_nested")
    _rewrite(out["r_nested"] / "adapt.json", NESTED)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    for name, changed in (("r_no_stats", {k: v for k, v in state.items() if k != "feature_stats"}),
                          ("r_head_nan", {**state, "head": {**state["head"],
                                                            "weight": torch.full_like(state["head"]["weight"], float("nan"))}})):
        out[name] = _linked_copy(run, root / name)
        (out[name] / "checkpoint.pt").unlink()
        torch.save(changed, out[name] / "checkpoint.pt")
    out["r_ckpt_bomb"] = _linked_copy(run, root / "r_ckpt_bomb")
    (out["r_ckpt_bomb"] / "checkpoint.pt").unlink()
    shutil.copy(bomb, out["r_ckpt_bomb"] / "checkpoint.pt")
    return out


def _exports(root: Path, export: Path, ticket: Path) -> dict:
    out = {
        "m_file_up": _variant(root, export, "m_file_up", "manifest.json",
                              lambda m: {**m, "files": {**m["files"], "../secret.bin": {"sha256": "0" * 64}}}),
        "m_dense_up": _variant(root, export, "m_dense_up", "manifest.json", lambda m: {**m, "dense": "../../x/manifest.json"}),
        "m_classes_huge": _variant(root, export, "m_classes_huge", "manifest.json", lambda m: {**m, "num_classes": 10**12}),
        "m_size_huge": _variant(root, export, "m_size_huge", "manifest.json", lambda m: {**m, "input_size": [3, 10**5, 10**5]}),
        "t_classes_huge": _variant(root, ticket, "t_classes_huge", "ticket.json", lambda m: {**m, "num_classes": 10**12}),
        "t_size_huge": _variant(root, ticket, "t_size_huge", "ticket.json", lambda m: {**m, "input_size": [3, 10**6, 8]}),
    }
    out["t_nested"] = _linked_copy(ticket, root / "t_nested")
    _rewrite(out["t_nested"] / "ticket.json", NESTED)
    return out


def _bench_records(root: Path) -> dict:
    row = {"engine": "onnxruntime", "model": "m", "variant": "ticket", "batch_size": 1, "cores": 2, "scenario": "sync",
           "items_per_sec": 10.0, "speedup": 1.5}
    out = {}
    for name, results in (("c_text_numbers", [{**row, "items_per_sec": "fast"}]), ("c_null_cores", [{**row, "cores": None}]),
                          ("c_results_dict", {"a": row}), ("c_speedup_text", [{**row, "speedup": "2x"}])):
        out[name] = root / f"{name}.json"
        out[name].write_text(json.dumps({"schema": "edge-transfer.bench/1", "results": results}))
    out["c_good"] = root / "c_good.json"
    out["c_good"].write_text(json.dumps({"schema": "edge-transfer.bench/1", "results": [row]}))
    out["c_nested"] = root / "c_nested.json"
    out["c_nested"].write_text(NESTED)
    return out


def make_device_files(root: Path, files: dict, run: Path, artifact: Path) -> dict:
    """{name: path} of the hostile inputs of deploy, predict, learn, quantize, bench --compare
    and --cluster, beside ``files`` (make_bad_files)."""
    root.mkdir(parents=True, exist_ok=True)
    secret = root / "secret.bin"
    secret.write_bytes(b"\x00" * 12)
    out = {"run": run, "artifact": artifact}
    out.update(_images(root / "images"))
    out.update(_artifacts(root, artifact, secret))
    out.update(_runs(root, run, files["bomb"]))
    out.update(_exports(root, files["export"], files["ticket"]))
    out.update(_bench_records(root))
    return out
