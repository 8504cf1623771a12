"""ResNet-20 (He et al. 2016, section 4.2): the CIFAR ResNet of 3 stages of 3 basic blocks
at 16, 32 and 64 channels, 0.27M parameters, about 1/40 of resnet18-cifar's compute. It is
what makes a study of ten pretrainings per arm affordable on 2 cores. torchvision's
``BasicBlock``, a 1x1 projection where the shape changes (He et al.'s option B), and the
same module names as torchvision's ResNets (conv1, bn1, layerN, fc), so every stage that
handles a ResNet handles it."""

from __future__ import annotations

from torch import nn


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: int = 3, widths: tuple[int, ...] = (16, 32, 64), num_classes: int = 10):
        super().__init__()
        from torchvision.models.resnet import BasicBlock

        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        inplanes = widths[0]
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            layers = []
            for block in range(blocks_per_stage):
                downsample = None
                if block == 0 and (stride != 1 or inplanes != width):
                    downsample = nn.Sequential(nn.Conv2d(inplanes, width, 1, stride, bias=False), nn.BatchNorm2d(width))
                layers.append(BasicBlock(inplanes, width, stride if block == 0 else 1, downsample))
                inplanes = width
            setattr(self, f"layer{index + 1}", nn.Sequential(*layers))
        self.num_stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for index in range(self.num_stages):
            x = getattr(self, f"layer{index + 1}")(x)
        return self.fc(self.avgpool(x).flatten(1))
