"""MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications (MobileNet v1).

Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam, 2017. https://arxiv.org/abs/1704.04861

Idea: factor each standard convolution into a depthwise 3x3 convolution (one filter per channel) and a
pointwise 1x1 convolution (Sec. 3.1): cost D_K^2 M D_F^2 + M N D_F^2 instead of D_K^2 M N D_F^2, a reduction
of 1/N + 1/D_K^2 (Eq. 5), 8-9x for 3x3. Two knobs trade accuracy for cost: width alpha, resolution rho (Sec. 3.3-3.4).

torchvision has MobileNet v2/v3 only; this is v1 from Table 1. `separable=False` gives the "Conv MobileNet"
of Table 4 (every separable pair replaced by one full 3x3 convolution).
"""
from __future__ import annotations

from torch import nn

# Table 1 after the stem: (output channels, stride) of each depthwise-separable block. The table's second-to-last
# "Conv dw / s2" on a 7x7 input is a typo: the listed output stays 7x7, so its stride is 1.
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
# Sec. 4.2 / Table 5, "Shallow MobileNet": "the 5 layers of separable filters with feature size 14x14x512 in Table 1
# are removed" (rows 6-10 of BLOCKS)
SHALLOW_ROWS = (6, 7, 8, 9, 10)


def conv_bn(c_in: int, c_out: int, k: int, stride: int, groups: int = 1) -> nn.Sequential:
    """Fig. 3: every convolution is followed by batchnorm and ReLU (no conv bias: BN's shift replaces it)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def separable(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """Fig. 2(b)+(c): 3x3 depthwise (groups = channels) then 1x1 pointwise."""
    return nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in), conv_bn(c_in, c_out, 1, 1))


def mobilenet(*, alpha: float = 1.0, num_classes: int = 1000, in_channels: int = 3, separable_convs: bool = True,
              blocks: int = len(BLOCKS), stem_stride: int = 2, dropout: float = 0.0,
              skip_rows: tuple[int, ...] = ()) -> nn.Sequential:
    """MobileNet v1 with width multiplier alpha (Sec. 3.3: every layer's channels M, N become alpha*M, alpha*N).

    The resolution multiplier rho (Sec. 3.4) is the input size: 224 * rho (224, 192, 160, 128).
    blocks / stem_stride: keep the first `blocks` rows of Table 1 and change the stem stride (small inputs).
    skip_rows: rows of BLOCKS left out (SHALLOW_ROWS gives Table 5's "Shallow MobileNet").
    """
    c = lambda n: int(n * alpha)  # noqa: E731
    layers = [conv_bn(in_channels, c(32), 3, stem_stride)]  # Table 1 row 1: Conv / s2, 3x3x3x32
    c_in = c(32)
    for c_out, stride in [row for i, row in enumerate(BLOCKS[:blocks]) if i not in skip_rows]:
        block = separable(c_in, c(c_out), stride) if separable_convs else conv_bn(c_in, c(c_out), 3, stride)
        layers.append(block)
        c_in = c(c_out)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                         nn.Linear(c_in, num_classes))  # Avg Pool / s1, FC / s1, Softmax


def layer_type(conv: nn.Module) -> str:
    """Table 2's rows: "Conv 1x1", "Conv DW 3x3", "Conv 3x3" (the full convolutions), "Fully Connected"."""
    if isinstance(conv, nn.Linear):
        return "fc"
    if conv.groups > 1:
        return "dw3x3"
    return "conv1x1" if conv.kernel_size == (1, 1) else "conv3x3"
