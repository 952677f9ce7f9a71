"""Understanding deep learning requires rethinking generalization.
Zhang, Bengio, Hardt, Recht, Vinyals, ICLR 2017. https://arxiv.org/abs/1611.03530

The idea: the same networks that generalise on real data fit random labels perfectly (Sec. 2), so capacity
measures that ignore the labels cannot explain generalisation; a two-layer ReLU net with 2n + d weights can
already represent any labelling of n points (Theorem 1), and for linear models SGD from zero finds the
minimum-norm interpolant, which fits any labels too (Sec. 5).
"""
from __future__ import annotations

import torch
from torch import nn


def mlp(*, in_features: int = 28 * 28 * 3, hidden: tuple[int, ...] = (512,), num_classes: int = 10) -> nn.Sequential:
    """The paper's MLPs (Table 1: MLP 1x512 and 3x512 on 28x28x3 CIFAR-10 crops), ReLU, no regularisation."""
    layers: list[nn.Module] = [nn.Flatten()]
    d = in_features
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, num_classes))
    return nn.Sequential(*layers)


class TwoLayerInterpolant(nn.Module):
    """Theorem 1's construction: f(x) = sum_j w_j max(<a, x> - b_j, 0) with a in R^d, b and w in R^n: 2n + d weights.

    fit(): pick a random direction a, sort the projections s_i = <a, x_i>, place the thresholds b_j between them
    (b_1 < s_1 < b_2 < s_2 < ...), so that A_ij = max(s_i - b_j, 0) is lower triangular with a positive diagonal
    (Lemma 1) and A w = y has a unique solution.
    """

    def __init__(self, d: int, n: int):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(d, dtype=torch.float64))
        self.b = nn.Parameter(torch.zeros(n, dtype=torch.float64))
        self.w = nn.Parameter(torch.zeros(n, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x @ self.a)[:, None] - self.b[None, :]) @ self.w

    @torch.no_grad()
    def fit(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> "TwoLayerInterpolant":
        a = torch.randn(x.shape[1], dtype=torch.float64, generator=generator)
        s = x @ a
        order = torch.argsort(s)
        s_sorted = s[order]
        gaps = torch.diff(s_sorted)
        if (gaps <= 0).any():
            raise ValueError("projections must be distinct: draw another direction")
        # b_1 below the smallest projection, then one threshold in each gap
        b = torch.cat([s_sorted[:1] - 1.0, s_sorted[:-1] + gaps / 2])
        A = torch.relu(s_sorted[:, None] - b[None, :])  # lower triangular, diagonal > 0
        w = torch.linalg.solve_triangular(A, y[order].to(torch.float64)[:, None], upper=False)[:, 0]
        self.a.copy_(a), self.b.copy_(b), self.w.copy_(w)
        return self


def rbf_kernel(X: torch.Tensor, Z: torch.Tensor, gamma: float) -> torch.Tensor:
    return torch.exp(-gamma * torch.cdist(X, Z).pow(2))


def min_norm_kernel_interpolant(K: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Sec. 5: solve K alpha = Y exactly (no regularisation); alpha is the minimum-RKHS-norm interpolant."""
    return torch.linalg.solve(K, Y)


def gd_from_zero(X: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float) -> torch.Tensor:
    """Plain gradient descent on 0.5 ||X w - y||^2 from w = 0; its iterates stay in the row span of X, so on an
    underdetermined problem it converges to the minimum-norm solution pinv(X) y (Sec. 5)."""
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    for _ in range(steps):
        w -= lr * X.T @ (X @ w - y)
    return w
