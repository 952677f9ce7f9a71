"""The Computational Limits of Deep Learning.

Thompson, Greenewald, Lee, Manso - 2020. https://arxiv.org/abs/2007.05558

Idea: deep learning's flexibility is bought with computation. In the overparameterized regime the parameter count
grows with the data, so training compute grows at least as the square of the data (Sec. 2); flexible models lose
to expert models on little data and win on much data (Sec. 2); and across 1,058 papers, benchmark error falls only
polynomially in compute (Sec. 3), so further gains need enormous computing.

The paper is an analysis, not a method: this file holds the pieces its arguments rest on - an MLP whose parameter
count is tied to the data size, the expert (few chosen variables, OLS) and flexible (all variables, Lasso) models of
Sec. 2 via scikit-learn, and the log-log / semi-log compute-performance regressions of Sec. 3.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats
from sklearn.linear_model import Lasso, LinearRegression
from torch import nn


def overparameterized_mlp(*, num_samples: int, params_per_sample: float = 10.0, in_features: int = 64,
                          num_classes: int = 10) -> nn.Sequential:
    """One hidden layer whose width makes the parameter count ~ params_per_sample * n (Sec. 2: p grows with n)."""
    width = max(1, round(params_per_sample * num_samples / (in_features + 1 + num_classes)))
    return nn.Sequential(nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, num_classes))


def expert_model(features: list[int]) -> tuple[list[int], LinearRegression]:
    """Sec. 2: the expert picks a few variables it believes matter and fits them without regularization."""
    return features, LinearRegression()


def flexible_model(*, num_samples: int, num_features: int, scale: float = 0.2) -> Lasso:
    """Sec. 2: the flexible model takes every variable and relies on regularization (Lasso, the paper's example);
    alpha ~ sqrt(log p / n), the usual rate for the Lasso penalty."""
    return Lasso(alpha=scale * math.sqrt(math.log(num_features) / num_samples), max_iter=5000)


def loglog_fit(compute: np.ndarray, error: np.ndarray):
    """Sec. 3's polynomial model: log(error) = a + b log(compute); returns scipy's linregress result."""
    return stats.linregress(np.log(compute), np.log(error))


def semilog_fit(compute: np.ndarray, error: np.ndarray):
    """Sec. 3's exponential alternative: log(error) = a + b compute."""
    return stats.linregress(compute, np.log(error))


def pareto_frontier(compute: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Indices of the runs that no cheaper run beats on error (the frontier the paper's benchmarks trace)."""
    order = np.argsort(compute, kind="stable")
    keep, best = [], math.inf
    for i in order:
        if error[i] < best:
            keep.append(i)
            best = error[i]
    return np.array(keep)


def training_flops_per_sample(model: nn.Module, in_features: int) -> int:
    """Forward + backward FLOPs of one training sample (cross-entropy), counted by torch on the meta device."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    model = model.to("meta")
    x = torch.zeros(1, in_features, device="meta")
    y = torch.zeros(1, dtype=torch.long, device="meta")
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()
