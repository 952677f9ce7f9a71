"""Convolutional Neural Fabrics.

Saxena, Verbeek, NIPS 2016. https://papers.nips.cc/paper/2016/hash/07811dc6c422334ce36a09ff5cd6fe71-Abstract.html
(arXiv: https://arxiv.org/abs/1606.02492)

Idea: instead of choosing one CNN, train a trellis of L layers x S scales of response maps (scale s has half
the resolution of s - 1) in which every node sums 3x3 convolutions of its three neighbours in the previous
layer: a strided conv from the finer scale, a conv at the same scale, and an upsampled conv from the coarser
scale (Sec. 3). Every chain CNN with strided / same-scale / upsampling layers is a path through it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def count_paths(layers: int, scales: int) -> int:
    """Input-to-output paths of the trellis in which node (l, s) feeds (l + 1, s - 1 | s | s + 1), entering at
    (0, 0) and leaving at (L - 1, S - 1): the number of architectures that are paths (Abstract, Sec. 3)."""
    ways = [1] + [0] * (scales - 1)
    for _ in range(layers - 1):
        ways = [sum(ways[t] for t in (s - 1, s, s + 1) if 0 <= t < scales) for s in range(scales)]
    return ways[-1]


class Fabric(nn.Module):
    def __init__(self, *, in_channels: int, num_classes: int, layers: int, scales: int, channels: int,
                 doubling: bool):
        super().__init__()
        width = [channels * (2 ** s if doubling else 1) for s in range(scales)]
        self.layers, self.scales = layers, scales
        self.stem = nn.Conv2d(in_channels, width[0], 3, padding=1)
        # first layer: fine-to-coarse links inside the column (Fig. 1, "down in the first layer")
        self.first = nn.ModuleList([nn.Conv2d(width[s - 1], width[s], 3, stride=2, padding=1) for s in range(1, scales)])
        # layers 1..L-1: node (l, s) = ReLU(down(l-1, s-1) + same(l-1, s) + up(l-1, s+1)) (Sec. 3)
        self.down = nn.ModuleList([nn.ModuleList([nn.Conv2d(width[s - 1], width[s], 3, stride=2, padding=1)
                                                  for s in range(1, scales)]) for _ in range(layers - 1)])
        self.same = nn.ModuleList([nn.ModuleList([nn.Conv2d(width[s], width[s], 3, padding=1)
                                                  for s in range(scales)]) for _ in range(layers - 1)])
        self.up = nn.ModuleList([nn.ModuleList([nn.Conv2d(width[s + 1], width[s], 3, padding=1)
                                                for s in range(scales - 1)]) for _ in range(layers - 1)])
        # last layer, classification: links towards the output node at the coarsest scale
        self.last = nn.ModuleList([nn.Conv2d(width[s - 1], width[s], 3, stride=2, padding=1) for s in range(1, scales)])
        self.classifier = nn.Linear(width[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [F.relu(self.stem(x))]
        for conv in self.first:
            nodes.append(F.relu(conv(nodes[-1])))
        for l in range(self.layers - 1):
            new = []
            for s in range(self.scales):
                h = self.same[l][s](nodes[s])
                if s > 0:
                    h = h + self.down[l][s - 1](nodes[s - 1])
                if s < self.scales - 1:  # upsampling by nearest-neighbour then a 3x3 conv (Sec. 3)
                    h = h + self.up[l][s](F.interpolate(nodes[s + 1], size=nodes[s].shape[-2:], mode="nearest"))
                new.append(F.relu(h))
            nodes = new
        out = nodes[0]
        for s, conv in enumerate(self.last, start=1):
            out = F.relu(conv(out) + nodes[s])
        return self.classifier(out.mean(dim=(2, 3)))


def neural_fabric(*, in_channels: int = 3, num_classes: int = 10, layers: int = 16, scales: int = 6,
                  channels: int = 64, doubling: bool = True) -> Fabric:
    """A classification fabric: 32x32 input -> 6 scales 32..1 (Sec. 4 uses L = 16 layers on CIFAR10/MNIST);
    doubling=True doubles the channels at every coarser scale, False keeps `channels` everywhere."""
    return Fabric(in_channels=in_channels, num_classes=num_classes, layers=layers, scales=scales, channels=channels,
                  doubling=doubling)


def chain_cnn(*, in_channels: int = 3, num_classes: int = 10, scales: int = 6, channels: int = 64,
              convs_per_scale: int = 2) -> nn.Sequential:
    """The chain baseline, one path through the fabric: convs at each scale then a strided conv down (Sec. 3)."""
    layers: list[nn.Module] = []
    cin = in_channels
    for s in range(scales):
        w = channels * 2 ** s
        for i in range(convs_per_scale):
            stride = 2 if (i == 0 and s > 0) else 1
            layers += [nn.Conv2d(cin, w, 3, stride=stride, padding=1), nn.ReLU(inplace=True)]
            cin = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))
