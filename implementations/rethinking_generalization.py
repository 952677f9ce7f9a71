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


class ConvModule(nn.Module):
    """Appendix A, Fig. 3: conv -> batch norm -> ReLU. The batch norm learns a shift only and the conv has no bias
    (TF-slim's batch_norm default, center=True, scale=False): the count of Table 1 (1,649,402) needs exactly one
    parameter per channel besides the kernels. batch_norm=False ("w/o BatchNorm"): a conv with bias, same count."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, *, batch_norm: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(cout, affine=False) if batch_norm else None
        self.beta = nn.Parameter(torch.zeros(cout)) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x) + self.beta[:, None, None]
        return torch.relu(x)


class InceptionModule(nn.Module):
    """Fig. 3: a 1x1 and a 3x3 conv module side by side, outputs concatenated."""

    def __init__(self, cin: int, ch1: int, ch3: int, *, batch_norm: bool = True):
        super().__init__()
        self.b1, self.b3 = ConvModule(cin, ch1, 1, batch_norm=batch_norm), ConvModule(cin, ch3, 3, batch_norm=batch_norm)
        self.out_channels = ch1 + ch3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x)], 1)


class DownsampleModule(nn.Module):
    """Fig. 3: a 3x3 stride-2 conv module beside a 3x3 stride-2 max-pool, concatenated ('same' padding: 28 -> 14 -> 7,
    so that the final mean pooling is the 7x7 of Fig. 3)."""

    def __init__(self, cin: int, ch3: int, *, batch_norm: bool = True):
        super().__init__()
        self.conv, self.pool = ConvModule(cin, ch3, 3, 2, batch_norm=batch_norm), nn.MaxPool2d(3, 2, padding=1)
        self.out_channels = cin + ch3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.pool(x)], 1)


def inception_small(*, in_ch: int = 3, num_classes: int = 10, batch_norm: bool = True) -> nn.Sequential:
    """Appendix A, Fig. 3: the small Inception of Table 1 for 28x28x3 CIFAR-10 crops (1,649,402 parameters)."""
    layers: list[nn.Module] = [ConvModule(in_ch, 96, 3, batch_norm=batch_norm)]
    c = 96
    for kind, *ch in (("i", 32, 32), ("i", 32, 48), ("d", 80), ("i", 112, 48), ("i", 96, 64), ("i", 80, 80),
                      ("i", 48, 96), ("d", 96), ("i", 176, 160), ("i", 176, 160)):
        m = InceptionModule(c, *ch, batch_norm=batch_norm) if kind == "i" else DownsampleModule(c, *ch, batch_norm=batch_norm)
        layers.append(m)
        c = m.out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]  # "mean pooling" 7x7, then FC
    return nn.Sequential(*layers)


def small_alexnet(*, in_ch: int = 3, num_classes: int = 10, image_size: int = 28) -> nn.Sequential:
    """Appendix A: two (conv 5x5 -> max-pool 3x3 -> local response normalisation) modules, then fully connected
    layers of 384 and 192 units and a 10-way linear layer (1,387,786 parameters on 28x28x3 crops)."""
    s = image_size // 4  # two 3x3 stride-2 pools with 'same' padding
    return nn.Sequential(
        nn.Conv2d(in_ch, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1), nn.LocalResponseNorm(4),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.LocalResponseNorm(4), nn.MaxPool2d(3, 2, padding=1),
        nn.Flatten(), nn.Linear(64 * s * s, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU(), nn.Linear(192, num_classes))


def corrupt_inputs(x: torch.Tensor, kind: str, *, generator: torch.Generator, perm: torch.Tensor | None = None,
                   mean: float | None = None, std: float | None = None) -> torch.Tensor:
    """Sec. 2: the input corruptions of Fig. 1a, on a batch x (N, ...) flattened per example.
    shuffled_pixels: one fixed permutation `perm` for every image (train and test alike);
    random_pixels: an independent random permutation per image;
    gaussian: every pixel drawn from a Gaussian with the data's mean and std (the labels are kept)."""
    flat = x.flatten(1)
    if kind == "shuffled_pixels":
        return flat[:, perm].view_as(x)
    if kind == "random_pixels":
        idx = torch.argsort(torch.rand(flat.shape, generator=generator), dim=1)
        return flat.gather(1, idx).view_as(x)
    if kind == "gaussian":
        return (mean + std * torch.randn(flat.shape, generator=generator)).view_as(x)
    raise ValueError(f"unknown corruption {kind!r}")


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
