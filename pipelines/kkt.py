"""KKT conditions (Goodfellow et al. 2016, Sec. 4.4) checked on problems solved with scipy.optimize.

Random convex QPs built backwards from a KKT point with binding inequalities (one per seed), two problems with
closed-form optima, and a nonconvex one where a KKT point is a maximum. The multipliers come from trust-constr and,
independently, from NNLS on the active set through the implementation's Lagrangian.
"""
from __future__ import annotations

import warnings

import numpy as np

from implementations.kkt import kkt_residuals, multipliers_from_active_set, solve


def random_qp(seed: int, n: int, inequalities: int, equalities: int, active: int) -> dict:
    """min 1/2 x^T Q x + c^T x  s.t.  G x - b <= 0, A x - d = 0, built backwards from a chosen KKT point.

    Q = M M^T + I (strictly convex). x* is drawn in the null space of A (d = 0); the first `active` inequalities
    are made to bind at x* (b_j = G_j x* > 0) and the others hold with slack; multipliers alpha* > 0 on the binding
    ones (0 elsewhere) and lambda* are drawn, and c = -(Q x* + G^T alpha* + A^T lambda*) makes (x*, alpha*, lambda*)
    satisfy all four KKT conditions with the textbook's signs. The optimum therefore has `active` binding
    inequalities by construction, and x = 0 is strictly feasible (Slater: h(0) = -b < 0, A 0 = d)."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    q = m @ m.T + np.eye(n)
    a = rng.standard_normal((equalities, n))
    null = np.eye(n) - a.T @ np.linalg.solve(a @ a.T, a) if equalities else np.eye(n)
    while True:
        x_star, big_g = null @ rng.standard_normal(n), rng.standard_normal((inequalities, n))
        gx = big_g @ x_star
        if np.abs(gx[:active]).min() > 0.2:  # binding rows well away from x = 0's boundary
            break
    big_g[:active] *= np.sign(gx[:active])[:, None]  # G_j x* > 0 on the binding rows
    gx = big_g @ x_star
    b = np.concatenate([gx[:active], np.maximum(gx[active:], 0) + rng.uniform(0.2, 1.0, inequalities - active)])
    alpha_star = np.concatenate([rng.uniform(0.5, 2.0, active), np.zeros(inequalities - active)])
    lam_star = rng.standard_normal(equalities)
    c = -(q @ x_star + big_g.T @ alpha_star + a.T @ lam_star)
    d = np.zeros(equalities)
    return {"f": lambda x: 0.5 * x @ q @ x + c @ x, "grad_f": lambda x: q @ x + c,
            "h": lambda x: big_g @ x - b, "jac_h": lambda x: big_g, "g": lambda x: a @ x - d, "jac_g": lambda x: a,
            "x_star": x_star, "alpha_star": alpha_star, "lam_star": lam_star}


def qp_checks(seed: int, cfg: dict) -> dict:
    p = random_qp(seed, cfg["qp_dim"], cfg["qp_inequalities"], cfg["qp_equalities"], cfg["qp_active"])
    fns = {k: p[k] for k in ("grad_f", "h", "jac_h", "g", "jac_g")}
    x0 = np.zeros(cfg["qp_dim"])
    x_tc, (alpha, lam) = solve(p["f"], x0, **fns)
    x_sq, _ = solve(p["f"], x0, **fns, method="SLSQP")
    res = kkt_residuals(x_tc, **fns, alpha=alpha, lam=lam)
    alpha_nnls, lam_nnls, nnls_residual = multipliers_from_active_set(x_sq, **fns)
    _, _, residual_at_start = multipliers_from_active_set(x0, **fns)  # control: x = 0 is feasible, not optimal
    return {**res, "residual_at_start": residual_at_start, "solver_gap": float(np.abs(x_tc - x_sq).max()),
            "nnls_residual": nnls_residual,
            "active": int((p["h"](x_tc) >= -1e-6).sum()),
            "multiplier_gap": float(max(np.abs(alpha - alpha_nnls).max(), np.abs(lam - lam_nnls).max())),
            "x_error_vs_constructed": float(max(np.abs(x_tc - p["x_star"]).max(), np.abs(x_sq - p["x_star"]).max())),
            "multiplier_error_vs_constructed": float(max(np.abs(alpha_nnls - p["alpha_star"]).max(),
                                                         np.abs(lam_nnls - p["lam_star"]).max()))}


def closed_form() -> dict:
    """min x1^2 + x2^2  s.t.  x1 + x2 >= 1: x* = (1/2, 1/2), alpha* = 1 (by hand: 2 x_i = alpha, x1 + x2 = 1).

    The multiplier is recovered at the solver's optimum by NNLS on the implementation's Lagrangian (a sign error in
    it leaves no alpha >= 0 that zeroes grad L); trust-constr's own multiplier is kept beside it."""
    p = {"grad_f": lambda x: 2 * x, "h": lambda x: np.array([1 - x[0] - x[1]]), "jac_h": lambda x: -np.ones((1, 2))}
    x, (alpha_tc, _) = solve(lambda x: x @ x, np.zeros(2), **p)
    alpha, _, residual = multipliers_from_active_set(x, **p)
    return {"x_error": float(np.abs(x - 0.5).max()), "alpha": float(alpha[0]), "alpha_trust_constr": float(alpha_tc[0]),
            "residual": max(residual, *kkt_residuals(x, **p, alpha=alpha).values())}


