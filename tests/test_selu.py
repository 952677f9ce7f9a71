import math

import numpy as np
import torch

from implementations.selu import (
    SELU_ALPHA,
    SELU_LAMBDA,
    alpha_dropout_affine,
    jacobian,
    mlp,
    moments,
    solve_constants,
)


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


def test_torch_selu_uses_the_solved_constants():
    """Read-back (was a claim): torch's SELU is lambda * (x if x > 0 else alpha (e^x - 1)) with the solved constants."""
    alpha, lam = solve_constants()
    assert max(abs(alpha - SELU_ALPHA), abs(lam - SELU_LAMBDA)) < 1e-9
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    by_hand = lam * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))
    assert torch.allclose(torch.nn.functional.selu(x), by_hand, atol=1e-12)


def test_fnn_uses_he_init():
    torch.manual_seed(0)
    net = mlp(in_features=256, num_classes=10, width=256, depth=2, activation="relu")
    assert abs(net[0].weight.std().item() - math.sqrt(2 / 256)) < 3e-3 and net[0].bias.abs().max() == 0


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim
from claimcheck.schema import load_claim_file
from pipelines import selu as stage
from pipelines.shared.common import REPO

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "selu.yaml").claims}


def _verdict(cid, metrics):
    return check_claim(CLAIMS[cid], {"paper": "selu", "profile": "cpu", "metrics": metrics}).verdict


def test_snn_arm_replaced_by_the_fnn_cannot_pass_snn_beats_fnn():
    """The broken factor: both arms are the FNN (ReLU + He + BN; same seed, same batches): the differences are exactly
    0 and the superiority rule does not reproduce."""
    cfg = {"width": 16, "depths": [2, 4], "lrs": [0.003, 0.03], "n_val": 100, "batch_size": 64, "epochs": 1, "train_limit": 128}
    runs = [stage.snn_vs_fnn(cfg, s, arms=("relu_bn", "relu_bn")) for s in range(5)]
    diff = [r["snn"] - r["fnn"] for r in runs]
    assert diff == [0.0] * 5
    metrics = {"test_acc_snn_minus_fnn": diff, "test_acc_snn": [0.95] * 5, "test_acc_fnn_relu": [0.9] * 5}
    assert _verdict("snn_beats_fnn", metrics) != "reproduced"


def test_alpha_dropout_without_its_correction_fails_the_dropout_claims():
    """The broken factor: no affine correction (a = 1, b = 0). The mean and variance claims must not reproduce."""
    cfg = {"mc_samples": 8, "mc_width": 8, "mc_depth": 2, "dropout_samples": 100_000}
    runs = [stage.monte_carlo(cfg, s) for s in range(5)]
    metrics = {"alpha_dropout_q0.9_mean": [r["uncorrected_0.9"][0] for r in runs],
               "alpha_dropout_q0.9_var": [r["uncorrected_0.9"][1] for r in runs],
               "uncorrected_dropout_q0.9_mean": [r["uncorrected_0.9"][0] for r in runs],
               "uncorrected_dropout_q0.9_var": [r["uncorrected_0.9"][1] for r in runs]}
    assert _verdict("alpha_dropout_keeps_mean_zero", metrics) == "not_reproduced"
    assert _verdict("alpha_dropout_keeps_variance_one", metrics) == "not_reproduced"
    corrected = {**metrics, "alpha_dropout_q0.9_mean": [r["dropout_0.9"][0] for r in runs],
                 "alpha_dropout_q0.9_var": [r["dropout_0.9"][1] for r in runs]}
    assert _verdict("alpha_dropout_keeps_mean_zero", corrected) == "reproduced"
