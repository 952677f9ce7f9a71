"""Going Deeper with Convolutions (GoogLeNet / Inception v1).

Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke, Rabinovich, CVPR 2015.
https://arxiv.org/abs/1409.4842

Idea: the Inception module runs 1x1, 3x3 and 5x5 convolutions and a 3x3 max-pool side by side and concatenates
them; 1x1 "reduce" convolutions in front of the 3x3 / 5x5 branches (Sec. 4) keep the cost low, so a 22-layer
network fits a budget of 1.5 G multiply-adds (Sec. 1). Global average pooling replaces the big FC layers
(head="fc" puts FC layers back, the ablation of Sec. 5).

Built from Table 1 as written: a true 5x5 branch (torchvision's `googlenet` uses 3x3 there, pytorch/vision#906),
conv biases and ReLUs, no batch normalisation, LRN as in Fig. 3, auxiliary classifiers optional (Sec. 5).
"""
from __future__ import annotations

import torch
from torch import nn


def conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    """Sec. 5: "All the convolutions, including those inside the Inception modules, use rectified linear activation"."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2), nn.ReLU(inplace=True))


class Inception(nn.Module):
    """Fig. 2(b): four parallel branches concatenated along channels (Table 1's columns, left to right)."""

    def __init__(self, c_in: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int):
        super().__init__()
        self.branches = nn.ModuleList([
            conv(c_in, c1, 1),
            nn.Sequential(conv(c_in, c3_reduce, 1), conv(c3_reduce, c3, 3)),
            nn.Sequential(conv(c_in, c5_reduce, 1), conv(c5_reduce, c5, 5)),  # the paper's 5x5
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv(c_in, pool_proj, 1)),
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class AuxHead(nn.Module):
    """Sec. 5: avg-pool 5x5/3, 1x1 conv with 128 filters, FC 1024, dropout 70%, linear softmax classifier."""

    def __init__(self, c_in: int, num_classes: int):
        super().__init__()
        self.net = nn.Sequential(nn.AvgPool2d(5, stride=3), conv(c_in, 128, 1), nn.Flatten(),
                                 nn.Linear(128 * 4 * 4, 1024), nn.ReLU(inplace=True), nn.Dropout(0.7),
                                 nn.Linear(1024, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def lrn() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)  # Fig. 3 "LocalRespNorm" (AlexNet's settings)


def max_pool() -> nn.MaxPool2d:
    return nn.MaxPool2d(3, stride=2, ceil_mode=True)  # Table 1: "max pool 3x3/2", 112 -> 56 -> 28 -> 14 -> 7


class GoogLeNet(nn.Module):
    def __init__(self, *, num_classes: int = 1000, aux_logits: bool = False, width: float = 1.0,
                 in_channels: int = 3, dropout: float = 0.4, head: str = "avgpool"):
        super().__init__()
        w = lambda *cs: [max(1, round(c * width)) for c in cs]  # noqa: E731  a narrow variant for small data
        rows = {  # Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
            "3a": w(64, 96, 128, 16, 32, 32), "3b": w(128, 128, 192, 32, 96, 64),
            "4a": w(192, 96, 208, 16, 48, 64), "4b": w(160, 112, 224, 24, 64, 64), "4c": w(128, 128, 256, 24, 64, 64),
            "4d": w(112, 144, 288, 32, 64, 64), "4e": w(256, 160, 320, 32, 128, 128),
            "5a": w(256, 160, 320, 32, 128, 128), "5b": w(384, 192, 384, 48, 128, 128),
        }
        c64, c192 = w(64, 192)
        self.stem = nn.Sequential(
            conv(in_channels, c64, 7, stride=2), max_pool(), lrn(),  # conv 7x7/2, max pool 3x3/2
            conv(c64, c64, 1), conv(c64, c192, 3), lrn(), max_pool(),  # conv 3x3/1 (depth 2: 1x1 reduce, 3x3)
        )
        blocks, c = {}, c192
        for name, r in rows.items():
            blocks[name] = Inception(c, *r)
            c = r[0] + r[2] + r[4] + r[5]
        self.inception3 = nn.Sequential(blocks["3a"], blocks["3b"], max_pool())
        self.inception4a = blocks["4a"]
        self.inception4bcd = nn.Sequential(blocks["4b"], blocks["4c"], blocks["4d"])
        self.inception4e = nn.Sequential(blocks["4e"], max_pool())
        self.inception5 = nn.Sequential(blocks["5a"], blocks["5b"])
        if head == "avgpool":  # Sec. 5: average pooling, dropout 40%, one linear layer
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, num_classes))
        elif head == "fc":  # Sec. 5's "fully connected layers" before the move to average pooling. The paper gives
            # no sizes, so they are its auxiliary classifier's (FC 1024 + ReLU, dropout, linear), on the 7x7 map
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * 7 * 7, 1024), nn.ReLU(inplace=True),
                                      nn.Dropout(dropout), nn.Linear(1024, num_classes))
        else:
            raise ValueError(f"head must be 'avgpool' or 'fc', not {head!r}")
        c4a, c4d = sum(rows["4a"][i] for i in (0, 2, 4, 5)), sum(rows["4d"][i] for i in (0, 2, 4, 5))
        self.aux = nn.ModuleList([AuxHead(c4a, num_classes), AuxHead(c4d, num_classes)]) if aux_logits else None

    def forward(self, x: torch.Tensor):
        x = self.inception3(self.stem(x))
        a = self.inception4a(x)
        d = self.inception4bcd(a)
        out = self.head(self.inception5(self.inception4e(d)))
        if self.aux is not None and self.training:  # Sec. 5: auxiliary losses weighted 0.3, discarded at inference
            return out, self.aux[0](a), self.aux[1](d)
        return out


def googlenet(*, num_classes: int = 1000, aux_logits: bool = False, width: float = 1.0, in_channels: int = 3,
              dropout: float = 0.4, head: str = "avgpool") -> GoogLeNet:
    """head: "avgpool" (the paper's network) or "fc" (fully connected layers on the 7x7 map, 224x224 input only)."""
    return GoogLeNet(num_classes=num_classes, aux_logits=aux_logits, width=width, in_channels=in_channels,
                     dropout=dropout, head=head)


def depth(module: nn.Module, *, count_pooling: bool = False) -> int:
    """Layers on the longest input-to-output path (Sec. 5 counts "only layers with parameters", or with pooling).

    Inception branches run in parallel: a module's depth is its deepest branch. The auxiliary heads are side
    branches and are skipped.
    """
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        return 1
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return int(count_pooling)
    if isinstance(module, Inception):
        return max(depth(b, count_pooling=count_pooling) for b in module.branches)
    return sum(depth(m, count_pooling=count_pooling) for name, m in module.named_children() if name != "aux")
