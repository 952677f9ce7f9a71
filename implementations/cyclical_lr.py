"""Cyclical Learning Rates for Training Neural Networks.

Leslie N. Smith, WACV 2017. https://arxiv.org/abs/1506.01186

Idea: instead of a tuned fixed or decaying learning rate, let the LR oscillate linearly between a lower bound
`base_lr` and an upper bound `max_lr` (a triangle whose half-period is `step_size` iterations); both bounds come
from one short "LR range test" run that ramps the LR linearly and watches the accuracy.

torch already ships the schedule as torch.optim.lr_scheduler.CyclicLR (its modes are the paper's triangular,
triangular2 and exp_range). What this file adds: the paper's closed form (Sec. 3.1) to check torch against, the
paper's defaults (no momentum cycling: the paper cycles the LR only), the LR range test (Sec. 3.3) and the rule
that turns the test's curve into the two bounds.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

import torch


def triangular_lr(iteration: int, *, base_lr: float, max_lr: float, step_size: int, mode: str = "triangular",
                  gamma: float = 1.0) -> float:
    """The paper's learning rate at `iteration` (Sec. 3.1 code listing; modes of Sec. 4: triangular2, exp_range)."""
    cycle = math.floor(1 + iteration / (2 * step_size))
    x = abs(iteration / step_size - 2 * cycle + 1)
    height = (max_lr - base_lr) * max(0.0, 1 - x)
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":  # amplitude halves at the end of every cycle
        scale = 1 / 2 ** (cycle - 1)
    elif mode == "exp_range":  # amplitude decays as gamma^iteration
        scale = gamma ** iteration
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return base_lr + height * scale


def cyclic_lr(optimizer: torch.optim.Optimizer, *, base_lr: float = 0.001, max_lr: float = 0.006,
              step_size: int = 2000, mode: str = "triangular2", gamma: float = 1.0) -> torch.optim.lr_scheduler.CyclicLR:
    """torch's CyclicLR with the paper's CIFAR-10 defaults (Table 1: 0.001-0.006, stepsize 2000 = 4 epochs of 500).

    Call .step() after every optimiser step. cycle_momentum=False: the 2017 paper keeps momentum fixed (cycling
    it inversely to the LR is the 2018 1cycle paper's addition, implementations/one_cycle.py).
    """
    return torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=base_lr, max_lr=max_lr, step_size_up=step_size,
                                             mode=mode, gamma=gamma, cycle_momentum=False)


def lr_range_test(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable, *, loss_fn: Callable,
                  min_lr: float, max_lr: float, num_iters: int, evaluate: Callable[[torch.nn.Module], float],
                  eval_every: int) -> tuple[list[float], list[float]]:
    """Sec. 3.3: train once while the LR rises linearly from min_lr to max_lr over num_iters iterations.

    Returns (lrs, scores): the LR at each evaluation and evaluate(model) there (e.g. validation accuracy).
    `batches` yields (x, y) and must last num_iters iterations.
    """
    lrs, scores = [], []
    for it, (x, y) in zip(range(num_iters), batches):
        lr = min_lr + (max_lr - min_lr) * it / max(num_iters - 1, 1)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (it + 1) % eval_every == 0:
            lrs.append(lr)
            scores.append(float(evaluate(model)) if math.isfinite(loss.item()) else float("nan"))
    return lrs, scores


def range_test_bounds(lrs: list[float], scores: list[float], *, rise: float = 0.1) -> tuple[float, float]:
    """Sec. 3.3: base_lr where the accuracy starts to increase, max_lr where it stops increasing (its peak).

    "Starts to increase" is made a rule: the first LR whose score has gained `rise` of the way from the first
    score to the peak. A diverged run (NaN score) counts as no accuracy.
    """
    s = [x if math.isfinite(x) else -math.inf for x in scores]
    peak = max(range(len(s)), key=s.__getitem__)
    start = s[0]
    threshold = start + rise * (s[peak] - start)
    first = next(i for i in range(peak + 1) if s[i] >= threshold)
    return lrs[first], lrs[peak]


def caffe_cifar10_full(*, num_classes: int = 10, in_channels: int = 3) -> torch.nn.Sequential:
    """Caffe's "CIFAR-10 full" model (examples/cifar10/cifar10_full_train_test.prototxt), the paper's Table 1 net:
    three 5x5 conv (32, 32, 64) each followed by 3x3/2 pooling (max, avg, avg) and LRN, then one linear layer."""
    nn = torch.nn
    # Caffe normalises within a channel (3x3 neighbourhood); torch's LRN runs across channels: a close stand-in
    lrn = lambda: nn.LocalResponseNorm(3, alpha=5e-5, beta=0.75)  # noqa: E731
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True), nn.ReLU(), lrn(),
        nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True), lrn(),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Flatten(), nn.Linear(64 * 4 * 4, num_classes))  # 32x32 input -> 16 -> 8 -> 4 (ceil pooling)
