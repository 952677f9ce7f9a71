"""U-Net: Convolutional Networks for Biomedical Image Segmentation.

Ronneberger, Fischer, Brox, MICCAI 2015. https://arxiv.org/abs/1505.04597

Idea: a contracting path (3x3 convs + 2x2 max-pool) captures context, a symmetric expanding path
(2x2 up-convs) localises, and skip connections concatenate the cropped high-resolution features of the
contracting path into the expanding one. A per-pixel weight map (Eq. 2) makes the thin borders between
touching objects expensive to get wrong, so the network learns to separate them.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt
from torch import nn


def double_conv(cin: int, cout: int, padding: int) -> nn.Sequential:
    # Sec. 2: "two 3x3 convolutions (unpadded convolutions), each followed by a ReLU"
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=padding), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=padding), nn.ReLU(inplace=True))


def center_crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Fig. 1's 'copy and crop': the border pixels lost to unpadded convolutions are cut from the skip features."""
    dh, dw = (x.shape[-2] - size[0]) // 2, (x.shape[-1] - size[1]) // 2
    return x[..., dh:dh + size[0], dw:dw + size[1]]


class UNet(nn.Module):
    def __init__(self, *, in_channels: int, num_classes: int, base: int, depth: int, padding: int, skips: bool):
        super().__init__()
        widths = [base * 2 ** i for i in range(depth + 1)]  # 64, 128, 256, 512, 1024 (Fig. 1)
        self.skips = skips
        self.down = nn.ModuleList([double_conv(cin, cout, padding)
                                   for cin, cout in zip([in_channels] + widths[:-1], widths)])
        # "a 2x2 convolution ('up-convolution') that halves the number of feature channels"
        self.upconv = nn.ModuleList([nn.ConvTranspose2d(w, w // 2, 2, stride=2) for w in widths[:0:-1]])
        # after concatenation with the skip the channel count is back to w; without skips it stays w // 2
        self.up = nn.ModuleList([double_conv(w if skips else w // 2, w // 2, padding) for w in widths[:0:-1]])
        self.head = nn.Conv2d(widths[0], num_classes, 1)  # "a 1x1 convolution ... to the desired number of classes"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))  # 2x2 max pooling, stride 2
            features.append(x)
        for upconv, block, skip in zip(self.upconv, self.up, reversed(features[:-1])):
            x = upconv(x)
            if self.skips:
                x = torch.cat([center_crop(skip, x.shape[-2:]), x], dim=1)
            x = block(x)
        return self.head(x)


def unet(*, in_channels: int = 1, num_classes: int = 2, base: int = 64, depth: int = 4, padding: int = 0,
         skips: bool = True) -> UNet:
    """The paper's network (Fig. 1): 4 poolings, 64..1024 channels, valid convolutions (572 -> 388).

    padding=1 keeps the size (the scaled-down variant); skips=False drops the copy-and-crop connections.
    """
    return UNet(in_channels=in_channels, num_classes=num_classes, base=base, depth=depth, padding=padding,
                skips=skips)


def output_size(input_size: int, *, depth: int = 4) -> int:
    """Output side of the valid-convolution U-Net: each double conv loses 4 pixels, each pool halves, each up-conv doubles."""
    s = input_size
    for _ in range(depth):
        s = (s - 4) // 2
    s -= 4
    for _ in range(depth):
        s = s * 2 - 4
    return s


def weight_map(instances: np.ndarray, *, w0: float = 10.0, sigma: float = 5.0,
               class_weights: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Eq. 2: w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2)).

    instances: (H, W) ints, 0 = background, k > 0 = object k. d1, d2: distances to the nearest and the second
    nearest object. The border term is put on background pixels, the gaps the network must learn to keep open
    (Fig. 3d): inside an object d1 = 0 and the term would only blur its interior.
    w_c: class weights (background, foreground); the paper balances class frequencies with it.
    """
    wc = np.where(instances > 0, class_weights[1], class_weights[0]).astype(np.float64)
    ids = [i for i in np.unique(instances) if i != 0]
    if len(ids) < 2:
        return wc
    dist = np.stack([distance_transform_edt(instances != i) for i in ids])  # distance to each object
    d = np.sort(dist, axis=0)
    border = w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma ** 2))
    return wc + np.where(instances == 0, border, 0.0)


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 1: E = sum_x w(x) log p_l(x)(x), the pixel-wise soft-max cross-entropy weighted by the map (averaged here)."""
    return (F.cross_entropy(logits, target, reduction="none") * weights).mean()
