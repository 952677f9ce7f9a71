"""ImageNet Classification with Deep Convolutional Neural Networks (AlexNet).

Krizhevsky, Sutskever, Hinton, NIPS 2012.
https://papers.nips.cc/paper/2012/hash/c399862d3b9d6b76c8436e924a68c45b-Abstract.html

Idea: a deep CNN (5 conv + 3 fully-connected layers, 60 M parameters) trained on two GPUs, made trainable
and accurate at ImageNet scale by ReLUs (fast training, Sec. 3.1), local response normalisation (Sec. 3.3),
overlapping max-pooling (Sec. 3.4), data augmentation and dropout in the first two FC layers (Sec. 4).

The two-GPU layout of Sec. 3.5 / Fig. 2 is expressed with grouped convolutions: conv2, conv4 and conv5 only
see the kernel maps of their own GPU ("tower"), which is exactly `groups=2`; conv3 and the FC layers
communicate across GPUs (groups=1). torchvision's `alexnet` is the single-tower variant of "One weird
trick" (Krizhevsky 2014): 64-192-384-256-256 kernels, no grouping, no LRN, 61.1 M parameters.
"""
from __future__ import annotations

from torch import nn


def response_norm() -> nn.LocalResponseNorm:
    """Sec. 3.3: b = a / (k + alpha * sum_{n neighbours} a^2)^beta with k=2, n=5, alpha=1e-4, beta=0.75.

    torch divides alpha by the size n, so the paper's alpha is passed as n * 1e-4.
    """
    return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)


def alexnet(*, num_classes: int = 1000, towers: int = 2, dropout: float = 0.5, lrn: bool = True,
            overlapping_pool: bool = True) -> nn.Module:
    """The network of Sec. 3.5 / Fig. 2 for 227x227x3 inputs (the paper's "224" gives non-integer sizes).

    towers=2: the paper's two-GPU connectivity (groups=2 where the towers do not cross); towers=1: one GPU.
    lrn=False / overlapping_pool=False: the ablations of Secs. 3.3 / 3.4 (no response normalisation; z=2, s=2
    pooling, which gives the same 27-13-6 map sizes, "output of equivalent dimensions").
    """
    z = 3 if overlapping_pool else 2
    pool = lambda: nn.MaxPool2d(kernel_size=z, stride=2)  # noqa: E731  Sec. 3.4: overlapping pooling, z=3, s=2
    norm = response_norm if lrn else nn.Identity
    features = nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True), norm(), pool(),  # 96 kernels 11x11x3, stride 4
        nn.Conv2d(96, 256, 5, padding=2, groups=towers), nn.ReLU(inplace=True), norm(), pool(),  # 5x5x48
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),  # 3x3x256: conv3 sees both towers
        nn.Conv2d(384, 384, 3, padding=1, groups=towers), nn.ReLU(inplace=True),  # 3x3x192
        nn.Conv2d(384, 256, 3, padding=1, groups=towers), nn.ReLU(inplace=True), pool(),  # 3x3x192
    )
    classifier = nn.Sequential(  # FC layers of 4096 neurons each (2048 per GPU, fully connected across them)
        nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),  # Sec. 4.2: dropout in FC6, FC7
        nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )
    return nn.Sequential(features, nn.Flatten(), classifier)


def four_layer_cnn(*, activation: str = "relu", in_channels: int = 1, image_size: int = 8, width: int = 32,
                   hidden: int = 64, num_classes: int = 10, dropout: float = 0.0) -> nn.Module:
    """The small "four-layer convolutional neural network" of Fig. 1 (ReLU vs tanh), scaled down: 2 conv + 2 FC.

    dropout > 0 puts dropout before both FC layers, as AlexNet does (Sec. 4.2).
    """
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
    flat = 2 * width * (image_size // 4) ** 2
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), act(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), act(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(dropout), nn.Linear(flat, hidden), act(),
        nn.Dropout(dropout), nn.Linear(hidden, num_classes),
    )


def neurons_per_layer(model: nn.Module, input_shape=(3, 227, 227)) -> list[int]:
    """Units of each learned layer's output (Fig. 2 caption lists them), by running the model on the meta device."""
    import torch

    sizes, hooks = [], []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(lambda mod, inp, out: sizes.append(out[0].numel())))
    with torch.no_grad():
        model(torch.zeros((1, *input_shape), device=next(model.parameters()).device))
    for h in hooks:
        h.remove()
    return sizes
