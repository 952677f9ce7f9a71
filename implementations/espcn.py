"""Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network.

Shi, Caballero, Huszar, Totz, Aitken, Bishop, Rueckert, Wang. CVPR 2016. https://arxiv.org/abs/1609.05158

Idea: do every convolution in low-resolution (LR) space, which costs r^2 less than SRCNN's convolutions on the
bicubic-upsampled image, and let the last layer output r^2 channels per pixel that a periodic shuffle (the
"sub-pixel convolution", Eq. 4; torch's nn.PixelShuffle) rearranges into the r-times larger image.
"""
from torch import nn


def espcn(*, scale: int = 3, channels: int = 1, f1: int = 5, n1: int = 64, f2: int = 3, n2: int = 32,
          f3: int = 3, activation: str = "tanh") -> nn.Sequential:
    """The paper's l = 3 network, 5-3-3 with 64 and 32 maps and tanh (Sec. 3.1, 3.2).

    Zero 'same' padding keeps the LR grid (the paper trains on unpadded 17x17 LR sub-images; padding changes
    no parameter and only the border pixels). activation="relu": the variant of Sec. 3.3.1 / Table 1 (the
    comparison with SRCNN 9-1-5 and of 91-image vs ImageNet training); tanh is the final model's.
    """
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    return nn.Sequential(
        nn.Conv2d(channels, n1, f1, padding=f1 // 2), act(),  # Eq. 2, l = 1
        nn.Conv2d(n1, n2, f2, padding=f2 // 2), act(),  # Eq. 2, l = 2
        nn.Conv2d(n2, channels * scale ** 2, f3, padding=f3 // 2),  # the last layer: C * r^2 maps in LR space
        nn.PixelShuffle(scale),  # Eq. 4: PS(T)_{x,y,c} = T_{floor(x/r), floor(y/r), C*r*mod(y,r) + C*mod(x,r) + c}
    )


def lr_feature_extractor(model: nn.Sequential) -> nn.Sequential:
    """The convolution stack without the shuffle: what runs on the LR grid (or, for Sec. 2.2's comparison, on
    the bicubic-upsampled grid)."""
    return model[:-1]


def deconvolution_upscaler(*, scale: int = 3, n_in: int = 32, channels: int = 1, kernel: int = 3) -> nn.ConvTranspose2d:
    """The layer the sub-pixel convolution replaces (Sec. 2.1-2.2): a deconvolution (stride r) with the equivalent
    HR-space filter of size k_s = r * k_L, so that its output is the r-times larger image (the same function as
    Conv2d(n_in, r^2 C, k_L) + PixelShuffle when mod(k_s, r) = 0)."""
    ks = scale * kernel
    return nn.ConvTranspose2d(n_in, channels, ks, stride=scale, padding=(ks - scale) // 2)


def hr_space_upscaler(*, scale: int = 3, n_in: int = 32, channels: int = 1, kernel: int = 3) -> nn.Conv2d:
    """Sec. 2.2's naive alternative: the LR maps are upscaled first (interpolation, perforation or un-pooling) and
    the k_s x k_s (k_s = r * k_L) filter then runs with stride 1 in HR space."""
    ks = scale * kernel
    return nn.Conv2d(n_in, channels, ks, padding="same")

