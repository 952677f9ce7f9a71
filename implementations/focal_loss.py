"""Focal Loss for Dense Object Detection.

Tsung-Yi Lin, Priya Goyal, Ross Girshick, Kaiming He, Piotr Dollar, ICCV 2017. https://arxiv.org/abs/1708.02002

Idea: a one-stage detector sees ~100k anchors of which a handful are objects; the easy negatives swamp the
cross-entropy. The focal loss FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t) (Eq. 5) down-weights well-classified
examples, and the classifier's bias starts at b = -log((1 - pi) / pi) so that every anchor begins at p = pi (Sec. 4.1).

torchvision ships the loss as torchvision.ops.sigmoid_focal_loss (used by its RetinaNet); this file wraps it with
the paper's defaults (gamma = 2, alpha = 0.25, Table 1a/b), adds the alpha-balanced CE baseline (Eq. 3), the
prior initialisation, and a small RetinaNet-style dense classification head.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import sigmoid_focal_loss


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, *, alpha: float = 0.25, gamma: float = 2.0,
               reduction: str = "sum") -> torch.Tensor:
    """Eq. 5 with alpha-balancing; sigmoid per anchor and class (Sec. 3.3). alpha < 0 turns alpha off.
    The paper sums over all anchors and divides by the number of positive anchors (Sec. 4.1): do that outside."""
    return sigmoid_focal_loss(logits, targets.to(logits.dtype), alpha=alpha, gamma=gamma, reduction=reduction)


def balanced_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, alpha: float = 0.75,
                           reduction: str = "sum") -> torch.Tensor:
    """Eq. 3, alpha-balanced CE: the focal loss with gamma = 0 (Table 1a's baseline, best at alpha = .75)."""
    return focal_loss(logits, targets, alpha=alpha, gamma=0.0, reduction=reduction)


def modulating_factor(p_t: torch.Tensor | float, gamma: float = 2.0):
    """(1 - p_t)^gamma: how much lower FL is than CE for an example classified with probability p_t (Sec. 3.2)."""
    return (1 - p_t) ** gamma


def prior_bias(pi: float = 0.01) -> float:
    """b = -log((1 - pi) / pi), so that sigmoid(b) = pi (Sec. 4.1, "Initialization"; pi = .01 in all experiments)."""
    return -math.log((1 - pi) / pi)


def dense_classifier(*, in_channels: int = 256, width: int = 256, depth: int = 4, num_classes: int = 1,
                     prior: float | None = 0.01, hidden_std: float | None = 0.01) -> nn.Sequential:
    """RetinaNet's classification subnet (Sec. 4, Fig. 3c): `depth` 3x3 conv + ReLU of `width` channels, then a
    3x3 conv to num_classes logits per position (one anchor per position here). Weights ~ N(0, 0.01^2), biases 0,
    except the last bias, b = prior_bias(prior) (Sec. 4.1); prior=None leaves it at 0 (p = 0.5 at the start).
    hidden_std=None keeps torch's default init for the hidden convs (a small head on raw pixels, not on FPN
    features, otherwise starts with vanishing activations)."""
    layers, ch = [], in_channels
    for _ in range(depth):
        layers += [nn.Conv2d(ch, width, 3, padding=1), nn.ReLU(inplace=True)]
        ch = width
    layers.append(nn.Conv2d(ch, num_classes, 3, padding=1))
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and (hidden_std is not None or m is net[-1]):
            nn.init.normal_(m.weight, std=0.01 if m is net[-1] else hidden_std)
            nn.init.zeros_(m.bias)
    if prior is not None:
        nn.init.constant_(net[-1].bias, prior_bias(prior))
    return net
