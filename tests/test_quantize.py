"""INT8 tickets: parity with the fake-quantized model, the INT8 zero audit, the accuracy
gate, QAT with the mask held fixed, and bad input."""

import importlib
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli

from edge_transfer.train import TrainSettings

SOURCE_TASK = "embedded:mnist-0to4"


@pytest.fixture(scope="module")
def trained_ticket(tmp_path_factory):
    """resnet18-cifar pretrained briefly at 16 px on the source task, 50% OMP per layer:
    a classifier whose accuracy on the source task's held-out split means something."""
    from edge_transfer.pretrain import PretrainOptions, pretrain
    from edge_transfer.prune import PruneOptions, draw_ticket

    root = tmp_path_factory.mktemp("int8")
    train = TrainSettings(data=SOURCE_TASK, epochs=2, image_size=16, limit=1000, lr=0.05, progress=False)
    pretrain(PretrainOptions(arch="resnet18-cifar", output=root / "src.pt", train=train, eval_pgd_steps=1))
    ticket = root / "t50"
    draw_ticket(PruneOptions(arch="resnet18-cifar", output=ticket, sparsity=0.5, scope="layer", checkpoint=root / "src.pt",
                             pretraining="natural", train=TrainSettings(image_size=16)))
    return ticket


@pytest.fixture(scope="module")
def quantized(trained_ticket, tmp_path_factory):
    from edge_transfer.quantize import QuantizeOptions, quantize

    out = tmp_path_factory.mktemp("q") / "t50-int8"
    return quantize(QuantizeOptions(source=trained_ticket, output=out, calibration=SOURCE_TASK, samples=128,
                                    progress=False))


def test_int8_parity_and_accuracy_on_a_trained_ticket(quantized):
    m = quantized.manifest
    engines = {p["engine"] for p in m.validation["parity"]}
    assert engines == {"onnxruntime", "deepsparse"}
    parity = m.validation["parity"]
    assert all(p["passed"] and p["metric"] == "rms_rel_diff" and 0 < p["rms_rel_diff"] <= p["tolerance"] for p in parity)
    assert max(p["max_rel_diff"] for p in parity) < 0.05  # on this 50% ticket no element strays far either
    acc = quantized.accuracy
    assert acc["evaluated"] and acc["images"] == 500
    assert acc["fp32_top1"] > 0.5, "the source model should have learned the task"
    assert abs(acc["change_points"]) <= 3.0
    assert acc["top1_agreement"] >= 0.95
    assert m.precision == "int8" and (quantized.path / "dense" / "manifest.json").is_file()


def test_int8_weights_keep_every_pruned_zero(quantized, trained_ticket):
    """Read the integer weights back from both forms: every masked position is the zero
    point (dequantizes to exactly 0), checked here independently of the audit's records."""
    from edge_transfer.onnx_io import load_onnx
    from edge_transfer.quantize.forms import quantized_weights
    from edge_transfer.ticket import load_ticket

    masks = load_ticket(trained_ticket).masks
    for form_file in ("model.onnx", "model.deepsparse.onnx", "backbone.onnx", "backbone.deepsparse.onnx"):
        weights = quantized_weights(load_onnx(quantized.path / form_file))
        assert set(masks) <= set(weights), form_file
        for name, mask in masks.items():
            array, zero = weights[name]
            assert np.all(array.astype(np.int32)[~mask.numpy()] == zero), (form_file, name)
            assert (array.astype(np.int32) != zero).sum() > 0
    audit = quantized.manifest.validation["audit"]
    assert len(audit) == 4 * len(masks) and all(a["lost"] == 0 for a in audit)


def test_audit_catches_a_revived_int8_weight(quantized, trained_ticket):
    from onnx import numpy_helper

    from edge_transfer.onnx_io import load_onnx
    from edge_transfer.quantize.forms import quantized_weights
    from edge_transfer.ticket import load_ticket
    from edge_transfer.validation import audit_zeros

    ticket = load_ticket(trained_ticket)
    model = load_onnx(quantized.path / "model.onnx")
    name, mask = next(iter(ticket.masks.items()))
    init = next(i for i in model.graph.initializer if i.name == name)
    array = numpy_helper.to_array(init).copy()
    array[~mask.numpy()] = 3  # every pruned weight of the first layer comes back
    init.CopyFrom(numpy_helper.from_array(array, name))
    records = {r.layer: r for r in audit_zeros("model.onnx", quantized_weights(model), ticket.model, list(ticket.masks))}
    assert not records[name].passed and records[name].lost == int((~mask).sum())
    assert all(r.passed for layer, r in records.items() if layer != name)