def nonlinear() -> dict:
    """min (x-2)^2 + (y-1)^2  s.t.  x^2 - y <= 0, x + y - 2 <= 0: x* = (1, 1), both active, alpha* = (2/3, 2/3)."""
    p = {"grad_f": lambda v: np.array([2 * (v[0] - 2), 2 * (v[1] - 1)]),
         "h": lambda v: np.array([v[0] ** 2 - v[1], v[0] + v[1] - 2]),
         "jac_h": lambda v: np.array([[2 * v[0], -1.0], [1.0, 1.0]])}
    x, (alpha_tc, _) = solve(lambda v: (v[0] - 2) ** 2 + (v[1] - 1) ** 2, np.array([0.0, 0.5]), **p)
    alpha, _, residual = multipliers_from_active_set(x, **p)
    return {"x_error": float(np.abs(x - 1.0).max()), "alpha": alpha.tolist(), "alpha_trust_constr": alpha_tc.tolist(),
            "residual": max(residual, *kkt_residuals(x, **p, alpha=alpha).values())}


def nonconvex(grid: int = 201, tol: float = 1e-9) -> dict:
    """min -x^2 on [-1, 1] (h = (x - 1, -1 - x) <= 0), no solver: every point of a grid over [-1, 1] is tested for the
    KKT conditions with multipliers from NNLS on the implementation's Lagrangian. The KKT points are x = 0
    (alpha = 0, the maximum of f) and the minima x = +-1 (alpha = 2 on the active bound)."""
    f = lambda x: -x ** 2  # noqa: E731
    p = {"grad_f": lambda x: -2 * x, "h": lambda x: np.array([x[0] - 1, -1 - x[0]]),
         "jac_h": lambda x: np.array([[1.0], [-1.0]])}
    kkt_points, alphas = [], {}
    for x in np.linspace(-1.0, 1.0, grid):
        alpha, _, residual = multipliers_from_active_set(np.array([x]), **p)
        if max(residual, *kkt_residuals(np.array([x]), **p, alpha=alpha).values()) <= tol:
            kkt_points.append(float(x))
        alphas[round(float(x), 12)] = alpha
    values = [f(x) for x in kkt_points]
    return {"kkt_points": kkt_points,
            "f_spread_over_kkt_points": (max(values) - min(values)) if values else 0.0,
            "f_min_over_kkt_points_minus_min": (min(values) - min(f(-1.0), f(1.0))) if values else float("inf"),
            "alpha_at_minima": [float(alphas[1.0][0]), float(alphas[-1.0][1])]}


def measure(cfg: dict, run) -> dict:
    warnings.filterwarnings("ignore", module="scipy.optimize")  # trust-constr's "delta_grad == 0" notices
    seeds = run.seeds(cfg["seeds"])
    qps = [qp_checks(s, cfg) for s in seeds]
    cf, nl, nc = closed_form(), nonlinear(), nonconvex()
    metrics = {f"qp_{k}": [q[k] for q in qps] for k in qps[0]}
    metrics.update({"closed_form_x_error": cf["x_error"], "closed_form_alpha": cf["alpha"],
                    "closed_form_alpha_trust_constr": cf["alpha_trust_constr"],
                    "closed_form_kkt_residual_max": cf["residual"],
                    "nonlinear_x_error": nl["x_error"], "nonlinear_alpha": nl["alpha"],
                    "nonlinear_alpha_trust_constr": nl["alpha_trust_constr"],
                    "nonlinear_kkt_residual_max": nl["residual"],
                    "nonconvex_kkt_points": len(nc["kkt_points"]),
                    "nonconvex_f_spread_over_kkt_points": nc["f_spread_over_kkt_points"],
                    "nonconvex_f_min_over_kkt_points_minus_min": nc["f_min_over_kkt_points_minus_min"],
                    "nonconvex_alpha_at_minima": nc["alpha_at_minima"]})
    return {"seeds": seeds, "metrics": metrics,
            "setting": {"qp": f"n = {cfg['qp_dim']}, Q = M M^T + I, {cfg['qp_inequalities']} inequalities of which "
                              f"{cfg['qp_active']} bind at the optimum (built backwards from a KKT point), "
                              f"{cfg['qp_equalities']} equality, x = 0 strictly feasible; one QP per seed",
                        "solvers": "scipy.optimize trust-constr (multipliers) and SLSQP; NNLS on the active set",
                        "nonconvex": "min -x^2 on [-1, 1]: KKT conditions tested on a 201-point grid, tolerance 1e-9",
                        "nonconvex_kkt_points": nc["kkt_points"]}}
