"""KKT conditions (Goodfellow et al. 2016, Sec. 4.4): residuals, multipliers, scipy's sign conventions."""
import warnings

import numpy as np

from implementations.kkt import kkt_residuals, multipliers_from_active_set, solve
from pipelines.kkt import closed_form, nonconvex, qp_checks

warnings.filterwarnings("ignore", module="scipy.optimize")
SQUARE = {"grad_f": lambda x: 2 * x, "h": lambda x: np.array([1 - x[0] - x[1]]), "jac_h": lambda x: -np.ones((1, 2))}


def test_residuals_at_the_known_optimum_are_zero_and_elsewhere_not():
    assert max(kkt_residuals(np.array([0.5, 0.5]), **SQUARE, alpha=[1.0]).values()) == 0
    r = kkt_residuals(np.array([1.0, 1.0]), **SQUARE, alpha=[1.0])  # feasible, not optimal
    assert r["stationarity"] == 1.0 and r["complementary_slackness"] == 1.0
    assert kkt_residuals(np.array([0.0, 0.0]), **SQUARE, alpha=[-1.0])["dual_feasibility"] == 1.0
    assert kkt_residuals(np.array([0.0, 0.0]), **SQUARE, alpha=[0.0])["primal_feasibility"] == 1.0


def test_trust_constr_multiplier_signs():
    _, (alpha, _) = solve(lambda x: x @ x, np.zeros(2), **SQUARE)
    assert abs(alpha[0] - 1) < 1e-6  # inequality multiplier comes out >= 0
    g = {"g": lambda x: np.array([x[0] + x[1] - 1]), "jac_g": lambda x: np.ones((1, 2))}
    x, (_, lam) = solve(lambda x: x @ x, np.zeros(2), grad_f=SQUARE["grad_f"], **g)
    assert kkt_residuals(x, grad_f=SQUARE["grad_f"], **g, lam=lam)["stationarity"] < 1e-8 and lam[0] < 0


def test_nnls_multipliers_and_the_empty_active_set():
    alpha, _, res = multipliers_from_active_set(np.array([0.5, 0.5]), **SQUARE)
    assert abs(alpha[0] - 1) < 1e-12 and res < 1e-12
    alpha, _, res = multipliers_from_active_set(np.array([2.0, 2.0]), **SQUARE)  # nothing active, not stationary
    assert alpha[0] == 0 and abs(res - np.linalg.norm([4.0, 4.0])) < 1e-12


def test_pipeline_problems():
    assert closed_form()["x_error"] < 1e-6
    nc = nonconvex()
    assert nc["kkt_residual_max"] < 1e-12 and nc["alpha_at_minima"] == [2.0, 2.0]
    q = qp_checks(0, {"qp_dim": 4, "qp_inequalities": 3, "qp_equalities": 1})
    assert q["residual_at_start"] > 1 and q["stationarity"] < 1e-5
