"""Searching for Activation Functions (Swish).

Ramachandran, Zoph, Le - 2017. https://arxiv.org/abs/1710.05941

Idea: a reinforcement-learning search over compositions of unary and binary functions finds f(x) = x * sigmoid(beta x),
"Swish" (Sec. 3-4). beta is a trainable scalar (or per channel); beta = 0 gives x/2 and beta -> infinity gives ReLU,
so Swish interpolates between a linear function and ReLU. Replacing ReLU by Swish gains 0.5-2.2 % ImageNet top-1.

torch ships Swish only at beta = 1 (`nn.SiLU`, the paper's "Swish-1"); the paper's default Swish trains beta, which
is what `Swish` adds here. `replace_relu` swaps it into any torchvision model for the full-scale comparison.
"""
from __future__ import annotations

import torch
from torch import nn


def swish(x: torch.Tensor, beta: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Sec. 4: f(x) = x * sigmoid(beta x)."""
    return x * torch.sigmoid(beta * x)


def swish_derivative(x: torch.Tensor, beta: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Sec. 4: f'(x) = beta f(x) + sigmoid(beta x) (1 - beta f(x))."""
    f = swish(x, beta)
    return beta * f + torch.sigmoid(beta * x) * (1 - beta * f)


class Swish(nn.Module):
    """x * sigmoid(beta x) with one trainable beta per layer (Sec. 4: "beta is either a constant or a trainable
    parameter"; trainable=False with beta=1 is nn.SiLU)."""

    def __init__(self, beta: float = 1.0, *, trainable: bool = True):
        super().__init__()
        b = torch.tensor(float(beta))
        if trainable:
            self.beta = nn.Parameter(b)
        else:
            self.register_buffer("beta", b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swish(x, self.beta)


def activation(name: str) -> nn.Module:
    """"swish" (trainable beta, the paper's Swish), "swish1" (beta = 1, the paper's Swish-1) or "relu"."""
    if name == "swish":
        return Swish()
    if name == "swish1":
        return Swish(trainable=False)
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"unknown activation {name!r}")


def deep_mlp(*, depth: int = 24, width: int = 64, in_features: int = 64, num_classes: int = 10,
             activation_name: str = "swish") -> nn.Sequential:
    """`depth` hidden Linear-BN-activation layers: the "deeper models" comparison of the abstract, at MLP scale."""
    layers: list[nn.Module] = []
    prev = in_features
    for _ in range(depth):
        layers += [nn.Linear(prev, width, bias=False), nn.BatchNorm1d(width), activation(activation_name)]
        prev = width
    return nn.Sequential(*layers, nn.Linear(prev, num_classes))


def replace_relu(model: nn.Module) -> nn.Module:
    """Swap every nn.ReLU module of a (torchvision) model for a trainable-beta Swish, in place (Sec. 5: "we simply
    replace the ReLUs with Swish units"). A ReLU module that a block calls twice shares one beta."""
    for name, child in model.named_children():
        if isinstance(child, nn.ReLU):
            setattr(model, name, Swish())
        else:
            replace_relu(child)
    return model


# ------------------------------------------------------------------------------------------ Sec. 5.2's CIFAR models
# "the preactivation ResNet-164, Wide ResNet 28-10 (WRN), and DenseNet 100-12 models ... replace the ReLU function"
# (Sec. 3, 5.2). Each builder takes the activation's name and puts a fresh module wherever the original has a ReLU.
class _PreActBottleneck(nn.Module):
    """He et al. 2016b (identity mappings): BN-act-conv1x1, BN-act-conv3x3 (stride), BN-act-conv1x1 (4x channels)."""

    def __init__(self, cin: int, planes: int, stride: int, act: str):
        super().__init__()
        cout = 4 * planes
        self.bn1, self.act1 = nn.BatchNorm2d(cin), activation(act)
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn2, self.act2 = nn.BatchNorm2d(planes), activation(act)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3, self.act3 = nn.BatchNorm2d(planes), activation(act)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.shortcut = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        out = self.act1(self.bn1(x))
        short = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.act2(self.bn2(out)))
        out = self.conv3(self.act3(self.bn3(out)))
        return out + short


