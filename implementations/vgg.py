"""Very Deep Convolutional Networks for Large-Scale Image Recognition (VGG).

Simonyan, Zisserman, ICLR 2015. https://arxiv.org/abs/1409.1556

Idea: push depth to 16-19 weight layers using only very small (3x3) filters: a stack of three 3x3 layers
sees a 7x7 window with more non-linearities and 27C^2 instead of 49C^2 weights (Sec. 2.3). Configurations
A-E (Table 1) add layers to the same five-stage plan; LRN (A-LRN) does not help (Sec. 4.1).

torchvision's vgg11/13/16/19 are configurations A, B, D, E; it has no A-LRN and no C (whose extra layers are
1x1 convolutions). This file builds all of Table 1 and the "shallow" B of Sec. 4.1 (each pair of 3x3 layers
replaced by one 5x5 layer), with knobs for narrow, few-stage versions.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

# Table 1. An int is a 3x3 conv with that many channels, (c, k) a k x k conv, "M" a 2x2/2 max-pool, "LRN" Sec. 2.2
CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
    # Sec. 4.1: "a shallow net ... derived from B by replacing each pair of 3x3 conv. layers with a single 5x5"
    "B-shallow": [(64, 5), "M", (128, 5), "M", (256, 5), "M", (512, 5), "M", (512, 5), "M"],
}


def features(config: list, *, in_channels: int = 3, width: float = 1.0, stages: int = 5,
             batch_norm: bool = False, lrn_alpha: float = 1e-4) -> nn.Sequential:
    """The convolutional part: the first `stages` max-pool stages of `config`, channels scaled by `width`.

    lrn_alpha: the paper's alpha of A-LRN's normalisation (Krizhevsky et al.: 1e-4); a knob for broken variants."""
    layers: list[nn.Module] = []
    c_in, pools = in_channels, 0
    for item in config:
        if pools == stages:
            break
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
            pools += 1
        elif item == "LRN":  # Sec. 2.2: "the normalisation of Krizhevsky et al."; k=2, n=5, alpha=1e-4 (torch: n*alpha)
            layers.append(nn.LocalResponseNorm(size=5, alpha=5 * lrn_alpha, beta=0.75, k=2.0))
        else:
            c, k = item if isinstance(item, tuple) else (item, 3)
            c = max(1, round(c * width))
            layers.append(nn.Conv2d(c_in, c, k, padding=k // 2))  # stride 1, "same" padding (Sec. 2.1)
            layers += [nn.BatchNorm2d(c)] if batch_norm else []
            layers.append(nn.ReLU(inplace=True))
            c_in = c
    return nn.Sequential(*layers)


def vgg(*, config: str = "D", num_classes: int = 1000, in_channels: int = 3, width: float = 1.0, stages: int = 5,
        fc_width: int = 4096, pool_size: int = 7, dropout: float = 0.5, batch_norm: bool = False,
        lrn_alpha: float = 1e-4) -> nn.Module:
    """A configuration of Table 1; the paper's defaults give the 224x224 ImageNet network.

    Sec. 2.1: the stack is followed by FC-4096, FC-4096 (dropout 0.5 on both, Sec. 3.1) and FC-num_classes.
    pool_size: adaptive average pool to pool_size^2 before the FC layers (7 at 224 input, a no-op there).
    """
    convs = features(CONFIGS[config], in_channels=in_channels, width=width, stages=stages, batch_norm=batch_norm,
                     lrn_alpha=lrn_alpha)
    c_out = [m for m in convs if isinstance(m, nn.Conv2d)][-1].out_channels
    model = nn.Sequential(
        convs, nn.AdaptiveAvgPool2d(pool_size), nn.Flatten(),
        nn.Linear(c_out * pool_size ** 2, fc_width), nn.ReLU(inplace=True), nn.Dropout(dropout),
        nn.Linear(fc_width, fc_width), nn.ReLU(inplace=True), nn.Dropout(dropout),
        nn.Linear(fc_width, num_classes),
    )
    for m in model.modules():  # Sec. 3.1: "initialise the weights ... using the random initialisation procedure of
        if isinstance(m, (nn.Conv2d, nn.Linear)):  # Glorot & Bengio (2010)", biases zero
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def fully_convolutional(model: nn.Sequential) -> nn.Sequential:
    """Sec. 3.2, dense evaluation: "the fully-connected layers are first converted to convolutional layers (the first FC
    layer to a 7x7 conv. layer, the last two FC layers to 1x1 conv. layers)", applied to the whole (uncropped) image;
    the class score map is "spatially averaged (sum-pooled)" into one vector of class scores.

    `model` is a vgg() network (pool_size 7); the result shares no tensors with it and, on a 224x224 input, gives the
    same scores in eval mode."""
    convs, _, _, fc6, relu6, drop6, fc7, relu7, drop7, fc8 = model
    c = fc6.in_features // 49
    layers = []
    for fc, k, c_in in ((fc6, 7, c), (fc7, 1, fc7.in_features), (fc8, 1, fc8.in_features)):
        conv = nn.Conv2d(c_in, fc.out_features, k)
        with torch.no_grad():
            conv.weight.copy_(fc.weight.reshape(fc.out_features, c_in, k, k))
            conv.bias.copy_(fc.bias)
        layers.append(conv)
    return nn.Sequential(copy.deepcopy(convs), layers[0], nn.ReLU(inplace=True), nn.Dropout(drop6.p), layers[1],
                         nn.ReLU(inplace=True), nn.Dropout(drop7.p), layers[2], nn.AdaptiveAvgPool2d(1), nn.Flatten())


def conv_stack(channels: int, *, kernel: int = 3, depth: int = 3, bias: bool = False) -> nn.Sequential:
    """Sec. 2.3: `depth` kxk convolutions of C channels in a row (ReLU between); three 3x3 vs one 7x7."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=bias)]
        layers += [nn.ReLU()] if i < depth - 1 else []
    return nn.Sequential(*layers)