def test_accuracy_gate():
    from edge_transfer.errors import OptionError
    from edge_transfer.quantize import QuantizeOptions
    from edge_transfer.quantize.quantize import _check
    from edge_transfer.validation import ValidationReport

    clean = ValidationReport()
    opts = QuantizeOptions(source=Path("t"), output=Path("o"), max_drop=1.0)
    ok = {"data": "d", "fp32_top1": 0.90, "int8_top1": 0.895, "change_points": -0.5}
    _check(clean, ok, opts, untrained=False)
    bad = {"data": "d", "fp32_top1": 0.90, "int8_top1": 0.85, "change_points": -5.0}
    with pytest.raises(OptionError, match="loses 5.00 accuracy points"):
        _check(clean, bad, opts, untrained=False)
    _check(clean, bad, opts, untrained=True)  # untrained tickets are speed only: no gate


def test_gate_failure_writes_nothing(trained_ticket, tmp_path, monkeypatch):
    """The whole quantize run with an INT8 model that loses 5 points: refused, no folder."""
    from edge_transfer.errors import OptionError
    from edge_transfer.quantize import QuantizeOptions, quantize
    stage = importlib.import_module("edge_transfer.quantize.quantize")  # the module; the package re-exports the function

    def losing(ticket, qdq_model, images):
        return {"evaluated": True, "data": images.spec, "images": 500, "top1_agreement": 0.9,
                "fp32_top1": 0.9, "int8_top1": 0.85, "change_points": -5.0}

    monkeypatch.setattr(stage, "int8_accuracy", losing)
    out = tmp_path / "q"
    with pytest.raises(OptionError, match="--max-drop"):
        quantize(QuantizeOptions(source=trained_ticket, output=out, calibration=SOURCE_TASK, samples=16, with_dense=False,
                                 validate_engines=("onnxruntime",), progress=False))
    assert not out.exists() and not list(tmp_path.iterdir())


def test_qat_keeps_the_mask(trained_ticket, tmp_path):
    from edge_transfer.quantize import QuantizeOptions, quantize

    result = quantize(QuantizeOptions(source=trained_ticket, output=tmp_path / "qat", calibration=SOURCE_TASK, samples=64,
                                      qat_epochs=1, with_dense=False, validate_engines=("onnxruntime",), progress=False))
    qat = result.manifest.quantization["qat"]
    assert qat["epochs"] == 1 and np.isfinite(qat["history"][0]["loss"])
    assert result.manifest.validation["lost_zeros"] == 0
    assert result.accuracy["int8_top1"] > 0.5


def test_quantize_an_export_checks_its_hashes(small_export, tmp_path):
    import shutil

    copy = tmp_path / "export"
    shutil.copytree(small_export.path, copy)
    with open(copy / "model.onnx", "r+b") as f:
        f.seek(-10, 2)
        f.write(b"\x00" * 10)
    proc = run_cli("quantize", copy, "--output", tmp_path / "q", "--calibration", "random")
    assert_one_line_error(proc, "sha256")
    assert not (tmp_path / "q").exists()


def _unreadable_folder(root: Path) -> Path:
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        (root / cls / "x.png").write_bytes(b"not a png")
    return root


@pytest.mark.parametrize("args, fragment", [
    (["--samples", "0"], "--samples"),
    (["--max-drop", "nan"], "--max-drop"),
    (["--validate-engines", "torch"], "cannot run INT8"),
    (["--qat-epochs", "1", "--calibration", "random"], "labelled images"),
])
def test_bad_options(small_ticket, tmp_path, args, fragment):
    proc = run_cli("quantize", small_ticket, "--output", tmp_path / "q", *args)
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "q").exists()


def test_bad_sources_and_data(small_ticket, tmp_path):
    proc = run_cli("quantize", tmp_path / "missing", "--output", tmp_path / "q")
    assert_one_line_error(proc, "neither a ticket folder")
    data = _unreadable_folder(tmp_path / "data")
    proc = run_cli("quantize", small_ticket, "--output", tmp_path / "q", "--calibration", data)
    assert_one_line_error(proc, "no images", "add images per class")
    assert not (tmp_path / "q").exists()


def test_bench_refuses_int8_on_an_engine_that_cannot_run_it(quantized, tmp_path):
    proc = run_cli("bench", quantized.path, "--engine", "torch", "--batch-size", "1", "--time", "0.1", "--repeats", "1",
                   "--no-memory")
    assert_one_line_error(proc, "runs", "INT8", "deepsparse")
