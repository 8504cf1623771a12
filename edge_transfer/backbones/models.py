"""Backbone constructors. ResNets and MobileNetV2 are torchvision's own definitions,
so torchvision-format checkpoints load as they are; MobileNetV1 and the CIFAR ResNet-20 are
written here (from torchvision's blocks for the latter)."""

from __future__ import annotations

from ._registry import CIFAR_MEAN, CIFAR_STD, BackboneCfg, register_backbone


def _tv(name: str, num_classes: int):
    import torchvision.models as tvm

    return getattr(tvm, name)(weights=None, num_classes=num_classes)


def _cifar_stem(model):
    """3x3 stride-1 stem and no max-pool, for 32x32 inputs (He et al. CIFAR ResNets)."""
    import torch.nn as nn

    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


def _register_resnet(depth: int) -> None:
    name = f"resnet{depth}"
    register_backbone(BackboneCfg(name=name, tags=("imagenet",)))(
        lambda num_classes, _n=name: _tv(_n, num_classes)
    )
    register_backbone(
        BackboneCfg(
            name=f"{name}-cifar",
            input_size=(3, 32, 32),
            mean=CIFAR_MEAN,
            std=CIFAR_STD,
            num_classes=10,
            tags=("cifar",),
        )
    )(lambda num_classes, _n=name: _cifar_stem(_tv(_n, num_classes)))


for _depth in (18, 34, 50):
    _register_resnet(_depth)


@register_backbone(
    BackboneCfg(name="resnet20-cifar", input_size=(3, 32, 32), mean=CIFAR_MEAN, std=CIFAR_STD, num_classes=10,
                tags=("cifar",))
)
def resnet20_cifar(num_classes: int):
    from .resnet_cifar import CifarResNet

    return CifarResNet(num_classes=num_classes)


@register_backbone(
    BackboneCfg(
        name="mobilenet_v2",
        head="classifier.1",
        head_container="classifier",
        first_conv="features.0.0",
        tags=("imagenet",),
    )
)
def mobilenet_v2(num_classes: int):
    return _tv("mobilenet_v2", num_classes)


@register_backbone(
    BackboneCfg(
        name="mobilenet_v1",
        head="fc",
        head_container="fc",
        first_conv="features.0.0",
        tags=("imagenet",),
    )
)
def mobilenet_v1(num_classes: int):
    from .mobilenet_v1 import MobileNetV1

    return MobileNetV1(num_classes=num_classes)
