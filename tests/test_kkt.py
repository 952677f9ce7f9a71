"""KKT conditions (Goodfellow et al. 2016, Sec. 4.4): residuals, multipliers, scipy's sign conventions."""
import warnings

import numpy as np

from implementations.kkt import kkt_residuals, multipliers_from_active_set, solve
from pipelines.kkt import closed_form, measure, nonconvex, qp_checks, random_qp

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
    assert nc["kkt_points"] == [-1.0, 0.0, 1.0] and nc["alpha_at_minima"] == [2.0, 2.0]
    q = qp_checks(0, {"qp_dim": 4, "qp_inequalities": 3, "qp_equalities": 1, "qp_active": 2})
    assert q["residual_at_start"] > 1 and q["stationarity"] < 1e-5 and q["active"] == 2


def test_constructed_qp_has_its_kkt_point_and_binding_constraints():
    p = random_qp(3, 6, 4, 1, 2)
    fns = {k: p[k] for k in ("grad_f", "h", "jac_h", "g", "jac_g")}
    r = kkt_residuals(p["x_star"], **fns, alpha=p["alpha_star"], lam=p["lam_star"])
    assert max(r.values()) < 1e-12
    hx = p["h"](p["x_star"])
    assert np.abs(hx[:2]).max() < 1e-12 and hx[2:].max() < -0.1 and (p["alpha_star"][:2] > 0).all()
    assert p["h"](np.zeros(6)).max() < 0 and np.abs(p["g"](np.zeros(6))).max() == 0  # x = 0 strictly feasible


def _claims_on(metrics):
    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file
    from pipelines.shared.common import REPO

    cf = load_claim_file(REPO / "claims" / "kkt.yaml")
    measured = {"paper": "kkt", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims}


class _Run:
    seeds = staticmethod(lambda n: list(range(n)))


CFG = {"qp_dim": 6, "qp_inequalities": 4, "qp_active": 2, "qp_equalities": 1, "seeds": 3}
MULTIPLIER_CLAIMS = {"kkt_stationarity_at_optimum", "kkt_multipliers_independent", "kkt_multipliers_agree",
                     "kkt_closed_form_multiplier", "kkt_nonlinear_multipliers", "kkt_necessary_not_sufficient",
                     "kkt_nonconvex_minima_multipliers"}


def test_every_claim_reproduces_on_the_stage():
    assert set(_claims_on(measure(CFG, _Run())["metrics"]).values()) == {"reproduced"}


def test_a_sign_flipped_lagrangian_fails_the_multiplier_claims(monkeypatch):
    """grad f - J^T alpha instead of grad f + J^T alpha (the Lagrangian of Eq. 4.14 with the wrong sign): no claim
    that involves the multipliers may still reproduce."""
    import implementations.kkt as impl

    right = impl.lagrangian_grad
    monkeypatch.setattr(impl, "lagrangian_grad", lambda x, *, grad_f, jac_h=impl._empty_jac, jac_g=impl._empty_jac,
                        alpha=(), lam=(): 2 * grad_f(x) - right(x, grad_f=grad_f, jac_h=jac_h, jac_g=jac_g, alpha=alpha,
                                                                  lam=lam))
    verdicts = _claims_on(measure(CFG, _Run())["metrics"])
    assert {c for c in MULTIPLIER_CLAIMS if verdicts[c] == "reproduced"} == set()


def test_a_solver_multiplier_read_with_the_wrong_sign_fails(monkeypatch):
    """trust-constr's multipliers negated (scipy's sign convention misread): stationarity and agreement fail."""
    import pipelines.kkt as stage

    def flipped(*a, **k):
        x, mult = solve(*a, **k)
        return x, (None if mult is None else tuple(-m for m in mult))

    monkeypatch.setattr(stage, "solve", flipped)
    verdicts = _claims_on(measure(CFG, _Run())["metrics"])
    assert verdicts["kkt_stationarity_at_optimum"] != "reproduced" and verdicts["kkt_multipliers_agree"] != "reproduced"
    assert verdicts["kkt_dual_feasibility"] != "reproduced"
