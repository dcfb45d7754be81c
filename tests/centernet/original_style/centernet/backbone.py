"""Backbone in the original course's style; the encoder is ResNet-34 with torchvision's names (the
one documented difference: the original asked for a ResNet-18 with free layer names)."""
import torch
from torch import nn


class Block(nn.Module):
    """Basic residual block: two 3x3 convolutions; a 1x1 projection when the shape changes."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.downsample = None

    def forward(self, x):
        skip = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + skip)


class HeadlessResnet34(nn.Module):
    """[B, 3, H, W] -> [B, 512, H/32, W/32]."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (cout, count) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
            blocks = []
            for j in range(count):
                blocks.append(Block(cin, cout, 2 if j == 0 and i > 1 else 1))
                cin = cout
            setattr(self, f"layer{i}", nn.Sequential(*blocks))

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class UpscaleTwiceLayer(nn.Module):
    """Doubles height and width: transposed convolution (stride 2) + BatchNorm + ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size=3, padding=1, output_padding=0):
        super().__init__()
        # (H - 1) * 2 - 2 * padding + kernel_size + output_padding must be 2H
        output_padding = max(output_padding, 2 + 2 * padding - kernel_size)
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=2, padding=padding,
                                     output_padding=output_padding)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return torch.relu(self.norm(self.up(x)))


class ResnetBackbone(nn.Module):
    """[B, 3, H, W] -> [B, out_channels, H/4, W/4] (the original's given layout)."""

    def __init__(self, pretrained: bool = True, out_channels=64):
        super().__init__()
        # The original loaded ImageNet weights here when pretrained; nothing is downloaded in the tests.
        self.downscale = HeadlessResnet34()
        self.upscale = nn.Sequential(
            UpscaleTwiceLayer(512, 256),
            UpscaleTwiceLayer(256, 128),
            UpscaleTwiceLayer(128, out_channels),
        )

    def forward(self, x):
        return self.upscale(self.downscale(x))
