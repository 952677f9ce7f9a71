"""What is the State of Neural Network Pruning?

Blalock, Gonzalez Ortiz, Frankle, Guttag - MLSys 2020. https://arxiv.org/abs/2003.03033

Idea: a survey of 81 pruning papers finds them hard to compare (different models, data, metrics), and ShrinkBench
re-runs the basic baselines under one protocol: magnitude pruning (global or per layer) clearly beats random
pruning at high compression, and global allocation tends to beat uniform per-layer allocation (Sec. 3.2, 7).

The pruning itself is torch's `torch.nn.utils.prune` (masks kept as buffers, weight = weight_orig * mask); this file
adds ShrinkBench's three baseline strategies on top of it, its sparsity / compression-ratio bookkeeping (Sec. 4.1:
compression ratio = original size / new size), and the MLP used at small scale.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune


def mlp(*, sizes: tuple[int, ...] = (64, 256, 256, 10)) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The weights ShrinkBench prunes: those of every Linear and Conv layer (biases and BN are kept)."""
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def prune_global_magnitude(model: nn.Module, sparsity: float) -> nn.Module:
    """Remove the `sparsity` fraction of smallest |w| over all layers together (ShrinkBench GlobalMagWeight)."""
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured, amount=sparsity)
    return model


def prune_layerwise_magnitude(model: nn.Module, sparsity: float) -> nn.Module:
    """Remove the `sparsity` fraction of smallest |w| in each layer (ShrinkBench LayerMagWeight, uniform allocation)."""
    for module, name in prunable(model):
        prune.l1_unstructured(module, name, amount=sparsity)
    return model


def prune_random(model: nn.Module, sparsity: float) -> nn.Module:
    """Remove a random `sparsity` fraction of each layer's weights (the random baseline of Sec. 7); torch's RNG."""
    for module, name in prunable(model):
        prune.random_unstructured(module, name, amount=sparsity)
    return model


STRATEGIES = {"global_magnitude": prune_global_magnitude, "layerwise_magnitude": prune_layerwise_magnitude,
              "random": prune_random}


def sparsity(model: nn.Module) -> float:
    """Fraction of zero weights among the prunable ones (masked or not)."""
    weights = [getattr(m, n) for m, n in prunable(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


def compression_ratio(fraction_pruned: float) -> float:
    """Sec. 4.1: original size / new size, so 90 % sparsity is 10x."""
    return 1.0 / (1.0 - fraction_pruned)


@torch.no_grad()
def nonzero_weights(model: nn.Module) -> int:
    return sum(int((getattr(m, n) != 0).sum()) for m, n in prunable(model))
