"""The CLI as a user runs it: subprocess, exit codes, one-line errors, nothing written on error."""

import json
import subprocess
import sys
import time

import pytest
import torch

from conftest import assert_one_line_error, run_cli


def test_help_is_instant_and_lists_commands():
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edge_transfer.cli.main", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("prune", "info", "export", "demo"):
        assert command in proc.stdout
    # --help must not import torch/onnx/deepsparse (checked directly, not by timing).
    code = "import sys; from edge_transfer.cli.main import build_parser; build_parser(); print(sorted(m for m in ('torch','onnx','deepsparse','onnxruntime') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"
    assert time.perf_counter() - start < 60  # generous: a hang, not a speed goal


def test_prune_info_export(tmp_path):
    ticket, export = tmp_path / "t90", tmp_path / "e90"
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--method", "omp", "--sparsity", "0.9", "--output", ticket)
    assert proc.returncode == 0, proc.stderr
    assert "achieved sparsity 90.0000%" in proc.stdout and "untrained weights: speed only" in proc.stdout
    proc = run_cli("info", ticket, "--json", tmp_path / "info.json")
    assert proc.returncode == 0, proc.stderr
    assert "layer4.1.conv2" in proc.stdout and "fc (dense)" in proc.stdout and "ideal (FLOP-proportional) speedup" in proc.stdout
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["totals"]["ideal_speedup"] > 1
    proc = run_cli("export", ticket, "--output", export, "--with-dense")
    assert proc.returncode == 0, proc.stderr
    assert "FAIL" not in proc.stdout
    assert "sparsity audit model.onnx: 19 pruned layers" in proc.stdout and "lost 0, gained 0" in proc.stdout
    assert proc.stdout.count("deepsparse") >= 4  # both graphs of ticket and dense checked on DeepSparse
    for rel in ("model.onnx", "backbone.onnx", "manifest.json", "dense/model.onnx", "dense/backbone.onnx", "dense/manifest.json"):
        assert (export / rel).is_file(), rel


def _checkpoint_files(tmp_path):
    import argparse

    from edge_transfer.backbones import create_backbone

    good = tmp_path / "good.pth"
    torch.save(create_backbone("resnet18-cifar").state_dict(), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:1000])
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint" * 64)
    other = tmp_path / "other.pth"
    torch.save(create_backbone("mobilenet_v2").state_dict(), other)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"model": create_backbone("resnet18-cifar").state_dict(), "args": argparse.Namespace(lr=1)}, unsafe)
    return {"truncated": truncated, "corrupt": corrupt, "other": other, "unsafe": unsafe}


BAD_PRUNE = [
    (["--arch", "resnet51"], ["unknown architecture", "resnet50", "mobilenet_v1"]),
    (["--arch", "resnet18-cifar", "--sparsity", "1.0"], ["--sparsity", "[0, 1)"]),
    (["--arch", "resnet18-cifar", "--sparsity", "-0.2"], ["--sparsity", "[0, 1)"]),
    (["--arch", "resnet18-cifar", "--checkpoint", "{truncated}"], ["truncated or corrupt"]),
    (["--arch", "resnet18-cifar", "--checkpoint", "{corrupt}"], ["truncated or corrupt"]),
    (["--arch", "resnet18-cifar", "--checkpoint", "{other}"], ["does not fit --arch resnet18-cifar", "missing keys"]),
    (["--arch", "resnet18-cifar", "--checkpoint", "{unsafe}"], ["--trust-checkpoint"]),
    (["--arch", "resnet18-cifar", "--checkpoint", "{missing}"], ["not found"]),
]


@pytest.mark.parametrize("args, fragments", BAD_PRUNE, ids=[" ".join(a) for a, _ in BAD_PRUNE])
def test_prune_bad_input(tmp_path, args, fragments):
    files = {**_checkpoint_files(tmp_path), "missing": tmp_path / "nope.pth"}
    out = tmp_path / "ticket"
    args = [a.format(**files) for a in args]
    proc = run_cli("prune", *args, "--output", out)
    assert_one_line_error(proc, *fragments)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ticket")]


def test_unsafe_checkpoint_loads_with_flag(tmp_path):
    files = _checkpoint_files(tmp_path)
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--checkpoint", files["unsafe"], "--trust-checkpoint", "--output", tmp_path / "t")
    assert proc.returncode == 0, proc.stderr


