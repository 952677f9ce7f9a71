"""DCGAN: Unsupervised Representation Learning with Deep Convolutional Generative Adversarial Networks.

Radford, Metz, Chintala, 2015 (ICLR 2016). https://arxiv.org/abs/1511.06434

Idea: a GAN whose generator and discriminator are all-convolutional (strided / fractionally-strided convs,
no pooling, no fully connected hidden layers) with batchnorm, ReLU/Tanh in G and LeakyReLU(0.2) in D; with
these guidelines (Sec. 3) and N(0, 0.02) init + Adam(2e-4, beta1=0.5) (Sec. 4) GAN training becomes stable,
and the discriminator's conv features are good general-purpose image features (Sec. 5.1).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _num_doublings(image_size: int) -> int:
    n = int(math.log2(image_size // 4))
    if 4 * 2 ** n != image_size:
        raise ValueError(f"image_size must be 4 * 2^k, got {image_size}")
    return n


class Generator(nn.Module):
    """z (nz x 1 x 1) -> 4x4 -> ... -> image_size, channels halving at each fractionally-strided conv (Fig. 1)."""

    def __init__(self, *, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64):
        super().__init__()
        n = _num_doublings(image_size)
        ch = ngf * 2 ** (n - 1)
        # Sec. 3: "project and reshape" of z is a 4x4 transposed conv from 1x1 (no FC hidden layer)
        layers = [nn.ConvTranspose2d(nz, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n - 1):  # fractionally-strided convs replace upsampling/pooling (Sec. 3, guideline 1)
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        # no batchnorm on the generator output layer; Tanh output (Sec. 3, guidelines 2 and 4)
        layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.nz = nz

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(len(z), self.nz, 1, 1))


class Discriminator(nn.Module):
    """image -> strided convs down to 4x4 -> one 4x4 conv to `num_outputs` logits (no pooling, no FC hidden layer)."""

    def __init__(self, *, nc: int = 3, ndf: int = 64, image_size: int = 64, num_outputs: int = 1):
        super().__init__()
        n = _num_doublings(image_size)
        blocks, ch_in, ch = [], nc, ndf
        for i in range(n):  # strided convs replace pooling (guideline 1); no BN on the input layer (guideline 2)
            bn = [] if i == 0 else [nn.BatchNorm2d(ch)]
            blocks.append(nn.Sequential(nn.Conv2d(ch_in, ch, 4, 2, 1, bias=False), *bn, nn.LeakyReLU(0.2, True)))
            ch_in, ch = ch, ch * 2
        self.blocks = nn.ModuleList(blocks)
        # the last conv layer is flattened into a single logit per output (Sec. 3, guideline 3)
        self.head = nn.Conv2d(ch_in, num_outputs, 4, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return self.head(x).flatten(1).squeeze(1)

    @torch.no_grad()
    def features(self, x: torch.Tensor, grid: int = 4) -> torch.Tensor:
        """Sec. 5.1: every conv layer's output max-pooled to a grid x grid map, flattened and concatenated."""
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(nn.functional.adaptive_max_pool2d(x, min(grid, x.shape[-1])).flatten(1))
        return torch.cat(feats, 1)


def generator(*, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64) -> Generator:
    return init_weights(Generator(nz=nz, ngf=ngf, nc=nc, image_size=image_size))


def discriminator(*, nc: int = 3, ndf: int = 64, image_size: int = 64, num_outputs: int = 1) -> Discriminator:
    return init_weights(Discriminator(nc=nc, ndf=ndf, image_size=image_size, num_outputs=num_outputs))


@torch.no_grad()
def init_weights(model: nn.Module, std: float = 0.02) -> nn.Module:
    """Sec. 4: "All weights were initialized from a zero-centered Normal distribution with standard deviation 0.02"
    (BN scales as N(1, 0.02) and zero shifts, as in the authors' Torch code)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return model


def optimizer(params, *, lr: float = 2e-4, beta1: float = 0.5) -> torch.optim.Adam:
    """Sec. 4: Adam, lr 0.0002 (0.001 was too high), beta1 0.5 (0.9 oscillated)."""
    return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))


def guideline_violations(g: nn.Module, d: nn.Module) -> list[str]:
    """The Sec. 3 architecture guidelines as checks on built modules; returns what is violated (empty = all kept)."""
    bad = []
    for name, net in (("G", g), ("D", d)):
        mods = list(net.modules())
        if any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) for m in mods):
            bad.append(f"{name}: pooling layer")
        if any(isinstance(m, nn.Linear) for m in mods):
            bad.append(f"{name}: fully connected layer")
        convs = [m for m in mods if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        if any(c.stride == (1, 1) and c.kernel_size != (4, 4) for c in convs):
            bad.append(f"{name}: a conv that neither resamples nor projects")
        if not any(isinstance(m, nn.BatchNorm2d) for m in mods):
            bad.append(f"{name}: no batchnorm")
    seq = list(g.net)
    if not isinstance(seq[-1], nn.Tanh) or isinstance(seq[-2], nn.BatchNorm2d):
        bad.append("G: output must be conv -> Tanh without batchnorm")
    if any(isinstance(m, (nn.LeakyReLU, nn.Sigmoid)) for m in g.modules()) or not any(isinstance(m, nn.ReLU) for m in g.modules()):
        bad.append("G: hidden activations must be ReLU")
    if any(isinstance(m, nn.BatchNorm2d) for m in d.blocks[0]):
        bad.append("D: batchnorm on the input layer")
    acts = [m for m in d.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid))]
    if not acts or any(not isinstance(a, nn.LeakyReLU) or a.negative_slope != 0.2 for a in acts):
        bad.append("D: activations must be LeakyReLU(0.2)")
    return bad
