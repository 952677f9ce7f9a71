"""Searching for Activation Functions (Swish).

Ramachandran, Zoph, Le - 2017. https://arxiv.org/abs/1710.05941

Idea: a reinforcement-learning search over compositions of unary and binary functions finds f(x) = x * sigmoid(beta x),
"Swish" (Sec. 3-4). beta is a trainable scalar (or per channel); beta = 0 gives x/2 and beta -> infinity gives ReLU,
so Swish interpolates between a linear function and ReLU. Replacing ReLU by Swish gains 0.5-2.2 % ImageNet top-1.

torch ships Swish only at beta = 1 (`nn.SiLU`, the paper's "Swish-1"); the paper's default Swish trains beta, which
is what `Swish` adds here. `replace_relu` swaps it into any torchvision model for the full-scale comparison.
"""
from __future__ import annotations

import torch
from torch import nn


def swish(x: torch.Tensor, beta: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Sec. 4: f(x) = x * sigmoid(beta x)."""
    return x * torch.sigmoid(beta * x)


def swish_derivative(x: torch.Tensor, beta: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Sec. 4: f'(x) = beta f(x) + sigmoid(beta x) (1 - beta f(x))."""
    f = swish(x, beta)
    return beta * f + torch.sigmoid(beta * x) * (1 - beta * f)


class Swish(nn.Module):
    """x * sigmoid(beta x) with one trainable beta per layer (Sec. 4: "beta is either a constant or a trainable
    parameter"; trainable=False with beta=1 is nn.SiLU)."""

    def __init__(self, beta: float = 1.0, *, trainable: bool = True):
        super().__init__()
        b = torch.tensor(float(beta))
        if trainable:
            self.beta = nn.Parameter(b)
        else:
            self.register_buffer("beta", b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swish(x, self.beta)


def activation(name: str) -> nn.Module:
    if name == "swish":
        return Swish()
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"unknown activation {name!r}")


def deep_mlp(*, depth: int = 24, width: int = 64, in_features: int = 64, num_classes: int = 10,
             activation_name: str = "swish") -> nn.Sequential:
    """`depth` hidden Linear-BN-activation layers: the "deeper models" comparison of the abstract, at MLP scale."""
    layers: list[nn.Module] = []
    prev = in_features
    for _ in range(depth):
        layers += [nn.Linear(prev, width, bias=False), nn.BatchNorm1d(width), activation(activation_name)]
        prev = width
    return nn.Sequential(*layers, nn.Linear(prev, num_classes))


def replace_relu(model: nn.Module) -> nn.Module:
    """Swap every nn.ReLU module of a (torchvision) model for a trainable-beta Swish, in place (Sec. 5: "we simply
    replace the ReLUs with Swish units"). A ReLU module that a block calls twice shares one beta."""
    for name, child in model.named_children():
        if isinstance(child, nn.ReLU):
            setattr(model, name, Swish())
        else:
            replace_relu(child)
    return model
