"""Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network.

Shi, Caballero, Huszar, Totz, Aitken, Bishop, Rueckert, Wang. CVPR 2016. https://arxiv.org/abs/1609.05158

Idea: do every convolution in low-resolution (LR) space, which costs r^2 less than SRCNN's convolutions on the
bicubic-upsampled image, and let the last layer output r^2 channels per pixel that a periodic shuffle (the
"sub-pixel convolution", Eq. 4; torch's nn.PixelShuffle) rearranges into the r-times larger image.
"""
from torch import nn


def espcn(*, scale: int = 3, channels: int = 1, f1: int = 5, n1: int = 64, f2: int = 3, n2: int = 32,
          f3: int = 3) -> nn.Sequential:
    """The paper's l = 3 network, 5-3-3 with 64 and 32 maps and tanh (Sec. 3.1, 3.2).

    Zero 'same' padding keeps the LR grid (the paper trains on unpadded 17x17 LR sub-images; padding changes
    no parameter and only the border pixels).
    """
    return nn.Sequential(
        nn.Conv2d(channels, n1, f1, padding=f1 // 2), nn.Tanh(),  # Eq. 2, l = 1
        nn.Conv2d(n1, n2, f2, padding=f2 // 2), nn.Tanh(),  # Eq. 2, l = 2
        nn.Conv2d(n2, channels * scale ** 2, f3, padding=f3 // 2),  # the last layer: C * r^2 maps in LR space
        nn.PixelShuffle(scale),  # Eq. 4: PS(T)_{x,y,c} = T_{floor(x/r), floor(y/r), C*r*mod(y,r) + C*mod(x,r) + c}
    )


def lr_feature_extractor(model: nn.Sequential) -> nn.Sequential:
    """The convolution stack without the shuffle: what runs on the LR grid (or, for Sec. 2.2's comparison, on
    the bicubic-upsampled grid)."""
    return model[:-1]
