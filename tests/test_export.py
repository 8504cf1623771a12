"""ONNX export: parity with PyTorch on ORT and DeepSparse, clean graphs, the zero audit,
atomic output, and refusal of unsafe ONNX files."""

import json

import numpy as np
import onnx
import pytest
import torch

from edge_transfer.backbones import list_backbones
from edge_transfer.errors import OnnxModelError, OutputExistsError, ParityError
from edge_transfer.export import ExportOptions, export_ticket
from edge_transfer.validation import audit_zeros, fp32_weights
from edge_transfer.onnx_io import load_onnx
from edge_transfer.prune import PruneOptions, draw_ticket
from edge_transfer.ticket import load_ticket


def test_manifest_and_parity(small_export, small_ticket):
    root = small_export.path
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["schema"] == "edge-transfer.export/2" and manifest["validation"]["passed"]
    assert manifest["dense"] == "dense/manifest.json"
    engines = {(p["graph"], p["engine"]) for p in manifest["validation"]["parity"]}
    assert engines == {(g, e) for g in ("model.onnx", "backbone.onnx") for e in ("onnxruntime", "deepsparse")}
    for p in manifest["validation"]["parity"]:
        assert p["max_rel_diff"] <= p["tolerance"] == 1e-3
    assert manifest["feature_dim"] == 512 and manifest["num_classes"] == 10
    assert manifest["files"]["backbone.onnx"]["outputs"][0]["shape"] == ["batch", 512]
    from edge_transfer.fileio import sha256_file

    for name, record in manifest["files"].items():
        assert sha256_file(root / name) == record["sha256"]


def test_onnx_outputs_match_torch_independently(small_export, small_ticket):
    """Re-check parity here, outside the exporter's own validation code."""
    import onnxruntime as ort

    ticket = load_ticket(small_ticket)
    x = torch.randn(3, *ticket.meta.input_size)
    session = ort.InferenceSession(str(small_export.path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        expected = ticket.model(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())
    dense = ort.InferenceSession(str(small_export.path / "dense" / "model.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected_dense = ticket.dense_model()(x).numpy()
    np.testing.assert_allclose(dense.run(None, {"input": x.numpy()})[0], expected_dense, rtol=1e-3,
                               atol=1e-4 * np.abs(expected_dense).max())


def test_graphs_are_clean(small_export):
    for rel in ("model.onnx", "backbone.onnx", "dense/model.onnx", "dense/backbone.onnx"):
        model = onnx.load(str(small_export.path / rel))
        onnx.checker.check_model(model, full_check=True)
        ops = {n.op_type for n in model.graph.node}
        assert "Identity" not in ops and "BatchNormalization" not in ops, (rel, ops)


def test_dense_baseline_has_no_pruned_zeros(small_export, small_ticket):
    from onnx import numpy_helper

    ticket = load_ticket(small_ticket)
    dense = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(small_export.path / "dense/model.onnx")).graph.initializer}
    for name in ticket.masks:
        assert int((dense[name] == 0).sum()) == 0


@pytest.mark.slow
def test_sparsity_audit_resnet50(tmp_path):
    from edge_transfer.backbones import create_backbone

    # A checkpoint with non-trivial BN statistics, so folding really rescales every
    # output row of every conv by a different scalar.
    torch.manual_seed(0)
    source = create_backbone("resnet50")
    for m in source.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.05, 5)
            m.weight.data.normal_()
            m.bias.data.normal_()
    torch.save(source.state_dict(), tmp_path / "r50.pth")
    ticket_dir = tmp_path / "r50"
    draw_ticket(PruneOptions(arch="resnet50", output=ticket_dir, sparsity=0.9, checkpoint=tmp_path / "r50.pth"))
    ticket = load_ticket(ticket_dir)
    result = export_ticket(ExportOptions(ticket=ticket_dir, output=tmp_path / "e", validate_engines=("onnxruntime",)))
    audit = result.manifest.validation["audit"]
    assert len(audit) == 2 * len(ticket.masks)  # model.onnx and backbone.onnx
    assert all(a["passed"] and a["lost"] == 0 for a in audit)
    by_layer = {a["layer"]: a for a in audit if a["graph"] == "backbone.onnx"}
    for layer in ticket.meta.layers:
        if layer["prunable"]:
            assert by_layer[layer["name"]]["ticket_zeros"] == layer["zeros"] == by_layer[layer["name"]]["onnx_zeros"]
    assert result.manifest.validation["lost_zeros"] == 0


def test_audit_detects_a_lost_zero(small_export, small_ticket):
    from onnx import numpy_helper

    ticket = load_ticket(small_ticket)
    model = load_onnx(small_export.path / "model.onnx")
    name = "layer3.0.conv2.weight"
    init = next(i for i in model.graph.initializer if i.name == name)
    array = numpy_helper.to_array(init).copy()
    zero_positions = np.argwhere(array == 0)
    array[tuple(zero_positions[0])] = 1e-3  # a zero that did not survive
    init.CopyFrom(numpy_helper.from_array(array, name))
    records = {r.layer: r for r in audit_zeros("model.onnx", fp32_weights(model), ticket.model, list(ticket.masks))}
    assert records[name].lost == 1 and not records[name].passed
    assert all(r.passed for n, r in records.items() if n != name)


def test_bn_folding_keeps_zeros_with_real_statistics(tmp_path, small_ticket):
    """Random BN statistics (incl. a zero gamma): folding must keep every zero; gamma=0 only adds zeros."""
    from edge_transfer.export.graph import fold_batchnorm

    ticket = load_ticket(small_ticket)
    model = ticket.model
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.1, 4)
            m.weight.data.normal_()
    model.layer2[0].bn1.weight.data[0] = 0.0
    folded = dict(fold_batchnorm(model).named_parameters())
    for name in ticket.masks:
        original_zero = dict(model.named_parameters())[name] == 0
        assert bool((folded[name][original_zero] == 0).all()), name
    assert bool((folded["layer2.0.conv1.weight"][0] == 0).all())


