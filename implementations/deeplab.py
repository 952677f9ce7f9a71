"""DeepLab: Semantic Image Segmentation with Deep Convolutional Nets, Atrous Convolution, and Fully Connected CRFs.

Chen, Papandreou, Kokkinos, Murphy, Yuille, TPAMI 2017. https://arxiv.org/abs/1606.00915

Idea: remove the last poolings of an ImageNet classifier and dilate ("atrous") the following filters so the
score map stays at stride 8 while the field of view grows at no extra cost (Sec. 3.1); probe several fields of
view at once with parallel atrous branches (ASPP, Sec. 3.2); sharpen the coarse scores with a fully connected
CRF solved by mean-field (Sec. 3.3). torch's `dilation=` is the atrous convolution; this file adds the rest.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


def atrous_kernel_size(k: int, rate: int) -> int:
    """Sec. 3.1: a k x k filter with rate r covers k_e = k + (k - 1)(r - 1) pixels per side."""
    return k + (k - 1) * (rate - 1)


def vgg16_stride8(*, in_channels: int = 3) -> nn.Sequential:
    """VGG-16's conv layers at output stride 8 (Sec. 4.1): pool4 and pool5 become 3x3 stride-1 poolings and
    the conv5 filters get rate 2, exactly compensating the removed subsampling."""
    import torchvision  # here, not at the top: a second of start-up (torch._dynamo) for stages that never build it

    layers: list[nn.Module] = []
    features = torchvision.models.vgg16(weights=None).features
    block = 0
    for m in features:
        if isinstance(m, nn.MaxPool2d):
            block += 1
            # DeepLab's prototxt: 3x3 pooling with padding 1; stride 2 for pool1-3, stride 1 for pool4-5
            layers.append(nn.MaxPool2d(3, stride=2 if block <= 3 else 1, padding=1))
        elif isinstance(m, nn.Conv2d):
            rate = 2 if block == 4 else 1
            conv = nn.Conv2d(in_channels if not layers else m.in_channels, m.out_channels, 3, padding=rate,
                             dilation=rate)
            layers.append(conv)
        else:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def fc_head(cin: int, num_classes: int, *, kernel: int, rate: int, width: int, dropout: float = 0.5) -> nn.Sequential:
    """fc6 (atrous k x k) -> fc7 (1x1) -> fc8 (1x1 to classes), the converted fully connected layers (Table 1)."""
    return nn.Sequential(
        nn.Conv2d(cin, width, kernel, padding=(atrous_kernel_size(kernel, rate) - 1) // 2, dilation=rate),
        nn.ReLU(inplace=True), nn.Dropout2d(dropout),
        nn.Conv2d(width, width, 1), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
        nn.Conv2d(width, num_classes, 1))


class ASPP(nn.Module):
    """Sec. 3.2, Fig. 4: parallel fc6-fc7-fc8 branches with different rates; their score maps are summed."""

    def __init__(self, cin: int, num_classes: int, *, rates: tuple[int, ...], width: int, kernel: int = 3):
        super().__init__()
        self.branches = nn.ModuleList([fc_head(cin, num_classes, kernel=kernel, rate=r, width=width) for r in rates])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(b(x) for b in self.branches)


class DeepLab(nn.Module):
    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the stride-8 scores are bilinearly upsampled to the image size (Sec. 3.1)
        return F.interpolate(self.head(self.backbone(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)


def deeplab_vgg16(*, num_classes: int = 21, head: str = "largefov", kernel: int = 3, rate: int = 12,
                  width: int = 1024, rates: tuple[int, ...] = (6, 12, 18, 24)) -> DeepLab:
    """DeepLab on VGG-16. head="largefov": one fc6 of size kernel with rate `rate` and `width` filters (Table 1;
    the defaults are DeepLab-LargeFOV); head="aspp": ASPP with `rates` (ASPP-L by default, ASPP-S = (2, 4, 8, 12))."""
    head_module = (fc_head(512, num_classes, kernel=kernel, rate=rate, width=width) if head == "largefov"
                   else ASPP(512, num_classes, rates=rates, width=width))
    return DeepLab(vgg16_stride8(), head_module)


@functools.lru_cache(maxsize=4)
def _position_terms(h: int, w: int, theta_gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """-|p_i - p_j|^2 / 2 and the smoothness kernel exp(-|p_i - p_j|^2 / 2 theta_gamma^2) of an h x w grid (N x N),
    computed once per image size: they do not depend on the image."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], 1)
    half_neg = torch.cdist(pos, pos).square_().mul_(-0.5)
    smooth = (half_neg / theta_gamma ** 2).clamp_min_(-80).exp_()
    return half_neg, smooth


def dense_crf(unary_logits: torch.Tensor, image: torch.Tensor, *, w_appearance: float, theta_alpha: float,
              theta_beta: float, w_smooth: float = 3.0, theta_gamma: float = 3.0, iterations: int = 10) -> torch.Tensor:
    """Mean-field inference of the fully connected CRF (Eq. 2-4; Kraehenbuehl & Koltun 2011) with Potts labels.

    unary_logits: (L, H, W) = -unary energy (the CNN's log-probabilities); image: (C, H, W) colours in 0-255
    units. Pairwise kernel (Eq. 3): w1 exp(-|p_i-p_j|^2/2 theta_a^2 - |I_i-I_j|^2/2 theta_b^2)
    + w2 exp(-|p_i-p_j|^2/2 theta_g^2). A dense N x N kernel: fine for small images (N = H W <= ~10^4).
    Defaults w2 = 3, theta_gamma = 3, 10 iterations are the paper's (Sec. 4.1.1). Returns (L, H, W) marginals.
    """
    L, H, W = unary_logits.shape
    half_neg_d_pos, smooth = _position_terms(H, W, float(theta_gamma))
    col = image.reshape(image.shape[0], -1).T.float()
    # in place on one N x N matrix, exponents clamped at -80 (weights below e^-80 < 2e-35 are nil anyway): far below
    # that, float32 exp() runs into denormals, and every fresh N x N temporary costs page faults; together they made
    # this kernel several times slower on CPUs
    kernel = torch.cdist(col, col).square_().mul_(-1 / (2 * theta_beta ** 2))
    kernel.add_(half_neg_d_pos, alpha=1 / theta_alpha ** 2).clamp_min_(-80).exp_().mul_(w_appearance)
    if w_smooth:
        kernel.add_(smooth, alpha=w_smooth)
    kernel.fill_diagonal_(0.0)  # mean-field message passing excludes j = i
    unary = unary_logits.reshape(L, -1)
    q = unary.softmax(0)
    for _ in range(iterations):
        # Potts compatibility: label l is rewarded by the kernel-weighted mass of neighbours that take l
        q = (unary + q @ kernel).softmax(0)
    return q.reshape(L, H, W)
