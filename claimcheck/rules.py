"""Rules that turn a measurement into a verdict.

Exact rules (structural and analytical claims; on a list of per-seed values every value must satisfy them):
    equals: 1248424                       exact
    equals: {value: 0.7877, abs: 5e-4}    |x - value| <= abs + rel * |value|  (value defaults to `claimed`)
    at_least: 45  /  at_most: 1.0  /  between: [45, 55]

Statistical rules over per-seed samples (Student t; `alpha` defaults to 0.05):
    greater_than: 0.02                    H1: mean > 0.02
    less_than: 0.15                       H1: mean < 0.15
    noninferior: {margin: 0.005, reference: 0, better: higher}   H1: mean > reference - margin
    equivalent: {margin: 0.01, reference: 0}                     TOST, H1: |mean - reference| < margin

A statistical verdict is `reproduced` when the one-sided (1 - alpha) bound clears the threshold, `not_reproduced`
when the opposite one-sided test rejects (the interval lies wholly on the wrong side), and `inconclusive` when
the (1 - 2 alpha) interval straddles the threshold. The interval and the p-value are kept with every verdict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

EXACT_RULES = ("equals", "at_least", "at_most", "between")
STAT_RULES = ("greater_than", "less_than", "noninferior", "equivalent")

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not_reproduced", "inconclusive"
NOT_MEASURED, INVALID = "not_measured", "invalid"


class RuleError(ValueError):
    """The rule in a claim file is malformed."""


class MeasurementError(ValueError):
    """The measured value cannot be checked (missing, NaN, not a number, too few samples)."""


@dataclass(frozen=True)
class Rule:
    name: str
    lo: float | None = None  # the pass region is [lo, hi] (exact) or (lo, hi) (statistical), either end open
    hi: float | None = None
    alpha: float = 0.05
    text: str = ""

    @property
    def statistical(self) -> bool:
        return self.name in STAT_RULES


@dataclass
class Outcome:
    verdict: str
    value: float  # the value (exact) or the mean (statistical)
    n: int
    interval: tuple[float, float] | None  # [min, max] of the values (exact) or the (1 - 2 alpha) t-interval
    p_value: float | None
    detail: str


def _num(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise RuleError(f"{what} must be a number, got {x!r}")
    if not math.isfinite(x):
        raise RuleError(f"{what} must be finite, got {x!r}")
    return float(x)


def _fmt(x: float | None) -> str:
    return "-inf" if x is None else f"{x:.6g}"


def parse_rule(check: dict, claimed: Any = None) -> Rule:
    """Parse `check` ({rule: argument, alpha?: a}) into a Rule with its pass region."""
    has_alpha = "alpha" in check
    alpha = check.pop("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise RuleError(f"alpha must be a number in (0, 0.5), got {alpha!r}")
    names = [k for k in check if k in EXACT_RULES + STAT_RULES]
    unknown = [k for k in check if k not in EXACT_RULES + STAT_RULES]
    if unknown:
        raise RuleError(f"unknown rule {unknown[0]!r} (rules: {', '.join(EXACT_RULES + STAT_RULES)})")
    if len(names) != 1:
        raise RuleError(f"check must hold exactly one rule, got {len(names)}")
    name, arg = names[0], check[names[0]]
    if name in EXACT_RULES and has_alpha:
        raise RuleError("alpha applies to statistical rules only")
    if name == "equals":
        if isinstance(arg, dict):
            extra = set(arg) - {"value", "rel", "abs"}
            if extra:
                raise RuleError(f"equals takes value, rel, abs; got {sorted(extra)[0]!r}")
            value = arg.get("value", claimed)
            if value is None:
                raise RuleError("equals needs a value (or the claim's `claimed`)")
            value = _num(value, "equals.value")
            tol = _num(arg.get("abs", 0), "equals.abs") + _num(arg.get("rel", 0), "equals.rel") * abs(value)
            if tol < 0:
                raise RuleError("tolerances must be >= 0")
            text = f"equals {value:.6g}" + (f" +/- {tol:.3g}" if tol else " exactly")
            return Rule(name, value - tol, value + tol, text=text)
        value = _num(arg, "equals")
        return Rule(name, value, value, text=f"equals {value:.6g} exactly")
    if name == "at_least":
        return Rule(name, _num(arg, "at_least"), None, text=f">= {_num(arg, 'at_least'):.6g}")
    if name == "at_most":
        return Rule(name, None, _num(arg, "at_most"), text=f"<= {_num(arg, 'at_most'):.6g}")
    if name == "between":
        if not isinstance(arg, list) or len(arg) != 2:
            raise RuleError("between takes [low, high]")
        lo, hi = _num(arg[0], "between[0]"), _num(arg[1], "between[1]")
        if lo > hi:
            raise RuleError("between: low > high")
        return Rule(name, lo, hi, text=f"in [{lo:.6g}, {hi:.6g}]")
    if name == "greater_than":
        t = _num(arg, "greater_than")
        return Rule(name, t, None, alpha, text=f"mean > {t:.6g} (one-sided t, alpha={alpha})")
    if name == "less_than":
        t = _num(arg, "less_than")
        return Rule(name, None, t, alpha, text=f"mean < {t:.6g} (one-sided t, alpha={alpha})")
    if not isinstance(arg, dict) or "margin" not in arg:
        raise RuleError(f"{name} takes {{margin: m, reference: r}}")
    extra = set(arg) - {"margin", "reference", "better"}
    if extra:
        raise RuleError(f"{name} takes margin, reference, better; got {sorted(extra)[0]!r}")
    margin = _num(arg["margin"], f"{name}.margin")
    if margin < 0:
        raise RuleError("margin must be >= 0")
    if name == "noninferior":
        ref = _num(arg.get("reference", 0), "noninferior.reference")
        better = arg.get("better", "higher")
        if better not in ("higher", "lower"):
            raise RuleError("noninferior.better is `higher` or `lower`")
        if better == "higher":
            return Rule(name, ref - margin, None, alpha, text=f"mean > {ref - margin:.6g} (non-inferior to {ref:.6g} by margin {margin:.6g}, alpha={alpha})")
        return Rule(name, None, ref + margin, alpha, text=f"mean < {ref + margin:.6g} (non-inferior to {ref:.6g} by margin {margin:.6g}, lower is better, alpha={alpha})")
    ref = arg.get("reference", claimed)
    if ref is None:
        raise RuleError("equivalent needs a reference (or the claim's `claimed`)")
    ref = _num(ref, "equivalent.reference")
    return Rule(name, ref - margin, ref + margin, alpha, text=f"|mean - {ref:.6g}| < {margin:.6g} (TOST, alpha={alpha})")


def values_of(measured: Any) -> list[float]:
    """The measured value(s) as a list of finite floats, or MeasurementError."""
    values = measured if isinstance(measured, list) else [measured]
    if not values:
        raise MeasurementError("the measurement is an empty list")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MeasurementError(f"the measurement must be a number or a list of numbers, got {v!r}")
        if not math.isfinite(v):
            raise MeasurementError(f"the measurement is not finite ({v})")
        out.append(float(v))
    return out


def evaluate(rule: Rule, measured: Any) -> Outcome:
    xs = values_of(measured)
    if not rule.statistical:
        ok = all((rule.lo is None or x >= rule.lo) and (rule.hi is None or x <= rule.hi) for x in xs)
        value = xs[0] if len(xs) == 1 else sum(xs) / len(xs)
        detail = f"measured {_fmt(value)}" if len(xs) == 1 else f"{len(xs)} values in [{_fmt(min(xs))}, {_fmt(max(xs))}]"
        return Outcome(REPRODUCED if ok else NOT_REPRODUCED, value, len(xs), (min(xs), max(xs)), None,
                       f"{detail}; rule {rule.text}")
    return _t_verdict(rule, xs)


def _t_verdict(rule: Rule, xs: list[float]) -> Outcome:
    from scipy import stats

    n = len(xs)
    if n < 2:
        raise MeasurementError(f"a statistical rule needs per-seed samples, got {n} value")
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    se = sd / math.sqrt(n)
    tq = stats.t.ppf(1 - rule.alpha, n - 1)
    lo_ci, hi_ci = mean - tq * se, mean + tq * se

    def p_greater(theta: float) -> float:  # p-value of H0: mean <= theta
        return float(stats.t.sf((mean - theta) / se, n - 1))

    def p_less(theta: float) -> float:  # p-value of H0: mean >= theta
        return float(stats.t.cdf((mean - theta) / se, n - 1))

    a = rule.alpha
    if se == 0:  # identical samples (e.g. every seed at 100%): the comparison is exact
        inside = (rule.lo is None or mean > rule.lo) and (rule.hi is None or mean < rule.hi)
        verdict, p = (REPRODUCED, 0.0) if inside else (NOT_REPRODUCED, 1.0)
    elif rule.name == "equivalent":
        p = max(p_greater(rule.lo), p_less(rule.hi))
        if p < a:
            verdict = REPRODUCED
        elif p_less(rule.lo) < a or p_greater(rule.hi) < a:
            verdict = NOT_REPRODUCED
        else:
            verdict = INCONCLUSIVE
    elif rule.lo is not None:  # greater_than, noninferior (higher is better)
        p = p_greater(rule.lo)
        verdict = REPRODUCED if p < a else NOT_REPRODUCED if p_less(rule.lo) < a else INCONCLUSIVE
    else:  # less_than, noninferior (lower is better)
        p = p_less(rule.hi)
        verdict = REPRODUCED if p < a else NOT_REPRODUCED if p_greater(rule.hi) < a else INCONCLUSIVE
    detail = (f"mean {_fmt(mean)} (sd {_fmt(sd)}, n={n}), {100 * (1 - 2 * a):.0f}% CI [{_fmt(lo_ci)}, {_fmt(hi_ci)}], "
              f"p={p:.3g}; rule {rule.text}")
    return Outcome(verdict, mean, n, (lo_ci, hi_ci), p, detail)
