"""Each accepted checkpoint layout, built here as a small fixture, and each refusal."""

import argparse
import collections

import pytest
import torch

from edge_transfer.backbones import create_backbone
from edge_transfer.checkpoint import load_pretrained
from edge_transfer.errors import CheckpointError, UnsafeCheckpointError

ARCH = "resnet18-cifar"


@pytest.fixture()
def reference():
    torch.manual_seed(123)
    return create_backbone(ARCH).state_dict()


def _assert_loaded(model, state):
    loaded = model.state_dict()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_torchvision_state_dict(tmp_path, reference):
    path = tmp_path / "tv.pth"
    torch.save(reference, path)
    model, info = load_pretrained(ARCH, path)
    _assert_loaded(model, reference)
    assert info.layout == "torchvision" and len(info.sha256) == 64


def test_nested_state_dict_with_module_prefix(tmp_path, reference):
    path = tmp_path / "ddp.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.items()}, "epoch": 3}, path)
    model, _ = load_pretrained(ARCH, path)
    _assert_loaded(model, reference)


def test_robust_models_transfer_layout(tmp_path, reference):
    state = {f"module.model.{k}": v for k, v in reference.items()}
    # The attacker holds its own copy of the model; the normalizer holds input statistics.
    state.update({f"module.attacker.model.{k}": torch.zeros_like(v) for k, v in reference.items()})
    state["module.normalizer.new_mean"] = torch.zeros(3, 1, 1)
    state["module.normalizer.new_std"] = torch.ones(3, 1, 1)
    path = tmp_path / "robust.pt"
    torch.save({"model": state, "epoch": 90}, path)
    model, info = load_pretrained(ARCH, path)
    _assert_loaded(model, reference)
    assert info.layout == "robust-models-transfer"


def test_sparse_transfer_layout_applies_masks(tmp_path, reference):
    state = dict(reference)
    w = state.pop("layer1.0.conv1.weight")
    mask = (torch.rand_like(w) > 0.7).float()
    state["layer1.0.conv1._layer.weight"] = w
    state["layer1.0.conv1._weight_mask"] = mask
    path = tmp_path / "ist.pth"
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    model, info = load_pretrained(ARCH, path)
    got = model.layer1[0].conv1.weight.detach()
    torch.testing.assert_close(got, w * mask, rtol=0, atol=0)
    assert int((got == 0).sum()) == int((mask == 0).sum())
    assert info.layout == "sparse-transfer"


def test_safetensors(tmp_path, reference):
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in reference.items()}, str(path))
    model, info = load_pretrained(ARCH, path)
    _assert_loaded(model, reference)
    assert info.layout == "safetensors"


def test_head_size_comes_from_checkpoint(tmp_path):
    state = create_backbone(ARCH, num_classes=5).state_dict()
    path = tmp_path / "five.pth"
    torch.save(state, path)
    model, info = load_pretrained(ARCH, path)
    assert info.num_classes == 5 and model.fc.out_features == 5


def test_unsafe_pickle_is_refused_without_flag(tmp_path, reference):
    path = tmp_path / "unsafe.pth"
    torch.save({"model": reference, "args": argparse.Namespace(lr=0.1), "cls": collections.Counter}, path)
    with pytest.raises(UnsafeCheckpointError, match="--trust-checkpoint"):
        load_pretrained(ARCH, path)
    model, _ = load_pretrained(ARCH, path, trust=True)
    _assert_loaded(model, reference)


def test_truncated_and_corrupt_files(tmp_path, reference):
    good = tmp_path / "good.pth"
    torch.save(reference, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x00garbage" * 100)
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\xff" * 64)
    for path in (truncated, corrupt, bad_st):
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            load_pretrained(ARCH, path)


def test_other_architecture_lists_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "mbv2.pth"
    torch.save(create_backbone("mobilenet_v2").state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        load_pretrained(ARCH, path)
    msg = str(err.value)
    assert "missing keys: " in msg and "unexpected keys: " in msg
    assert "conv1.weight" in msg and "classifier.1.weight" in msg and "more)" in msg


def test_shape_mismatch_is_reported(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(create_backbone("resnet18").state_dict(), path)  # 7x7 stem vs the CIFAR 3x3 stem
    with pytest.raises(CheckpointError, match="shape mismatches: conv1.weight"):
        load_pretrained(ARCH, path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_pretrained(ARCH, tmp_path / "nope.pth")
