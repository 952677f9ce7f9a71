"""Bag of Tricks for Image Classification with Convolutional Neural Networks.

He, Zhang, Zhang, Zhang, Xie, Li - CVPR 2019. https://arxiv.org/abs/1812.01187

Idea: a stack of small, cheap refinements - linear-scaled lr with warm-up, zero-gamma init, no bias decay (Sec. 3),
ResNet-B/C/D tweaks of the stem and downsampling path (Sec. 4), cosine decay, label smoothing, mixup (Sec. 5) -
lift ResNet-50 from 75.3 % to 79.29 % ImageNet top-1 at almost the same cost (Table 1).

What torch/torchvision already provide and is used as is: torchvision's `resnet50` (which *is* ResNet-B: the
stride sits on the 3x3 conv), `zero_init_residual=True` (zero gamma), `CrossEntropyLoss(label_smoothing=)`,
`transforms.v2.MixUp`, `LinearLR` + `CosineAnnealingLR`. What the paper adds and this file writes: the A/C/D
variants, the paper's smoothing convention, the optimal logit gap of Sec. 5.2, the no-bias-decay groups.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.transforms import v2


def resnet50(*, variant: str = "D", num_classes: int = 1000, zero_gamma: bool = False) -> resnet.ResNet:
    """ResNet-50 in the paper's variant A (original), B (torchvision's), C (deep stem) or D (C + avg-pool shortcut).

    zero_gamma: gamma = 0 in the last BN of every residual block (Sec. 3.1), so each block starts as its shortcut.
    """
    if variant not in ("A", "B", "C", "D"):
        raise ValueError(f"variant must be A, B, C or D, got {variant!r}")
    model = resnet.resnet50(weights=None, num_classes=num_classes, zero_init_residual=zero_gamma)
    stages = (model.layer1, model.layer2, model.layer3, model.layer4)
    if variant == "A":  # Fig. 1: the original block strides its first 1x1 conv, throwing away 3/4 of the input
        for stage in stages:
            first = stage[0]
            first.conv1.stride, first.conv2.stride = first.conv2.stride, (1, 1)
    if variant in ("C", "D"):  # Fig. 2b: the 7x7 stem conv becomes three 3x3 convs (32, 32, 64), the first strided
        model.conv1 = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, padding=1, bias=False))  # followed by torchvision's own bn1 + relu
    if variant == "D":  # Fig. 2c: a 2x2 average pool does the shortcut's downsampling; its 1x1 conv gets stride 1
        for stage in stages[1:]:
            conv, bn = stage[0].downsample
            conv.stride = (1, 1)
            stage[0].downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, ceil_mode=True, count_include_pad=False),
                                                conv, bn)
    return model


def small_resnet(*, widths: tuple[int, ...] = (16, 32), in_channels: int = 1, num_classes: int = 10,
                 zero_gamma: bool = False) -> nn.Module:
    """A two-stage residual CNN of torchvision BasicBlocks for 8x8 digits (the cpu profile's stand-in for ResNet-50)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]),
                               nn.ReLU(inplace=True)]
    prev = widths[0]
    for i, w in enumerate(widths):
        stride = 1 if i == 0 else 2
        down = None if stride == 1 and prev == w else nn.Sequential(nn.Conv2d(prev, w, 1, stride, bias=False),
                                                                     nn.BatchNorm2d(w))
        block = resnet.BasicBlock(prev, w, stride, down)
        if zero_gamma:  # Sec. 3.1, on BasicBlock's last BN (torchvision's zero_init_residual does the same)
            nn.init.zeros_(block.bn2.weight)
        layers.append(block)
        prev = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(prev, num_classes))


def torch_label_smoothing(eps: float, num_classes: int) -> float:
    """torch's `label_smoothing` that gives the paper's target (Sec. 5.2, eq. 4): 1 - eps on y, eps/(K-1) elsewhere.

    torch spreads its s over all K classes (s/K each, the true one included), so s/K = eps/(K-1).
    """
    return eps * num_classes / (num_classes - 1)


def optimal_logit_gap(eps: float, num_classes: int) -> float:
    """Sec. 5.2: the loss-minimising logits under smoothing are z*_y = log((K-1)(1-eps)/eps) + alpha, z*_i = alpha."""
    return math.log((num_classes - 1) * (1 - eps) / eps)


def no_bias_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Sec. 3.1: weight decay only on conv and FC weights; biases and BN's gamma and beta are left unregularized."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def cosine_with_warmup(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int):
    """Sec. 3.1 linear warm-up over the first steps, then Sec. 5.1 eq. 1: eta_t = eta (1 + cos(t pi / T)) / 2."""
    warmup_steps = max(1, warmup_steps)  # step i of the warm-up (i = 1..m) uses eta * i / m
    warm = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0 / warmup_steps,
                                             total_iters=max(1, warmup_steps - 1))
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps))
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, cos], milestones=[warmup_steps])


def mixup(*, alpha: float = 0.2, num_classes: int = 1000) -> v2.MixUp:
    """Sec. 5.3 (eq. 6): x = lam x_i + (1 - lam) x_j, y likewise, lam ~ Beta(alpha, alpha); returns soft targets."""
    return v2.MixUp(alpha=alpha, num_classes=num_classes)
