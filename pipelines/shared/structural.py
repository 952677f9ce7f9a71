"""Structural facts of full-size models, computed on the `meta` device: no memory, no weights, exact counts."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def on_meta(builder: Callable[[], nn.Module]) -> nn.Module:
    """Build a model with every tensor on the meta device (a 138 M-parameter VGG costs nothing)."""
    with torch.device("meta"):
        return builder()


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_shape: tuple[int, ...], *, by_module: bool = False):
    """Multiply-adds of one forward pass of a single input (batch 1): torch's FLOP counter halved.

    by_module=True also returns {module name: MACs}, the counter's own per-module totals.
    """
    x = torch.zeros((1, *input_shape), device="meta")
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    total = counter.get_total_flops() // 2
    if not by_module:
        return total
    per = {name: sum(ops.values()) // 2 for name, ops in counter.get_flop_counts().items()}
    return total, per
