import math

import numpy as np
import torch

from implementations.selu import SELU_ALPHA, SELU_LAMBDA, alpha_dropout_affine, jacobian, mlp, moments, solve_constants


def test_constants_solve_the_fixed_point_equations():
    alpha, lam = solve_constants()
    assert math.isclose(alpha, 1.6732632423543772, abs_tol=1e-9) and math.isclose(lam, 1.0507009873554805, abs_tol=1e-9)
    mean, var = moments(0.0, 0.0, 1.0, 1.0, lam, alpha)
    assert abs(mean) < 1e-12 and abs(var - 1) < 1e-12


def test_closed_form_moments_match_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu, omega, nu, tau = 0.2, 1.5, 1.3, 0.9  # z ~ N(0.3, 1.17)
    z = 0.3 + math.sqrt(1.17) * torch.randn(2_000_000, generator=g, dtype=torch.float64)
    y = torch.nn.functional.selu(z)
    mean, var = moments(mu, omega, nu, tau, SELU_LAMBDA, SELU_ALPHA)
    assert abs(y.mean().item() - mean) < 3e-3 and abs(y.var().item() - var) < 5e-3


def test_jacobian_at_the_fixed_point():
    J = jacobian(lam=SELU_LAMBDA, alpha=SELU_ALPHA)
    np.testing.assert_allclose(J, [[0, 0.0888], [0, 0.7826]], atol=5e-4)


def test_alpha_dropout_parameters_at_q_095():
    ap, a, b = alpha_dropout_affine(0.95, lam=SELU_LAMBDA, alpha=SELU_ALPHA)
    assert round(ap, 4) == -1.7581 and round(a, 4) == 0.9548 and round(b, 4) == 0.0839


def test_alpha_dropout_matches_torch():
    """torch.nn.AlphaDropout implements the same affine correction (p = 1 - q)."""
    ap, a, b = alpha_dropout_affine(0.9, lam=SELU_LAMBDA, alpha=SELU_ALPHA)
    x = torch.randn(100_000)
    drop = torch.nn.AlphaDropout(0.1).train()
    y = drop(x)
    kept = torch.isclose(y, a * x + b)
    assert torch.allclose(y[~kept], torch.tensor(a * ap + b))


def test_snn_uses_lecun_normal():
    torch.manual_seed(0)
    net = mlp(in_features=256, num_classes=10, width=256, depth=2)
    assert abs(net[0].weight.std().item() - 1 / 16) < 2e-3 and net[0].bias.abs().max() == 0
