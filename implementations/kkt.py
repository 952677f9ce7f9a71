"""The Karush-Kuhn-Tucker conditions of constrained optimisation.

Goodfellow, Bengio, Courville. Deep Learning, MIT Press 2016, Section 4.4 "Constrained Optimization".
https://www.deeplearningbook.org/contents/numerical.html (the index's "MathBehind" notebook follows it)

Idea: to minimise f(x) subject to g_i(x) = 0 and h_j(x) <= 0, form the generalized Lagrangian
L(x, lambda, alpha) = f(x) + sum_i lambda_i g_i(x) + sum_j alpha_j h_j(x) (Eq. 4.14). At an optimum (under a
constraint qualification) grad_x L = 0, all constraints hold, alpha >= 0 and alpha * h(x) = 0 (the KKT conditions,
Sec. 4.4). They are necessary; for a convex problem with affine constraints they are also sufficient.

Notation is the book's: g = equalities with multipliers lambda, h = inequalities (<= 0) with multipliers alpha.
Pure numpy/scipy: the maths of the notebook, not a network.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.optimize import NonlinearConstraint, minimize, nnls

Fn = Callable[[np.ndarray], np.ndarray]


def _empty(x: np.ndarray) -> np.ndarray:
    return np.zeros(0)


def _empty_jac(x: np.ndarray) -> np.ndarray:
    return np.zeros((0, x.size))


def lagrangian_grad(x, *, grad_f: Fn, jac_h: Fn = _empty_jac, jac_g: Fn = _empty_jac, alpha=(), lam=()) -> np.ndarray:
    """grad_x L(x, lambda, alpha) = grad f(x) + sum_i lambda_i grad g_i(x) + sum_j alpha_j grad h_j(x) (Eq. 4.14).

    The one place where the Lagrangian's signs live: the KKT residuals and the multiplier recovery both use it."""
    alpha, lam = np.asarray(alpha, float), np.asarray(lam, float)
    return grad_f(x) + jac_g(x).T @ lam + jac_h(x).T @ alpha


def kkt_residuals(x, *, grad_f: Fn, h: Fn = _empty, jac_h: Fn = _empty_jac, g: Fn = _empty, jac_g: Fn = _empty_jac,
                  alpha=(), lam=()) -> dict[str, float]:
    """The four KKT conditions of Sec. 4.4 as non-negative residuals (0 means exactly satisfied)."""
    alpha, lam = np.asarray(alpha, float), np.asarray(lam, float)
    hx, gx = np.atleast_1d(h(x)), np.atleast_1d(g(x))
    grad_l = lagrangian_grad(x, grad_f=grad_f, jac_h=jac_h, jac_g=jac_g, alpha=alpha, lam=lam)
    return {
        "stationarity": float(np.abs(grad_l).max()),
        "primal_feasibility": float(max(np.max(hx, initial=0.0), np.max(np.abs(gx), initial=0.0))),
        "dual_feasibility": float(max(0.0, -np.min(alpha, initial=0.0))),  # alpha >= 0
        "complementary_slackness": float(np.max(np.abs(alpha * hx), initial=0.0)),  # alpha ⊙ h(x) = 0
    }


def multipliers_from_active_set(x, *, grad_f: Fn, h: Fn = _empty, jac_h: Fn = _empty_jac, g: Fn = _empty,
                                jac_g: Fn = _empty_jac, active_tol: float = 1e-6):
    """Recover (alpha, lambda) at x independently of any solver: non-negative least squares on the active set.

    Inactive inequalities get alpha_j = 0 (complementary slackness); the rest solve
    min ||grad_x L(x, lambda, alpha)|| with alpha_active >= 0 and lambda free (= lambda+ - lambda-). grad_x L is
    affine in the multipliers, so the least-squares system is read off lagrangian_grad itself: its value at zero
    multipliers plus one column per unit multiplier. Returns alpha, lambda and the stationarity residual left
    (0 iff x is a KKT point).
    """
    hx = np.atleast_1d(h(x))
    m_h, m_g = hx.size, np.atleast_1d(g(x)).size
    active = np.flatnonzero(hx >= -active_tol)
    grad = lambda a, l: lagrangian_grad(x, grad_f=grad_f, jac_h=jac_h, jac_g=jac_g, alpha=a, lam=l)  # noqa: E731
    base = grad(np.zeros(m_h), np.zeros(m_g))
    cols = [grad(np.eye(m_h)[j], np.zeros(m_g)) - base for j in active]
    cols += [grad(np.zeros(m_h), np.eye(m_g)[i]) - base for i in range(m_g)]
    cols += [-(grad(np.zeros(m_h), np.eye(m_g)[i]) - base) for i in range(m_g)]
    if not cols:  # nothing active, no equalities: x is a KKT point iff grad f(x) = 0
        coef, residual = np.zeros(0), float(np.linalg.norm(base))
    else:
        coef, residual = nnls(np.column_stack(cols), -base)
    alpha = np.zeros(m_h)
    alpha[active] = coef[:active.size]
    lam = coef[active.size:active.size + m_g] - coef[active.size + m_g:]
    return alpha, lam, float(residual)


def solve(f: Fn, x0, *, grad_f: Fn, h: Fn | None = None, jac_h: Fn | None = None, g: Fn | None = None,
          jac_g: Fn | None = None, method: str = "trust-constr", tol: float = 1e-12):
    """Minimise with scipy.optimize; trust-constr also returns its multipliers (alpha, lambda), SLSQP returns None.

    scipy's trust-constr reports v with grad f + J^T v = 0 for each constraint object, so for h(x) <= 0 written
    as -inf <= h(x) <= 0 its v is alpha directly, and for g(x) = 0 its v is lambda.
    """
    constraints = []
    if h is not None:
        constraints.append(NonlinearConstraint(h, -np.inf, 0.0, jac=jac_h))
    if g is not None:
        constraints.append(NonlinearConstraint(g, 0.0, 0.0, jac=jac_g))
    if method == "SLSQP":  # SLSQP's convention: fun(x) >= 0 for inequalities
        cons = ([{"type": "ineq", "fun": lambda x: -h(x), "jac": lambda x: -jac_h(x)}] if h is not None else []) + \
               ([{"type": "eq", "fun": g, "jac": jac_g}] if g is not None else [])
        res = minimize(f, x0, jac=grad_f, constraints=cons, method="SLSQP", options={"ftol": tol, "maxiter": 1000})
        return res.x, None
    res = minimize(f, x0, jac=grad_f, constraints=constraints, method="trust-constr",
                   options={"gtol": tol, "xtol": tol, "maxiter": 5000})
    v = [np.asarray(vi, float) for vi in res.v]
    alpha = v.pop(0) if h is not None else np.zeros(0)
    lam = v.pop(0) if g is not None else np.zeros(0)
    return res.x, (alpha, lam)