def preact_resnet(*, depth: int = 164, num_classes: int = 10, act: str = "relu") -> nn.Sequential:
    """Pre-activation bottleneck ResNet for CIFAR (depth = 9n + 2; 164 -> 18 blocks per stage, 1.7 M parameters)."""
    if (depth - 2) % 9:
        raise ValueError("a bottleneck CIFAR ResNet has depth 9n + 2")
    n = (depth - 2) // 9
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1, bias=False)]
    cin = 16
    for planes, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(n):
            layers.append(_PreActBottleneck(cin, planes, stride if i == 0 else 1, act))
            cin = 4 * planes
    layers += [nn.BatchNorm2d(cin), activation(act), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


class _WideBlock(nn.Module):
    """Zagoruyko & Komodakis 2016: pre-activation basic block BN-act-conv3x3, BN-act-(dropout)-conv3x3."""

    def __init__(self, cin: int, cout: int, stride: int, act: str, dropout: float):
        super().__init__()
        self.bn1, self.act1 = nn.BatchNorm2d(cin), activation(act)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.act2 = nn.BatchNorm2d(cout), activation(act)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        out = self.act1(self.bn1(x))
        short = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(self.drop(self.act2(self.bn2(self.conv1(out)))))
        return out + short


def wide_resnet(*, depth: int = 28, widen: int = 10, num_classes: int = 10, act: str = "relu",
                dropout: float = 0.0) -> nn.Sequential:
    """WRN-depth-widen for CIFAR (depth = 6n + 4; 28-10 -> 4 blocks per stage of 160/320/640 channels, 36.5 M)."""
    if (depth - 4) % 6:
        raise ValueError("a wide ResNet has depth 6n + 4")
    n = (depth - 4) // 6
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1, bias=False)]
    cin = 16
    for width, stride in ((16 * widen, 1), (32 * widen, 2), (64 * widen, 2)):
        for i in range(n):
            layers.append(_WideBlock(cin, width, stride if i == 0 else 1, act, dropout))
            cin = width
    layers += [nn.BatchNorm2d(cin), activation(act), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


class _DenseLayer(nn.Module):
    """Huang et al. 2017: BN-act-conv3x3 producing `growth` channels (BN-act-conv1x1 to 4 x growth first when
    `bottleneck`), concatenated to its input."""

    def __init__(self, cin: int, growth: int, act: str, bottleneck: bool):
        super().__init__()
        mods: list[nn.Module] = []
        c = cin
        if bottleneck:
            mods += [nn.BatchNorm2d(c), activation(act), nn.Conv2d(c, 4 * growth, 1, bias=False)]
            c = 4 * growth
        mods += [nn.BatchNorm2d(c), activation(act), nn.Conv2d(c, growth, 3, padding=1, bias=False)]
        self.body = nn.Sequential(*mods)

    def forward(self, x):
        return torch.cat([x, self.body(x)], 1)


def densenet(*, depth: int = 100, growth: int = 12, bottleneck: bool = False, compression: float = 1.0,
             num_classes: int = 10, act: str = "relu") -> nn.Sequential:
    """DenseNet for CIFAR with three dense blocks (depth 100, growth 12: 32 layers per block, 7.0 M parameters;
    bottleneck=True, compression=0.5 is DenseNet-BC-100-12, 0.8 M). The paper names "DenseNet 100-12" without
    saying BC; the plain DenseNet is the default here."""
    per_block = (depth - 4) // (6 if bottleneck else 3)
    c = 2 * growth if bottleneck else 16
    layers: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1, bias=False)]
    for b in range(3):
        for _ in range(per_block):
            layers.append(_DenseLayer(c, growth, act, bottleneck))
            c += growth
        if b < 2:  # transition: BN-act-conv1x1 (compressed) - 2x2 average pooling
            out = int(c * compression)
            layers += [nn.BatchNorm2d(c), activation(act), nn.Conv2d(c, out, 1, bias=False), nn.AvgPool2d(2)]
            c = out
    layers += [nn.BatchNorm2d(c), activation(act), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


CIFAR_MODELS = {"resnet164": preact_resnet, "wrn28_10": wide_resnet, "densenet100_12": densenet}
