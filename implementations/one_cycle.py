"""A disciplined approach to neural network hyper-parameters: Part 1 -- learning rate, batch size, momentum, and
weight decay.

Leslie N. Smith, 2018 (US Naval Research Laboratory technical report). https://arxiv.org/abs/1803.09820

Idea ("1cycle", Sec. 4.1): one triangular LR cycle from max_lr/div up to max_lr and back, shorter than training,
then the remaining iterations anneal the LR several orders of magnitude lower; momentum cycles the opposite way
(0.95 -> 0.85 -> 0.95, Sec. 4.3) so that large LRs stay stable, and other regularisation (weight decay) shrinks.

torch ships it as torch.optim.lr_scheduler.OneCycleLR; its `three_phase=True, anneal_strategy="linear"` is the
paper's shape (up, symmetric down, then the annihilation phase). What this file adds: the paper's defaults and its
closed form, to check torch against; the LR range test is implementations/cyclical_lr.py's.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock


def one_cycle(optimizer: torch.optim.Optimizer, *, max_lr: float, total_steps: int, div_factor: float = 10.0,
              final_div_factor: float = 1e3, pct_start: float = 0.45, cycle_momentum: bool = True,
              base_momentum: float = 0.85, max_momentum: float = 0.95) -> torch.optim.lr_scheduler.OneCycleLR:
    """torch's OneCycleLR in the paper's shape; call .step() after every optimiser step.

    div_factor 10: Sec. 4.1's cycles go from max_lr/10 (e.g. 0.08-0.8 for resnet-56, Table 3's caption) to max_lr.
    pct_start 0.45: the cycle (2 x 45 %) is "smaller than the total number of iterations" and the last 10 % anneal
    the LR to initial/final_div_factor, "several orders of magnitude" lower (Sec. 4.1). Momentum 0.95 -> 0.85 while
    the LR rises (Sec. 4.3, Fig. 8a).
    """
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start, anneal_strategy="linear",
        three_phase=True, div_factor=div_factor, final_div_factor=final_div_factor, cycle_momentum=cycle_momentum,
        base_momentum=base_momentum, max_momentum=max_momentum)


def schedule_trace(*, total_steps: int, **one_cycle_kwargs) -> tuple[list[float], list[float]]:
    """The LR and momentum of every step of one_cycle(...) as torch runs them (on a dummy parameter)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = one_cycle(opt, total_steps=total_steps, **one_cycle_kwargs)
    lrs, moms = [], []
    for t in range(total_steps):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        if t < total_steps - 1:
            sched.step()
    return lrs, moms


def one_cycle_lr(step: int, *, max_lr: float, total_steps: int, div_factor: float = 10.0,
                 final_div_factor: float = 1e3, pct_start: float = 0.45) -> float:
    """Closed form of the 1cycle LR at `step` (0-based): linear up, linear down, linear annihilation (Sec. 4.1)."""
    initial, final = max_lr / div_factor, max_lr / div_factor / final_div_factor
    up_end = pct_start * total_steps - 1  # torch's phase ends: float step indices
    down_end = 2 * pct_start * total_steps - 2
    last = total_steps - 1
    if step <= up_end:
        return initial + (max_lr - initial) * step / up_end
    if step <= down_end:
        return max_lr + (initial - max_lr) * (step - up_end) / (down_end - up_end)
    return initial + (final - initial) * (step - down_end) / (last - down_end)


def step_schedule(optimizer: torch.optim.Optimizer, *, total_steps: int, milestones: tuple[float, ...] = (0.5, 0.75),
                  gamma: float = 0.1) -> torch.optim.lr_scheduler.MultiStepLR:
    """The "step" baseline the paper compares with: LR x gamma at fixed fractions of training, per-iteration."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, [int(m * total_steps) for m in milestones], gamma=gamma)


def resnet56(*, num_classes: int = 10, depth: int = 56) -> nn.Module:
    """He et al.'s CIFAR ResNet (6n+2 layers, 16/32/64 channels), the paper's resnet-56 (Sec. 4), built from
    torchvision's BasicBlock; shortcuts that change shape use 1x1 conv + BN (option B)."""
    n = (depth - 2) // 6
    layers, in_ch = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)], 16
    for out_ch, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(n):
            s = stride if i == 0 else 1
            down = None
            if s != 1 or in_ch != out_ch:
                down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, s, bias=False), nn.BatchNorm2d(out_ch))
            layers.append(BasicBlock(in_ch, out_ch, s, down))
            in_ch = out_ch
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)