def test_static_batch(tmp_path, small_ticket):
    result = export_ticket(ExportOptions(ticket=small_ticket, output=tmp_path / "e", batch_size=4, validate_engines=("onnxruntime",)))
    assert result.manifest.batch_size == 4
    assert result.manifest.files["model.onnx"]["inputs"][0]["shape"] == [4, 3, 32, 32]


@pytest.mark.parametrize("arch", [a for a in list_backbones() if a not in ("resnet50", "resnet34", "resnet50-cifar", "resnet34-cifar")])
def test_every_small_architecture_exports(tmp_path, arch):
    draw_ticket(PruneOptions(arch=arch, output=tmp_path / "t", sparsity=0.5))
    result = export_ticket(ExportOptions(ticket=tmp_path / "t", output=tmp_path / "e", validate_engines=("onnxruntime",)))
    assert result.passed and result.manifest.validation["lost_zeros"] == 0


def test_parity_failure_writes_nothing(tmp_path, small_ticket, monkeypatch):
    from edge_transfer.backbones import _registry

    cfg = _registry._REGISTRY["resnet18-cifar"].cfg
    strict = type(cfg)(**{**cfg.__dict__, "rel_tolerance": 0.0})  # no engine is bit-exact
    monkeypatch.setitem(_registry._REGISTRY, "resnet18-cifar", _registry._Entry(strict, _registry._REGISTRY["resnet18-cifar"].constructor))
    out = tmp_path / "e"
    with pytest.raises(ParityError, match="nothing was written"):
        export_ticket(ExportOptions(ticket=small_ticket, output=out, validate_engines=("onnxruntime",)))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_refused_then_replaced_with_force(tmp_path, small_ticket):
    out = tmp_path / "e"
    out.mkdir()
    (out / "model.onnx").write_text("old")
    with pytest.raises(OutputExistsError):
        export_ticket(ExportOptions(ticket=small_ticket, output=out, validate_engines=()))
    assert (out / "model.onnx").read_text() == "old"
    export_ticket(ExportOptions(ticket=small_ticket, output=out, validate_engines=(), force=True))
    onnx.checker.check_model(onnx.load(str(out / "model.onnx")))


def test_external_data_outside_folder_is_refused(tmp_path, small_export):
    from onnx import TensorProto

    model = onnx.load(str(small_export.path / "model.onnx"))
    init = model.graph.initializer[0]
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    folder = tmp_path / "evil"
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    with pytest.raises(OnnxModelError, match="outside the model's folder"):
        load_onnx(folder / "model.onnx")


def test_corrupt_onnx_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    with pytest.raises(OnnxModelError):
        load_onnx(bad)
