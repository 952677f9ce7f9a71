"""KKT conditions (Goodfellow et al. 2016, Sec. 4.4) checked on problems solved with scipy.optimize.

Random convex QPs (one per seed), two problems with closed-form optima, and a nonconvex one where a KKT point
is a maximum. The multipliers come from trust-constr and, independently, from NNLS on the active set.
"""
from __future__ import annotations

import warnings

import numpy as np

from implementations.kkt import kkt_residuals, multipliers_from_active_set, solve


def random_qp(seed: int, n: int, inequalities: int, equalities: int) -> dict:
    """min 1/2 x^T Q x + c^T x  s.t.  G x - b <= 0, A x - d = 0, Q = M M^T + I (strictly convex), feasible at 0."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    q, c = m @ m.T + np.eye(n), 5 * rng.standard_normal(n)  # a large linear term: constraints bind
    big_g, a = rng.standard_normal((inequalities, n)), rng.standard_normal((equalities, n))
    b, d = rng.uniform(0.1, 1.0, inequalities), np.zeros(equalities)  # x = 0 strictly feasible: Slater holds
    return {"f": lambda x: 0.5 * x @ q @ x + c @ x, "grad_f": lambda x: q @ x + c,
            "h": lambda x: big_g @ x - b, "jac_h": lambda x: big_g, "g": lambda x: a @ x - d, "jac_g": lambda x: a}


def qp_checks(seed: int, cfg: dict) -> dict:
    p = random_qp(seed, cfg["qp_dim"], cfg["qp_inequalities"], cfg["qp_equalities"])
    fns = {k: p[k] for k in ("grad_f", "h", "jac_h", "g", "jac_g")}
    x0 = np.zeros(cfg["qp_dim"])
    x_tc, (alpha, lam) = solve(p["f"], x0, **fns)
    x_sq, _ = solve(p["f"], x0, **fns, method="SLSQP")
    res = kkt_residuals(x_tc, **fns, alpha=alpha, lam=lam)
    alpha_nnls, lam_nnls, nnls_residual = multipliers_from_active_set(x_sq, **fns)
    _, _, residual_at_start = multipliers_from_active_set(x0, **fns)  # control: x = 0 is feasible, not optimal
    return {**res, "residual_at_start": residual_at_start, "solver_gap": float(np.abs(x_tc - x_sq).max()), "nnls_residual": nnls_residual,
            "active": int((alpha_nnls > 1e-8).sum()),
            "multiplier_gap": float(max(np.abs(alpha - alpha_nnls).max(), np.abs(lam - lam_nnls).max()))}


def closed_form() -> dict:
    """min x1^2 + x2^2  s.t.  x1 + x2 >= 1: x* = (1/2, 1/2), alpha* = 1 (by hand: 2 x_i = alpha, x1 + x2 = 1)."""
    p = {"grad_f": lambda x: 2 * x, "h": lambda x: np.array([1 - x[0] - x[1]]), "jac_h": lambda x: -np.ones((1, 2))}
    x, (alpha, _) = solve(lambda x: x @ x, np.zeros(2), **p)
    return {"x_error": float(np.abs(x - 0.5).max()), "alpha": float(alpha[0]),
            "stationarity": kkt_residuals(x, **p, alpha=alpha)["stationarity"]}


def nonlinear() -> dict:
    """min (x-2)^2 + (y-1)^2  s.t.  x^2 - y <= 0, x + y - 2 <= 0: x* = (1, 1), both active, alpha* = (2/3, 2/3)."""
    p = {"grad_f": lambda v: np.array([2 * (v[0] - 2), 2 * (v[1] - 1)]),
         "h": lambda v: np.array([v[0] ** 2 - v[1], v[0] + v[1] - 2]),
         "jac_h": lambda v: np.array([[2 * v[0], -1.0], [1.0, 1.0]])}
    x, (alpha, _) = solve(lambda v: (v[0] - 2) ** 2 + (v[1] - 1) ** 2, np.array([0.0, 0.5]), **p)
    return {"x_error": float(np.abs(x - 1.0).max()), "alpha": alpha.tolist(),
            "residual": max(kkt_residuals(x, **p, alpha=alpha).values())}


def nonconvex() -> dict:
    """min -x^2 on [-1, 1] (h = (x - 1, -1 - x) <= 0): x = 0 is a KKT point (alpha = 0) but the maximum of f;
    the minima x = +-1 are KKT points with alpha = 2. Multipliers from NNLS on the active set, no solver."""
    f = lambda x: -x ** 2  # noqa: E731
    p = {"grad_f": lambda x: -2 * x, "h": lambda x: np.array([x[0] - 1, -1 - x[0]]),
         "jac_h": lambda x: np.array([[1.0], [-1.0]])}
    out = {}
    for x in (-1.0, 0.0, 1.0):
        alpha, _, residual = multipliers_from_active_set(np.array([x]), **p)
        out[x] = (alpha, max(residual, *kkt_residuals(np.array([x]), **p, alpha=alpha).values()))
    return {"kkt_residual_max": max(r for _, r in out.values()),
            "f_at_kkt_point_0_minus_min": f(0.0) - min(f(-1.0), f(1.0)),
            "alpha_at_minima": [float(out[1.0][0][0]), float(out[-1.0][0][1])]}


def measure(cfg: dict, run) -> dict:
    warnings.filterwarnings("ignore", module="scipy.optimize")  # trust-constr's "delta_grad == 0" notices
    seeds = run.seeds(cfg["seeds"])
    qps = [qp_checks(s, cfg) for s in seeds]
    cf, nl, nc = closed_form(), nonlinear(), nonconvex()
    metrics = {f"qp_{k}": [q[k] for q in qps] for k in qps[0]}
    metrics.update({"closed_form_x_error": cf["x_error"], "closed_form_alpha": cf["alpha"],
                    "closed_form_stationarity": cf["stationarity"],
                    "nonlinear_x_error": nl["x_error"], "nonlinear_alpha": nl["alpha"],
                    "nonlinear_kkt_residual_max": nl["residual"],
                    "nonconvex_kkt_residual_max": nc["kkt_residual_max"],
                    "nonconvex_f_at_kkt_point_0_minus_min": nc["f_at_kkt_point_0_minus_min"],
                    "nonconvex_alpha_at_minima": nc["alpha_at_minima"]})
    return {"seeds": seeds, "metrics": metrics,
            "setting": {"qp": f"n = {cfg['qp_dim']}, Q = M M^T + I, {cfg['qp_inequalities']} inequalities, "
                              f"{cfg['qp_equalities']} equality, x = 0 strictly feasible; one QP per seed",
                        "solvers": "scipy.optimize trust-constr (multipliers) and SLSQP; NNLS on the active set"}}