def test_missing_ticket_folder(tmp_path):
    assert_one_line_error(run_cli("info", tmp_path / "nothing"), "not found", "edge-transfer prune")
    proc = run_cli("export", tmp_path / "nothing", "--output", tmp_path / "e")
    assert_one_line_error(proc, "not found")
    assert not (tmp_path / "e").exists()


def test_folder_that_is_not_a_ticket(tmp_path):
    (tmp_path / "x").mkdir()
    assert_one_line_error(run_cli("info", tmp_path / "x"), "not a ticket folder")


def test_existing_output_folder(tmp_path, small_ticket):
    out = tmp_path / "e"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert_one_line_error(run_cli("export", small_ticket, "--output", out), "already exists", "--force")
    assert (out / "keep.txt").read_text() == "mine"
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--output", out)
    assert_one_line_error(proc, "already exists")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("args, fragment", [(["--batch-size", "0"], "--batch-size"), (["--opset", "7"], "--opset"),
                                            (["--validate-engines", "tensorrt"], "unknown engine")])
def test_export_bad_options(tmp_path, small_ticket, args, fragment):
    out = tmp_path / "e"
    assert_one_line_error(run_cli("export", small_ticket, "--output", out, *args), fragment)
    assert not out.exists()


@pytest.mark.slow
def test_demo_small(tmp_path):
    """The demo end to end at toy size: a trained source, its tickets, the measured table
    against the dense peers at the top of the report, online learning on the trained ticket, its
    deployed artifact."""
    out = tmp_path / "demo"
    proc = run_cli("demo", "--output", out, "--archs", "resnet18-cifar", "--sparsities", "0,0.9", "--pretrain-epochs", "1",
                   "--adapt-epochs", "1", "--bench-arch", "resnet18-cifar", "--bench-time", "0.05")
    assert proc.returncode == 0, proc.stderr
    assert "layer4.1.conv2" in proc.stdout  # per-layer table of the 90% ticket
    report = (out / "report.md").read_text()
    results = json.loads((out / "results.json").read_text())
    assert [(r["ticket"], round(r["achieved_sparsity"], 2)) for r in results["tickets"]] == [
        ("resnet18-cifar-omp00", 0.0), ("resnet18-cifar-omp90", 0.9), ("resnet18-cifar-omp90-block4", 0.9)]
    assert all(r["lost_zeros"] == 0 and not r["untrained"] for r in results["tickets"])
    assert results["sources"]["resnet18-cifar"]["val_clean"]["top1"] > 0.3  # 5 classes: chance is 0.2
    # The report leads with the measured table: FP32 and INT8 tickets at both batches, each over the fastest dense peer.
    assert report.index("## Measured") < report.index("## Tickets")
    headline = results["headline"]
    assert {(r["precision"], r["batch_size"]) for r in headline} == {(p, b) for p in ("fp32", "int8") for b in (1, 64)}
    assert all(r["engine"] == "deepsparse" and r["speedup_vs_best_dense"] > 0 for r in headline)
    # ... with the ticket pruned to a speed target from this machine's profile, at both batches
    target = results["speed_target"]  # 2x, or 95% of the profile's ceiling on a device that cannot reach 2x
    assert 1 < target["target_speedup"] <= 2 and target["predicted_speedup"] >= target["target_speedup"]
    assert 0 < target["achieved_sparsity"] < 1
    assert {r["batch_size"] for r in headline if "-target" in r["model"]} == {1, 64}
    assert "pruned to a speed target" in report and (out / "profile.png").stat().st_size > 0
    bench = json.loads((out / "bench.json").read_text())["results"]
    dense = {(r["engine"], r["precision"]) for r in bench if r["variant"] == "dense"}
    assert dense == {(e, p) for e in ("deepsparse", "onnxruntime", "openvino") for p in ("fp32", "int8")}
    assert (out / "speedup.png").stat().st_size > 0
    assert results["adapt"]["epochs_run"] == 1 and results["adapt"]["epoch_speedup"] > 0
    assert "## Online learning" in report and "epoch speedup" in report and "pretrained on digits 0-4" in report
    # ... then deployed as one artifact, validated against the run, timed against the dense artifact, and used.
    deployed = results["deploy"]
    assert deployed["validation"]["passed"] and deployed["validation"]["val"]["agreement"] >= 0.995
    assert deployed["validation"]["timing"]["sparse"]["fraction_of_supported_ops"] == 1.0
    assert len(deployed["predictions"]) == 8 and "## Deployed" in report and "deployed artifact" in proc.stdout
    assert (out / "deploy" / "resnet18-cifar-omp90" / "deploy.json").is_file()
