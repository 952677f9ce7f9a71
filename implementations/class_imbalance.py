"""A systematic study of the class imbalance problem in convolutional neural networks.

Mateusz Buda, Atsuto Maki, Maciej A. Mazurowski, Neural Networks 106 (2018) 249-259. https://arxiv.org/abs/1710.05381

Idea: make balanced data sets imbalanced in a controlled way (step imbalance: a fraction mu of the classes are
minorities, rho times smaller; linear imbalance: class sizes fall linearly), then compare the remedies: random
oversampling, random undersampling, and thresholding (dividing the network's outputs by the class priors).

What this file adds to torch: the two imbalance profiles (Sec. 3.1, Eq. 1-2), the index-level samplers
(torch's WeightedRandomSampler draws with replacement; the paper replicates / drops whole examples) and the
prior thresholding of Sec. 3.2.3.
"""
from __future__ import annotations

import math

import torch


def step_imbalance_counts(n_max: int, num_classes: int, *, mu: float, rho: float) -> list[int]:
    """Sec. 3.1: the first round(mu * num_classes) classes are minorities with n_max / rho examples each."""
    n_minor = round(mu * num_classes)
    n_min = max(1, round(n_max / rho))
    return [n_min] * n_minor + [n_max] * (num_classes - n_minor)


def linear_imbalance_counts(n_max: int, num_classes: int, *, rho: float) -> list[int]:
    """Sec. 3.1 (Eq. 2): class sizes spaced linearly from n_max / rho up to n_max."""
    n_min = n_max / rho
    return [round(n_min + (n_max - n_min) * i / (num_classes - 1)) for i in range(num_classes)]


def imbalanced_subset(y: torch.Tensor, counts: list[int], generator: torch.Generator) -> torch.Tensor:
    """Indices of a random subset of `y` holding counts[c] examples of class c (the minority examples differ by seed)."""
    picks = []
    for c, n in enumerate(counts):
        idx = (y == c).nonzero().flatten()
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:n]])
    return torch.cat(picks)


def oversample(y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Sec. 3.2.1: random minority oversampling, replicating randomly chosen examples of every class until each
    has as many as the largest class (every original example is kept once)."""
    classes, counts = y.unique(return_counts=True)
    n_max = int(counts.max())
    picks = []
    for c in classes:
        idx = (y == c).nonzero().flatten()
        extra = idx[torch.randint(len(idx), (n_max - len(idx),), generator=generator)]
        picks += [idx, extra]
    return torch.cat(picks)


def undersample(y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Sec. 3.2.2: random majority undersampling, keeping from every class as many examples as the smallest has."""
    classes, counts = y.unique(return_counts=True)
    n_min = int(counts.min())
    picks = [(y == c).nonzero().flatten() for c in classes]
    return torch.cat([idx[torch.randperm(len(idx), generator=generator)[:n_min]] for idx in picks])


def threshold_by_prior(probs: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Sec. 3.2.3: y_i(x) / p(i), the network's class probabilities divided by the training-set class frequencies.

    Not renormalised: a per-class positive factor leaves each one-vs-rest ROC AUC unchanged (Sec. 4.4), while
    renormalising the rows would change it. Use the argmax of the result as the thresholded prediction.
    """
    return probs / prior


def class_prior(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(y, minlength=num_classes).float() / len(y)


def imbalance_ratio(counts: list[int]) -> float:
    """rho = max_i |C_i| / min_i |C_i| (Eq. 1)."""
    return max(counts) / min(counts) if min(counts) > 0 else math.inf


def all_cnn_c(*, num_classes: int = 10, in_channels: int = 3):
    """All-CNN-C (Springenberg et al. 2015), the paper's CIFAR-10 network (Sec. 3.3.2): only 3x3 convs, strided
    convs instead of pooling, 1x1 convs and global average pooling instead of fully connected layers."""
    from torch import nn

    def conv(a, b, k=3, s=1):
        return [nn.Conv2d(a, b, k, s, padding=k // 2), nn.ReLU(inplace=True)]

    return nn.Sequential(*conv(in_channels, 96), *conv(96, 96), *conv(96, 96, s=2), *conv(96, 192), *conv(192, 192),
                         *conv(192, 192, s=2), *conv(192, 192), *conv(192, 192, k=1), nn.Conv2d(192, num_classes, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())
