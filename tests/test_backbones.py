import pytest
import torch

from edge_transfer.backbones import (
    create_backbone,
    get_backbone_cfg,
    list_backbones,
    prunable_parameters,
    split_backbone,
)
from edge_transfer.errors import UnknownNameError

REQUIRED = {"resnet18", "resnet34", "resnet50", "mobilenet_v2", "mobilenet_v1", "resnet18-cifar", "resnet34-cifar", "resnet50-cifar",
            "resnet20-cifar"}


def test_registry_lists_required_architectures():
    assert REQUIRED <= set(list_backbones())
    assert list_backbones("*-cifar") == ["resnet18-cifar", "resnet20-cifar", "resnet34-cifar", "resnet50-cifar"]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        create_backbone("resnet51")
    assert "resnet51" in str(err.value) and "resnet50" in str(err.value) and "mobilenet_v1" in str(err.value)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_split_into_backbone_and_head(name):
    cfg = get_backbone_cfg(name)
    model = create_backbone(name)
    backbone, head = split_backbone(model, cfg)
    x = torch.randn(2, *cfg.input_size)
    with torch.no_grad():
        features = backbone(x)
        logits = model(x)
    assert features.shape == (2, head.in_features)
    assert logits.shape == (2, cfg.num_classes)
    # The head applied to the backbone's features is the full model.
    torch.testing.assert_close(head(features), logits, rtol=1e-4, atol=1e-5)
    # The head is dense and so is the stem; everything else conv/linear is prunable.
    prunable = prunable_parameters(model, cfg)
    assert f"{cfg.head}.weight" not in prunable
    assert f"{cfg.first_conv}.weight" not in prunable
    assert f"{cfg.first_conv}.weight" in prunable_parameters(model, cfg, prune_first_conv=True)


def test_cifar_variant_has_small_stem():
    model = create_backbone("resnet18-cifar")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)


def test_torchvision_definitions_accept_torchvision_state_dicts():
    import torchvision

    state = torchvision.models.resnet18(weights=None).state_dict()
    create_backbone("resnet18").load_state_dict(state)  # strict: raises on any mismatch


def test_mobilenet_v1_shape():
    model = create_backbone("mobilenet_v1")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 27  # stem + 13 x (depthwise, pointwise)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.23e6, rel=0.01)
