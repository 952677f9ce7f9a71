"""Perceptual Losses for Real-Time Style Transfer and Super-Resolution.

Johnson, Alahi, Fei-Fei. ECCV 2016. https://arxiv.org/abs/1603.08155

Idea: train a feed-forward image transformation network (residual blocks, strided and fractionally strided
convolutions) with losses computed on the features of a fixed loss network instead of pixels: the feature
reconstruction loss (Eq. 2) for super-resolution, plus Gram-matrix style losses (Eq. 3-4) for style transfer.
One forward pass then replaces Gatys et al.'s per-image optimisation.
"""
import math

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """Two 3x3 conv + batch norm with an identity shortcut (Sec. 3.1, following He et al.; supplementary).
    The paper pads the input once with reflection and uses unpadded convolutions; 'same' zero padding here."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))

    def forward(self, x):
        return x + self.body(x)


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _up(cin: int, cout: int) -> list[nn.Module]:
    """A fractionally strided (stride 1/2) convolution: doubles height and width (Sec. 3.1)."""
    return [nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class ScaledTanh(nn.Module):
    """The output layer's scaled tanh keeps pixels in range (Sec. 3.1); here the range is [0, 1]."""

    def forward(self, x):
        return (torch.tanh(x) + 1) / 2


def transform_net(*, task: str = "style", scale: int = 4, channels: int = 3, width: int | None = None,
                  num_residual: int | None = None) -> nn.Sequential:
    """Johnson's image transformation network (Sec. 3.1 and supplementary material).

    style: 9x9 conv (32), two stride-2 convs (64, 128), 5 residual blocks (128), two stride-1/2 convs (64, 32),
           9x9 conv: output size = input size.
    sr:    9x9 conv (64), 4 residual blocks (64), log2(scale) stride-1/2 convs (64), 9x9 conv: output = scale x input.
    width / num_residual shrink the network for CPU runs (width scales every layer of the style net).
    """
    if task == "style":
        w = width or 32
        layers = [*_conv(channels, w, 9), *_conv(w, 2 * w, 3, 2), *_conv(2 * w, 4 * w, 3, 2)]
        layers += [ResidualBlock(4 * w) for _ in range(5 if num_residual is None else num_residual)]
        layers += [*_up(4 * w, 2 * w), *_up(2 * w, w), nn.Conv2d(w, channels, 9, padding=4), ScaledTanh()]
        return nn.Sequential(*layers)
    if task == "sr":
        ups = int(math.log2(scale))
        if 2 ** ups != scale:
            raise ValueError(f"scale must be a power of two, got {scale}")
        w = width or 64
        layers = [*_conv(channels, w, 9)]
        layers += [ResidualBlock(w) for _ in range(4 if num_residual is None else num_residual)]
        for _ in range(ups):
            layers += _up(w, w)
        layers += [nn.Conv2d(w, channels, 9, padding=4), ScaledTanh()]
        return nn.Sequential(*layers)
    raise ValueError(f"unknown task {task!r}")


# torchvision's VGG-16 `features` index just after each ReLU the paper uses (Sec. 3.2, 4.1-4.2)
VGG16_RELU = {"relu1_2": 4, "relu2_2": 9, "relu3_3": 16, "relu4_3": 23}


def vgg16_loss_network(*, layer: str = "relu3_3", weights=None) -> nn.Sequential:
    """The loss network phi: VGG-16 up to `layer`, frozen. The paper uses ImageNet weights (weights="DEFAULT");
    offline runs pass None (random) or train a small network of the same shape instead (small_vgg)."""
    import torchvision  # imported here: it costs a second of start-up (torch._dynamo) to stages that do not use it

    net = torchvision.models.vgg16(weights=weights).features[:VGG16_RELU[layer]]
    return net.requires_grad_(False).eval()


def small_vgg(*, in_channels: int = 1, widths: tuple[int, int] = (16, 32), num_classes: int = 10,
              image_size: int = 32) -> nn.Sequential:
    """A two-stage VGG-like classifier whose `features` (up to its 'relu2_2') can serve as a loss network
    when no pretrained VGG can be downloaded: train it on a classification task, then freeze it."""
    w1, w2 = widths
    features = nn.Sequential(nn.Conv2d(in_channels, w1, 3, padding=1), nn.ReLU(), nn.Conv2d(w1, w1, 3, padding=1),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(w1, w2, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU())
    head = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(w2 * (image_size // 4) ** 2, num_classes))
    return nn.Sequential(features, head)


def feature_reconstruction_loss(phi_yhat: torch.Tensor, phi_y: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ||phi_j(yhat) - phi_j(y)||_2^2 / (C_j H_j W_j), averaged over the batch."""
    return (phi_yhat - phi_y).pow(2).flatten(1).mean(1).mean()


def gram(phi: torch.Tensor) -> torch.Tensor:
    """Eq. 3: G_j(x)_{c,c'} = sum_{h,w} phi(x)_{h,w,c} phi(x)_{h,w,c'} / (C_j H_j W_j), i.e. psi psi^T / CHW."""
    b, c, h, w = phi.shape
    psi = phi.reshape(b, c, h * w)
    return psi @ psi.transpose(1, 2) / (c * h * w)


def style_reconstruction_loss(phi_yhat: torch.Tensor, phi_y: torch.Tensor) -> torch.Tensor:
    """Eq. 4: squared Frobenius norm of the Gram difference; defined for feature maps of different sizes."""
    return (gram(phi_yhat) - gram(phi_y)).pow(2).sum((1, 2)).mean()


def total_variation(y: torch.Tensor) -> torch.Tensor:
    """The total variation regulariser l_TV (Sec. 3.3), encouraging spatial smoothness."""
    return (y[..., 1:, :] - y[..., :-1, :]).abs().mean() + (y[..., :, 1:] - y[..., :, :-1]).abs().mean()
