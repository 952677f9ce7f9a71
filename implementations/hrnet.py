"""Deep High-Resolution Representation Learning for Visual Recognition (HRNet).

Wang, Sun, Cheng, Jiang, Deng, Zhao, Liu, Mu, Tan, Wang, Liu, Xiao, TPAMI 2020. https://arxiv.org/abs/1908.07919
(pose network first in Sun, Xiao, Liu, Wang, "Deep High-Resolution Representation Learning for Human Pose
Estimation", CVPR 2019, https://arxiv.org/abs/1902.09212)

Idea: keep a high-resolution branch through the whole network instead of recovering it from a low-resolution
one; add lower-resolution branches stage by stage (1/4, 1/8, 1/16, 1/32, widths C, 2C, 4C, 8C) run in parallel,
and repeatedly fuse them (every branch receives every other one, resampled) so each branch sees all scales.
torchvision's BasicBlock / Bottleneck are the paper's residual units; this file adds the branches and the fusion.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def basic_blocks(width: int, count: int) -> nn.Sequential:
    return nn.Sequential(*[BasicBlock(width, width) for _ in range(count)])


class Fuse(nn.Module):
    """Multi-resolution fusion (Sec. 3, Fig. 3): output r = sum over inputs i of f_ir(x_i), where f_ir is the
    identity (i = r), a 1x1 conv + nearest upsampling (i lower resolution), or r - i strided 3x3 convs
    (i higher resolution)."""

    def __init__(self, widths: list[int], num_outputs: int):
        super().__init__()
        self.paths = nn.ModuleList()
        for r in range(num_outputs):
            row = nn.ModuleList()
            for i, w in enumerate(widths):
                if i == r:
                    row.append(nn.Identity())
                elif i > r:
                    row.append(nn.Sequential(conv_bn(w, widths[r], 1, relu=False),
                                             nn.Upsample(scale_factor=2 ** (i - r), mode="nearest")))
                else:  # one stride-2 3x3 conv per halving; ReLU between them, none after the last
                    steps = [conv_bn(w, w, 3, 2) for _ in range(r - i - 1)]
                    row.append(nn.Sequential(*steps, conv_bn(w, widths[r], 3, 2, relu=False)))
            self.paths.append(row)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.relu(sum(f(x) for f, x in zip(row, xs))) for row in self.paths]


class ExchangeUnit(nn.Module):
    """One modularized block (the paper's "exchange unit"): `blocks` residual units per branch, then a fusion.
    fusion=False: the unit only passes its branches on (no exchange between resolutions)."""

    def __init__(self, widths: list[int], blocks: int, num_outputs: int, fusion: bool):
        super().__init__()
        self.branches = nn.ModuleList([basic_blocks(w, blocks) for w in widths])
        self.fuse = Fuse(widths, num_outputs) if fusion else None
        self.num_outputs = num_outputs

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [b(x) for b, x in zip(self.branches, xs)]
        return self.fuse(xs) if self.fuse is not None else xs[:self.num_outputs]


class HRNet(nn.Module):
    def __init__(self, *, width: int, num_joints: int, modules_per_stage: tuple[int, ...], blocks: int,
                 stem_width: int, stage1_blocks: int, fusion: bool | str, in_channels: int):
        super().__init__()
        fusion = {True: "all", False: "none"}.get(fusion, fusion)
        if fusion not in ("all", "last", "none"):
            raise ValueError(f"fusion is 'all', 'last' or 'none', got {fusion!r}")
        # stem: two stride-2 3x3 convs -> 1/4 resolution (Sec. 3)
        self.stem = nn.Sequential(conv_bn(in_channels, stem_width, 3, 2), conv_bn(stem_width, stem_width, 3, 2))
        # stage 1: bottleneck residual units, 64 -> 256 channels (as ResNet-50's first stage)
        down = nn.Sequential(nn.Conv2d(stem_width, stem_width * 4, 1, bias=False), nn.BatchNorm2d(stem_width * 4))
        self.stage1 = nn.Sequential(Bottleneck(stem_width * 4 if stage1_blocks == 0 else stem_width, stem_width,
                                               downsample=down),
                                    *[Bottleneck(stem_width * 4, stem_width) for _ in range(stage1_blocks - 1)])
        self.transitions, self.stages = nn.ModuleList(), nn.ModuleList()
        prev = [stem_width * 4]
        for s, num_modules in enumerate(modules_per_stage, start=2):
            widths = [width * 2 ** b for b in range(s)]
            # transition: adapt the existing branches' widths, open a new branch at half resolution from the last
            self.transitions.append(nn.ModuleList(
                [conv_bn(prev[b], w, 3) if prev[b] != w else nn.Identity() for b, w in enumerate(widths[:-1])]
                + [conv_bn(prev[-1], widths[-1], 3, 2)]))
            last_stage = s == len(modules_per_stage) + 1
            units = [ExchangeUnit(widths, blocks, 1 if last_stage and m == num_modules - 1 else len(widths),
                                  fusion == "all" or (fusion == "last" and last_stage and m == num_modules - 1))
                     for m in range(num_modules)]
            self.stages.append(nn.Sequential(*units))
            prev = widths
        # pose head: heatmaps regressed from the high-resolution branch alone (Sec. 3, "HRNetV1")
        self.head = nn.Conv2d(width, num_joints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = [self.stage1(self.stem(x))]
        for transition, stage in zip(self.transitions, self.stages):
            xs = [t(xs[b]) if b < len(xs) else t(xs[-1]) for b, t in enumerate(transition)]
            for unit in stage:
                xs = unit(xs)
        return self.head(xs[0])


def hrnet(*, width: int = 32, num_joints: int = 17, modules_per_stage: tuple[int, ...] = (1, 4, 3), blocks: int = 4,
          stem_width: int = 64, stage1_blocks: int = 4, fusion: bool | str = "all", in_channels: int = 3) -> HRNet:
    """HRNet-W32 (width=32) / W48 (width=48) for pose: stages 2/3/4 repeat 1/4/3 exchange units of 4 residual
    units per branch (Sec. 3, "Instantiation"); 17 COCO keypoint heatmaps at 1/4 resolution.
    Smaller variants: fewer stages (len(modules_per_stage)), fewer units and blocks, narrower stem.
    fusion: "all" (every exchange unit fuses: the paper's network), "last" (only the network's final exchange unit
    fuses: the ablation's "no intermediate exchange", Sec. 4.4 (a)) or "none" (the branches never meet)."""
    return HRNet(width=width, num_joints=num_joints, modules_per_stage=tuple(modules_per_stage), blocks=blocks,
                 stem_width=stem_width, stage1_blocks=stage1_blocks, fusion=fusion, in_channels=in_channels)


# ------------------------------------------------------------------------------------------ the baseline it beats
def simple_baseline(*, depth: int = 50, num_joints: int = 17, imagenet: bool = False) -> nn.Sequential:
    """SimpleBaseline (Xiao, Wu, Wei, "Simple Baselines for Human Pose Estimation and Tracking", ECCV 2018,
    https://arxiv.org/abs/1804.06208), HRNet's main comparison in Table 1: a ResNet (no pooling, no classifier)
    down to 1/32, then three 4x4 stride-2 deconvolutions of 256 channels (BN + ReLU) back to 1/4 and a 1x1 conv
    to the heatmaps (Sec. 2 of that paper). imagenet=True loads torchvision's ImageNet weights (a download)."""
    import torchvision

    weights = {50: "ResNet50_Weights", 101: "ResNet101_Weights", 152: "ResNet152_Weights"}[depth]
    resnet = getattr(torchvision.models, f"resnet{depth}")(
        weights=getattr(torchvision.models, weights).IMAGENET1K_V1 if imagenet else None)
    layers, cin = [], resnet.fc.in_features
    for _ in range(3):
        layers += [nn.ConvTranspose2d(cin, 256, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(256),
                   nn.ReLU(inplace=True)]
        cin = 256
    return nn.Sequential(*list(resnet.children())[:-2], *layers, nn.Conv2d(256, num_joints, 1))
