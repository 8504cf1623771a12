"""deploy / predict / learn: the merged artifact is validated (parity, zero audit, the run's
own val predictions), classifies real image files, and keeps learning on the device."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from conftest import TARGET, assert_one_line_error, run_cli


def _val_images(n=None):
    from edge_transfer.data import load_task

    task = load_task(TARGET)
    idx = range(len(task.val) if n is None else n)
    return [task.val.image(i)[0].numpy() for i in idx], np.array([task.val.label(i) for i in idx])


def test_merged_graph_matches_the_learner_and_keeps_every_zero(artifact, run90):
    """Checked independently of deploy's own validation: the ticket's masked weights are zero
    in model.onnx by name, and ONNX Runtime's probabilities equal the adapt learner's math
    (PyTorch backbone features, standardised, then the saved head, then softmax)."""
    from edge_transfer.backbones import get_backbone_cfg, split_backbone
    from edge_transfer.engines import get_engine
    from edge_transfer.onnx_io import initializer_arrays, load_onnx
    from edge_transfer.ticket import load_ticket

    v = artifact.manifest.validation
    assert v["passed"] and v["parity_passed"] and v["audit_passed"] and v["lost_zeros"] == 0
    assert v["timing"]["sparse"]["fraction_of_supported_ops"] == 1.0  # merging kept DeepSparse's kernels
    ticket = load_ticket(run90 / "ticket")
    arrays = initializer_arrays(load_onnx(artifact.path / "model.onnx"))
    for name, mask in ticket.masks.items():
        assert (arrays[name][~mask.numpy().astype(bool)] == 0).all(), name
    state = torch.load(run90 / "checkpoint.pt", weights_only=True)
    backbone, _ = split_backbone(ticket.model, get_backbone_cfg(ticket.arch))
    x = torch.randn(3, *ticket.meta.input_size, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        features = backbone(x).numpy().astype(np.float64)
    stats = state["feature_stats"]
    std = np.sqrt(stats["m2"].numpy() / int(stats["count"]))
    z = (features - stats["mean"].numpy()) / np.where(std < 1e-6, 1.0, std)
    logits = z @ state["head"]["weight"].numpy().T.astype(np.float64) + state["head"]["bias"].numpy()
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    probabilities, got_features = get_engine("onnxruntime").compile(artifact.path / "model.onnx", 3).run([x.numpy()])
    assert np.abs(probabilities - expected).max() < 1e-4
    assert np.allclose(got_features, features, rtol=1e-3, atol=1e-5)


def test_artifact_accuracy_equals_the_runs_through_the_public_api(artifact, run90):
    from edge_transfer.deploy import load

    run = json.loads((run90 / "adapt.json").read_text())
    images, labels = _val_images()
    model = load(artifact.path, engine="onnxruntime", batch_size=64)
    result = model.predict(images)
    agreement = (result.indices == np.array(run["val_predictions"])).mean()
    top1 = (result.indices == labels).mean()
    assert agreement >= 0.995 and abs(top1 - run["summary"]["val_top1"]) < 1e-9, (agreement, top1)
    val = artifact.manifest.validation["val"]
    assert val["top1_equal"] and val["agreement"] >= 0.995 and val["images"] == len(labels)
    assert json.loads((artifact.path / "labels.json").read_text()) == ["5", "6", "7", "8", "9"]
    assert result.labels[0] in model.labels and np.allclose(result.probabilities.sum(1), 1, atol=1e-5)


def test_predict_cli_skips_a_corrupt_file_and_reads_rgba(artifact, tmp_path):
    from PIL import Image

    images, labels = _val_images(2)
    folder = tmp_path / "imgs"
    (folder / "more").mkdir(parents=True)
    Image.fromarray(images[0]).save(folder / "gray.png")
    rgba = np.stack([images[1]] * 3 + [np.full_like(images[1], 255)], -1)
    Image.fromarray(rgba, "RGBA").save(folder / "more" / "rgba.png")
    Image.fromarray(images[1]).convert("P").save(folder / "palette.png")
    (folder / "more" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    proc = run_cli("predict", artifact.path, folder, "--engine", "onnxruntime", "--top-k", "2", "--json", tmp_path / "p.json")
    assert proc.returncode == 0, proc.stderr
    assert "3 images (1 unreadable, skipped)" in proc.stdout and "p99" in proc.stdout
    rows = {r["file"].rsplit("/", 1)[-1]: r for r in json.loads((tmp_path / "p.json").read_text())["predictions"]}
    assert set(rows) == {"gray.png", "rgba.png", "palette.png"} and len(rows["rgba.png"]["top_k"]) == 2
    assert rows["rgba.png"]["label"] == rows["palette.png"]["label"]  # the same pixels, converted
    only_broken = run_cli("predict", artifact.path, folder / "more" / "broken.jpg", "--engine", "onnxruntime")
    assert_one_line_error(only_broken, "none of the 1 files")


def test_python_api_learns_saves_and_reloads(artifact, tmp_path):
    from edge_transfer.deploy import load
    from edge_transfer.onnx_io import initializer_arrays, load_onnx

    model = load(artifact.path, engine="onnxruntime", batch_size=32)
    images, labels = _val_images(96)
    x = model.preprocess(images)
    learner = model.learner(model.labels + ["new"], lr=0.05)
    np.testing.assert_array_equal(learner.predict(x[:8]), model.predict(x[:8]).indices)  # seeded with the head
    for _ in range(3):
        learner.partial_fit(x, np.where(np.arange(96) % 7 == 0, 5, labels))
    saved = model.save(tmp_path / "learned", learner)
    again = load(tmp_path / "learned", engine="onnxruntime", batch_size=32)
    assert again.labels == ["5", "6", "7", "8", "9", "new"] and saved.kind == "learned"
    np.testing.assert_array_equal(again.predict(x).indices, learner.predict(x))
    before, after = (initializer_arrays(load_onnx(p / "model.onnx")) for p in (artifact.path, tmp_path / "learned"))
    head = set(saved.head.values())
    assert all(np.array_equal(before[k], after[k]) for k in before if k not in head)
    assert [h["step"] for h in saved.history] == ["deploy", "learn"]


def test_learn_cli_continues_with_new_classes(artifact, tmp_path):
    proc = run_cli("learn", artifact.path, "--data", "embedded:mnist-0to4", "--train-limit", "200", "--epochs", "2",
                   "--engine", "onnxruntime", "--output", tmp_path / "more")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "more" / "labels.json").read_text()) == [str(d) for d in (5, 6, 7, 8, 9, 0, 1, 2, 3, 4)]
    last = json.loads((tmp_path / "more" / "deploy.json").read_text())["history"][-1]
    assert last["val_images"] > 0 and 0.0 <= last["val_top1"] <= 1.0


def test_deploy_bad_inputs_that_need_a_real_run(run90, artifact, tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(artifact.path, tampered)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-5] ^= 1
    (tampered / "model.onnx").write_bytes(bytes(data))
    assert_one_line_error(run_cli("predict", tampered, tampered), "does not match the sha256")
    assert_one_line_error(run_cli("predict", artifact.path, artifact.path, "--top-k", "6"), "more than the artifact's 5")
    wrong = tmp_path / "wrong"
    shutil.copytree(run90, wrong)
    state = torch.load(wrong / "checkpoint.pt", weights_only=True)
    state["head"]["weight"] = torch.zeros(5, 100)
    torch.save(state, wrong / "checkpoint.pt")
    assert_one_line_error(run_cli("deploy", wrong, "--output", tmp_path / "out", "--engine", "onnxruntime"),
                          "takes 100 features but its bias or feature statistics")
    state["feature_stats"].update(mean=torch.zeros(100, dtype=torch.float64), m2=torch.zeros(100, dtype=torch.float64))
    torch.save(state, wrong / "checkpoint.pt")
    assert_one_line_error(run_cli("deploy", wrong, "--output", tmp_path / "out", "--engine", "onnxruntime"),
                          "takes 100 features but the backbone", "gives 512")
    assert not (tmp_path / "out").exists()


def test_deploy_a_finetuned_ticket(small_ticket, tmp_path):
    """A fine-tuned ticket carries its own head: the artifact must agree with the PyTorch model,
    here on a --val set of its own."""
    from edge_transfer.deploy import DeployOptions, deploy
    from edge_transfer.finetune import FinetuneOptions, default_train_settings, finetune

    # 16 px: the artifact's checks on the 2,500 images cost a quarter of 32 px's
    train = dataclasses.replace(default_train_settings(), epochs=1, limit=200, progress=False, image_size=16)
    finetune(FinetuneOptions(ticket=small_ticket, train=train, output=tmp_path / "ft"))
    result = deploy(DeployOptions(source=tmp_path / "ft", output=tmp_path / "art", engine="onnxruntime", time=0.2,
                                  val=TARGET))  # --val: every image of the set, not its 20% split
    v = result.manifest.validation
    assert result.manifest.kind == "finetuned-ticket" and v["passed"] and v["lost_zeros"] == 0
    assert v["val"]["images"] == 2500 and v["val"]["reference_top1"] is None
    assert v["val"]["agreement"] >= 0.995, v["val"]  # against the PyTorch classifier on the same images


def test_deploy_int8_appends_an_fp32_head_to_the_engines_int8_backbone(run90, tmp_path):
    """--int8: DeepSparse's INT8 form of the backbone (quantize's calibration, zero audit and
    accuracy gate) with the head kept FP32, so the artifact can still learn."""
    from edge_transfer.deploy import DeployOptions, deploy, load
    from edge_transfer.onnx_io import load_onnx

    result = deploy(DeployOptions(source=run90, output=tmp_path / "int8", engine="deepsparse", cores=2, time=0.2,
                                  int8=True, calibration_samples=128, max_drop=3.0))
    m = result.manifest
    v = m.validation
    assert m.precision == "int8" and m.quantization["form"] == "deepsparse" and v["val"]["passed"]
    assert v["val"]["top1"] >= v["val"]["reference_top1"] - 0.03 and v["val"]["agreement"] > 0.9
    assert v["audit_passed"] and v["lost_zeros"] == 0 and v["parity_passed"]
    assert v["timing"]["sparse"]["fraction_of_supported_ops"] == 1.0
    ops = {n.op_type for n in load_onnx(result.path / "model.onnx").graph.node}
    assert ops & {"ConvInteger", "QLinearConv"} and {"Gemm", "Softmax"} <= ops
    model = load(result.path, engine="onnxruntime", batch_size=16)
    images, labels = _val_images(32)
    x = model.preprocess(images)
    learner = model.learner()
    learner.partial_fit(x, labels)
    again = load(model.save(tmp_path / "learned", learner) and tmp_path / "learned", engine="onnxruntime", batch_size=16)
    np.testing.assert_array_equal(again.predict(x).indices, learner.predict(x))


def test_fold_preprocessing_takes_uint8_images_and_still_learns(run90, artifact, tmp_path):
    from edge_transfer.deploy import DeployOptions, deploy, load
    from edge_transfer.onnx_io import load_onnx

    result = deploy(DeployOptions(source=run90, output=tmp_path / "folded", engine="onnxruntime", time=0.2,
                                  fold_preprocessing=True))
    v = result.manifest.validation
    assert v["passed"] and any("folded" in p["graph"] and p["passed"] for p in v["parity"])
    graph_input = load_onnx(result.path / "model.onnx").graph.input[0]
    assert graph_input.type.tensor_type.elem_type == 2  # uint8
    folded, plain = (load(p, engine="onnxruntime", batch_size=16) for p in (result.path, artifact.path))
    images, labels = _val_images(48)
    x = folded.preprocess(images)
    assert x.dtype == np.uint8 and x.shape == (48, *plain.manifest.input_size[1:], 3)
    assert (folded.predict(images).indices == plain.predict(images).indices).mean() >= 0.95  # uint8 rounding after resize
    with pytest.raises(Exception, match="uint8"):
        folded.predict(plain.preprocess(images))
    learner = folded.learner()
    learner.partial_fit(x, labels)
    again = load(folded.save(tmp_path / "learned", learner) and tmp_path / "learned", engine="onnxruntime", batch_size=16)
    np.testing.assert_array_equal(again.predict(images).indices, learner.predict(x))
