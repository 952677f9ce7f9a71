"""Learning a Deep Convolutional Network for Image Super-Resolution (SRCNN).

Dong, Loy, He, Tang. ECCV 2014; extended as "Image Super-Resolution Using Deep Convolutional Networks", TPAMI 2016.
https://arxiv.org/abs/1501.00092

Idea: upsample the low-resolution image with bicubic interpolation, then learn the rest end to end with three
convolutions that mirror sparse-coding SR: patch extraction (f1 x f1, n1 maps), non-linear mapping
(f2 x f2, n2 maps) and reconstruction (f3 x f3 back to the image), trained with the MSE (Eq. 4).
"""
from torch import nn


def srcnn(*, f1: int = 9, f2: int = 1, f3: int = 5, n1: int = 64, n2: int = 32, channels: int = 1,
          padding: bool = False) -> nn.Sequential:
    """The 9-1-5 network by default (Sec. 3.1-3.2); f2=5 gives 9-5-5, the TPAMI paper's best (Sec. 4.3).

    channels=1: the luminance (Y) channel only, as in the paper's main experiments.
    padding=False as in training (Sec. 3.2: "no padding"), so a 33x33 sub-image gives a 21x21 output;
    padding=True keeps the size, for whole images.
    """
    pad = (lambda k: k // 2) if padding else (lambda k: 0)
    return nn.Sequential(
        nn.Conv2d(channels, n1, f1, padding=pad(f1)),  # Eq. 1: F1(Y) = max(0, W1 * Y + B1)
        nn.ReLU(inplace=True),
        nn.Conv2d(n1, n2, f2, padding=pad(f2)),  # Eq. 2: F2(Y) = max(0, W2 * F1(Y) + B2)
        nn.ReLU(inplace=True),
        nn.Conv2d(n2, channels, f3, padding=pad(f3)),  # Eq. 3: F(Y) = W3 * F2(Y) + B3, linear
    )


def weight_count(model: nn.Module) -> int:
    """Filter weights only, the way the paper and FSRCNN count SRCNN's parameters (biases left out)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))
