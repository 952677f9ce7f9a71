"""Self-Normalizing Neural Networks. Klambauer, Unterthiner, Mayr, Hochreiter, NIPS 2017.
https://arxiv.org/abs/1706.02515

The idea: with the scaled exponential linear unit selu(x) = lambda * (x if x > 0 else alpha * (e^x - 1)) and
constants chosen so that the map g: (mean, variance) of a layer's inputs -> (mean, variance) of its outputs has the
fixed point (0, 1) and is a contraction there (Theorem 1), activations of deep feed-forward nets converge to zero
mean and unit variance by themselves, without batch normalisation; alpha dropout keeps that fixed point.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy import optimize
from scipy.stats import norm
from torch import nn


def moments(mu: float, omega: float, nu: float, tau: float, lam: float, alpha: float) -> tuple[float, float]:
    """The map g of Eq. (3)-(5): input mean mu and second moment nu of x, omega = sum w_i, tau = sum w_i^2;
    z = w^T x ~ N(mu * omega, nu * tau); returns (mean, variance) of selu(z) in closed form."""
    m, s = mu * omega, math.sqrt(nu * tau)
    pdf, cdf = norm.pdf, norm.cdf
    # positive part: moments of a rectified Gaussian; negative part: E[e^z 1{z<0}] through the Gaussian MGF
    e_pos = m * cdf(m / s) + s * pdf(m / s)
    e_neg = math.exp(m + s * s / 2) * cdf(-(m + s * s) / s) - cdf(-m / s)
    mean = lam * (e_pos + alpha * e_neg)
    e2_pos = (m * m + s * s) * cdf(m / s) + m * s * pdf(m / s)
    e2_neg = (math.exp(2 * m + 2 * s * s) * cdf(-(m + 2 * s * s) / s)
              - 2 * math.exp(m + s * s / 2) * cdf(-(m + s * s) / s) + cdf(-m / s))
    second = lam * lam * (e2_pos + alpha * alpha * e2_neg)
    return mean, second - mean * mean


def solve_constants(mu: float = 0.0, nu: float = 1.0, omega: float = 0.0, tau: float = 1.0) -> tuple[float, float]:
    """(alpha, lambda) whose map g has the fixed point (mu, nu) for normalised weights (Sec. 3, Eq. 8):
    solve mean(selu(z)) = mu and var(selu(z)) = nu for z ~ N(0, 1)."""
    def eqs(p):
        alpha, lam = p
        mean, var = moments(mu, omega, nu, tau, lam, alpha)
        return [mean - mu, var - nu]

    alpha, lam = optimize.fsolve(eqs, [1.5, 1.0], xtol=1e-14)
    return float(alpha), float(lam)


def jacobian(mu: float = 0.0, nu: float = 1.0, omega: float = 0.0, tau: float = 1.0, *, lam: float, alpha: float,
             eps: float = 1e-6) -> np.ndarray:
    """d(mean~, var~)/d(mu, nu) of g by central differences of the closed form (the paper's Eq. 9 Jacobian)."""
    J = np.zeros((2, 2))
    for j, (dm, dn) in enumerate(((eps, 0.0), (0.0, eps))):
        hi = moments(mu + dm, omega, nu + dn, tau, lam, alpha)
        lo = moments(mu - dm, omega, nu - dn, tau, lam, alpha)
        J[:, j] = (np.array(hi) - np.array(lo)) / (2 * eps)
    return J


def alpha_dropout_affine(q: float, *, lam: float, alpha: float) -> tuple[float, float, float]:
    """Alpha dropout (Sec. 5): dropped units are set to alpha' = -lambda * alpha (selu's saturation value), then
    a * x + b restores mean 0 and variance 1, with a = (q + alpha'^2 q (1 - q))^(-1/2), b = -a (1 - q) alpha'.
    q is the keep probability. Returns (alpha', a, b)."""
    ap = -lam * alpha
    a = (q + ap * ap * q * (1 - q)) ** -0.5
    return ap, a, -a * (1 - q) * ap


def alpha_dropout(x: torch.Tensor, q: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Alpha dropout with the paper's affine correction, using torch's SELU constants."""
    ap, a, b = alpha_dropout_affine(q, lam=SELU_LAMBDA, alpha=SELU_ALPHA)
    keep = torch.rand(x.shape, generator=generator) < q
    return a * torch.where(keep, x, torch.full_like(x, ap)) + b


SELU_ALPHA, SELU_LAMBDA = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946  # torch.nn.SELU's


def lecun_normal_(layer: nn.Linear) -> nn.Linear:
    """w ~ N(0, 1/n_in), bias 0: the initialisation that gives omega = 0, tau = 1 in expectation (Sec. 3)."""
    nn.init.normal_(layer.weight, 0.0, 1.0 / math.sqrt(layer.in_features))
    nn.init.zeros_(layer.bias)
    return layer


def mlp(*, in_features: int, num_classes: int, width: int = 128, depth: int = 32, activation: str = "selu",
        dropout: float = 0.0) -> nn.Sequential:
    """A plain deep feed-forward net. activation="selu": SNN (LeCun-normal init, alpha dropout);
    "relu": the FNN baseline (He init, no normalisation); "relu_bn": ReLU with He init and batch normalisation
    before each ReLU (the 'MSRAinit' and 'BatchNorm' FNNs of Sec. 4)."""
    layers: list[nn.Module] = []
    d = in_features
    for _ in range(depth):
        lin = nn.Linear(d, width)
        if activation == "selu":
            lecun_normal_(lin)
            layers += [lin, nn.SELU()] + ([nn.AlphaDropout(dropout)] if dropout else [])
        else:
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
            norm = [nn.BatchNorm1d(width)] if activation == "relu_bn" else []
            layers += [lin, *norm, nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        d = width
    layers.append(nn.Linear(d, num_classes))
    return nn.Sequential(*layers)
