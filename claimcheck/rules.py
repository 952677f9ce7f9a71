"""Rules that turn a measurement into a verdict, and gates that say whether the experiment worked at all.

Exact rules (structural and analytical claims; on a list of per-seed values every value must satisfy them):
    equals: 1248424                       exact
    equals: {value: 0.7877, abs: 5e-4}    |x - value| <= abs + rel * |value|  (value defaults to `claimed`)
    at_least: 45  /  at_most: 1.0  /  between: [45, 55]

Statistical rules over per-seed samples (Student t; `alpha` defaults to 0.05; at least MIN_SEEDS values):
    greater_than: 0.02                    H1: mean > 0.02                      (an improvement: superiority)
    less_than: 0.15                       H1: mean < 0.15
    noninferior: {margin: 0.005, reference: 0, better: higher}   H1: mean > reference - margin   ("no worse")
    equivalent: {margin: 0.01, reference: 0}                     TOST, H1: |mean - reference| < margin  ("no effect")

A statistical verdict is `reproduced` when the one-sided (1 - alpha) bound clears the threshold, `not_reproduced`
when the opposite one-sided test rejects (the interval lies wholly on the wrong side), and `inconclusive` when
the (1 - 2 alpha) interval straddles the threshold. The interval, the p-value and the minimum detectable effect
(MDE: the smallest true distance from the threshold that the test finds with 80% power at the observed spread and n)
are kept with every verdict.

Gates (a claim's `requires`): a rule on a metric of the same measured file. `{metric: m, at_least: 0.9}` and
`{metric: m, every_seed: {at_least: 0.9}}` hold when every value does; `{metric: m, mean: {...}}` on the mean;
`{metric: m, greater_than: 0}` when the t-test reproduces. `positive_control: true` marks the gate that shows the
factor under test acts (required by "no worse" / "no effect" rules); `why` says what the gate guards.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

EXACT_RULES = ("equals", "at_least", "at_most", "between")
STAT_RULES = ("greater_than", "less_than", "noninferior", "equivalent")
NO_EFFECT_RULES = ("noninferior", "equivalent")  # declared "no worse" / "no effect": need a positive control
GATE_WRAPPERS = ("every_seed", "mean")
MIN_SEEDS = 5  # statistical rules need at least this many independent seeds
MAX_ALPHA = 0.1  # the loosest one-sided test a claim may ask for
POWER = 0.8
MAX_ABS = 1e15

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not_reproduced", "inconclusive"
NOT_MEASURED, INVALID = "not_measured", "invalid"


class RuleError(ValueError):
    """The rule in a claim file is malformed."""


class MeasurementError(ValueError):
    """The measured value cannot be checked (missing, non-finite, not a number, too few samples)."""


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

    def admits(self, value: float) -> bool:
        """Does a value lie in the pass region (ends included)? The paper's own number must: a rule that the claimed
        value would fail tests something else than the claim (a straw man)."""
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)


@dataclass(frozen=True)
class Gate:
    metric: str
    rule: Rule
    over: str = "every_seed"  # every_seed | mean | test (a statistical rule)
    positive_control: bool = False
    why: str = ""
    null: float = 0.0  # a positive control's metric with no effect: its rule must fail there
    line: int = 0

    @property
    def text(self) -> str:
        what = {"every_seed": "every value", "mean": "the mean", "test": "the test"}[self.over]
        return f"{self.metric}: {what} {self.rule.text}"


@dataclass
class Outcome:
    verdict: str
    value: float  # the value (exact) or the mean (statistical)
    n: int
    interval: tuple[float, float] | None  # [min, max] of the values (exact) or the (1 - 2 alpha) t-interval
    p_value: float | None
    detail: str
    sd: float | None = None
    mde: float | None = None  # statistical rules: the minimum detectable effect at 80% power


def finite_number(x: Any) -> bool:
    """A number a claim or measured file may hold: not a bool, finite, and at most MAX_ABS in magnitude (a 400-digit
    integer overflows float conversion: not in range either)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(x) and abs(x) <= MAX_ABS
    except OverflowError:
        return False


def _num(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise RuleError(f"{what} must be a number, got {x!r}"[:200])
    if not finite_number(x):
        raise RuleError(f"{what} must be finite with magnitude at most {MAX_ABS:g}")
    return float(x)


def _fmt(x: float | None) -> str:
    """A number in a rule's text or a message: integers with thousands separators (290,400), others to 6 digits."""
    if x is None:
        return "-inf"
    if float(x).is_integer() and 1e4 <= abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.6g}"


def parse_rule(check: dict, claimed: Any = None) -> Rule:
    """Parse `check` ({rule: argument, alpha?: a}) into a Rule with its pass region."""
    check = dict(check)
    has_alpha = "alpha" in check
    alpha = check.pop("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= MAX_ALPHA:
        raise RuleError(f"alpha must be a number in (0, {MAX_ALPHA:g}] (a looser test is a weaker claim than the paper "
                        f"makes), got {alpha!r}"[:200])
    names = [k for k in check if k in EXACT_RULES + STAT_RULES]
    unknown = [k for k in check if k not in EXACT_RULES + STAT_RULES]
    if unknown:
        raise RuleError(f"unknown rule {str(unknown[0])[:40]!r} (rules: {', '.join(EXACT_RULES + STAT_RULES)})")
    if len(names) != 1:
        raise RuleError(f"check must hold exactly one rule, got {len(names)}")
    name, arg = names[0], check[names[0]]
    if name in EXACT_RULES and has_alpha:
        raise RuleError("alpha applies to statistical rules only")
    if name == "equals":
        if isinstance(arg, dict):
            extra = set(arg) - {"value", "rel", "abs"}
            if extra:
                raise RuleError(f"equals takes value, rel, abs; got {str(sorted(map(str, extra))[0])[:40]!r}")
            value = arg.get("value", claimed)
            if value is None:
                raise RuleError("equals needs a value (or the claim's `claimed`)")
            value = _num(value, "equals.value")
            a, r = _num(arg.get("abs", 0), "equals.abs"), _num(arg.get("rel", 0), "equals.rel")
            if a < 0 or r < 0:
                raise RuleError("tolerances (abs, rel) must be >= 0")
            if r > 1:
                raise RuleError("equals.rel is a fraction of the value: at most 1 (100%)")
            tol = a + r * abs(value)
            text = f"equals {_fmt(value)}" + (f" +/- {_fmt(float(f'{tol:.3g}'))}" if tol else " exactly")
            return Rule(name, value - tol, value + tol, text=text)
        value = _num(arg, "equals")
        return Rule(name, value, value, text=f"equals {_fmt(value)} exactly")
    if name == "at_least":
        return Rule(name, _num(arg, "at_least"), None, text=f">= {_fmt(_num(arg, 'at_least'))}")
    if name == "at_most":
        return Rule(name, None, _num(arg, "at_most"), text=f"<= {_fmt(_num(arg, 'at_most'))}")
    if name == "between":
        if not isinstance(arg, list) or len(arg) != 2:
            raise RuleError("between takes [low, high]")
        lo, hi = _num(arg[0], "between[0]"), _num(arg[1], "between[1]")
        if lo > hi:
            raise RuleError("between: low > high")
        return Rule(name, lo, hi, text=f"in [{_fmt(lo)}, {_fmt(hi)}]")
    test = f"one-sided t, alpha={alpha:g}"
    if name == "greater_than":
        t = _num(arg, "greater_than")
        return Rule(name, t, None, alpha, text=f"mean > {_fmt(t)} ({test})")
    if name == "less_than":
        t = _num(arg, "less_than")
        return Rule(name, None, t, alpha, text=f"mean < {_fmt(t)} ({test})")
    if not isinstance(arg, dict) or "margin" not in arg:
        raise RuleError(f"{name} takes {{margin: m, reference: r}}")
    extra = set(arg) - {"margin", "reference", "better"}
    if extra:
        raise RuleError(f"{name} takes margin, reference, better; got {str(sorted(map(str, extra))[0])[:40]!r}")
    margin = _num(arg["margin"], f"{name}.margin")
    if margin < 0 or (name == "equivalent" and margin == 0):
        raise RuleError("margin must be >= 0 (equivalent: > 0, a zero-width interval can never be shown)")
    if name == "noninferior":
        if "reference" not in arg and claimed not in (None, 0):
            raise RuleError(f"noninferior needs an explicit `reference` when the claim's `claimed` is {_fmt(claimed)}: "
                            f"0 (the metric is a difference of arms) or the paper's number")
        ref = _num(arg.get("reference", 0), "noninferior.reference")
        better = arg.get("better", "higher")
        if better not in ("higher", "lower"):
            raise RuleError("noninferior.better is `higher` or `lower`")
        if better == "higher":
            return Rule(name, ref - margin, None, alpha, text=f"mean > {_fmt(ref - margin)} (non-inferior to {_fmt(ref)} by margin {_fmt(margin)}; {test})")
        return Rule(name, None, ref + margin, alpha, text=f"mean < {_fmt(ref + margin)} (non-inferior to {_fmt(ref)} by margin {_fmt(margin)}, lower is better; {test})")
    ref = arg.get("reference", claimed)
    if ref is None:
        raise RuleError("equivalent needs a reference (or the claim's `claimed`)")
    ref = _num(ref, "equivalent.reference")
    return Rule(name, ref - margin, ref + margin, alpha, text=f"|mean - {_fmt(ref)}| < {_fmt(margin)} (TOST, alpha={alpha:g})")


def parse_gate(raw: Any, index: int = 0) -> Gate:
    """One entry of a claim's `requires`."""
    if not isinstance(raw, dict):
        raise RuleError(f"a gate is a mapping like {{metric: m, every_seed: {{at_least: 0.9}}}}, got {type(raw).__name__}")
    metric = raw.get("metric")
    if not isinstance(metric, str) or not metric:
        raise RuleError("a gate needs `metric`: a metric of the same measured file")
    why = raw.get("why", "")
    if not isinstance(why, str):
        raise RuleError("a gate's `why` must be text")
    pc = raw.get("positive_control", False)
    if not isinstance(pc, bool):
        raise RuleError("positive_control is true or false")
    if "null" in raw and not pc:
        raise RuleError("a gate's `null` (its metric's value with no effect) belongs to a positive control")
    null = _num(raw.get("null", 0), "a gate's null")
    rest = {k: v for k, v in raw.items() if k not in ("metric", "why", "positive_control", "null")}
    wrappers = [k for k in rest if k in GATE_WRAPPERS]
    if wrappers:
        if len(rest) != 1:
            raise RuleError(f"a gate holds one rule: {wrappers[0]} and {sorted(k for k in rest if k != wrappers[0])[0]!r}")
        inner = rest[wrappers[0]]
        if not isinstance(inner, dict):
            raise RuleError(f"{wrappers[0]} takes an exact rule, e.g. {{at_least: 0.9}}")
        rule = parse_rule(inner)
        if rule.statistical:
            raise RuleError(f"{wrappers[0]} takes an exact rule (equals, at_least, at_most, between)")
        over = wrappers[0]
    else:
        rule = parse_rule(rest)
        over = "test" if rule.statistical else "every_seed"
    gate = Gate(metric=metric, rule=rule, over=over, positive_control=pc, why=why.strip(), null=null,
                line=getattr(raw, "line", 0) or 0)
    at_null = (rule.admits(null) if not rule.statistical else  # a t-test's region is open: a mean at the null fails
               (rule.lo is None or null > rule.lo) and (rule.hi is None or null < rule.hi))
    if pc and at_null:
        raise RuleError(f"a positive control must fail when the factor has no effect, but {gate.text} holds at "
                        f"{_fmt(null)} (the gate's `null`, default 0): give the metric's no-effect value as `null`, "
                        f"or a rule that shows the factor acting")
    return gate


def values_of(measured: Any) -> list[float]:
    """The measured value(s) as a list of finite floats, or MeasurementError."""
    values = measured if isinstance(measured, list) else [measured]
    if not values:
        raise MeasurementError("the measurement is an empty list")
    out = []
    for v in values:
        if v is None:
            raise MeasurementError("the stage recorded a non-finite value (null in the measured file)")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MeasurementError(f"the measurement must be a number or a list of numbers, got {type(v).__name__}")
        if not finite_number(v):
            raise MeasurementError(f"the measurement is not a finite number of magnitude <= {MAX_ABS:g}")
        out.append(float(v))
    return out


def evaluate(rule: Rule, measured: Any, *, min_seeds: int = MIN_SEEDS) -> Outcome:
    xs = values_of(measured)
    if not rule.statistical:
        return _exact(rule, xs)
    return _t_verdict(rule, xs, min_seeds)


def _exact(rule: Rule, xs: list[float]) -> Outcome:
    ok = all((rule.lo is None or x >= rule.lo) and (rule.hi is None or x <= rule.hi) for x in xs)
    value = xs[0] if len(xs) == 1 else sum(xs) / len(xs)
    detail = f"measured {_fmt(value)}" if len(xs) == 1 else f"{len(xs)} values in [{_fmt(min(xs))}, {_fmt(max(xs))}]"
    return Outcome(REPRODUCED if ok else NOT_REPRODUCED, value, len(xs), (min(xs), max(xs)), None,
                   f"{detail}; rule {rule.text}")


def mde(sd: float, n: int, alpha: float, power: float = POWER) -> float:
    """Minimum detectable effect of a one-sided one-sample t-test: (t_{1-alpha} + t_{power}) * sd / sqrt(n)."""
    from scipy import stats

    return float((stats.t.ppf(1 - alpha, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n))


def _t_verdict(rule: Rule, xs: list[float], min_seeds: int) -> Outcome:
    from scipy import stats

    n = len(xs)
    if n < 2:
        raise MeasurementError(f"a statistical rule needs per-seed samples, got {n} value")
    if n < min_seeds:
        raise MeasurementError(f"a statistical rule needs at least {min_seeds} independent seeds, got {n}")
    mean = math.fsum(xs) / n
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    se = sd / math.sqrt(n)
    if sd <= 1e-12 * max(1.0, abs(mean)):  # identical samples up to round-off: no spread to test with
        sd = se = 0.0
    tq = stats.t.ppf(1 - rule.alpha, n - 1)
    lo_ci, hi_ci = mean - tq * se, mean + tq * se

    def p_greater(theta: float) -> float:  # p-value of H0: mean <= theta
        return float(stats.t.sf((mean - theta) / se, n - 1))

    def p_less(theta: float) -> float:  # p-value of H0: mean >= theta
        return float(stats.t.cdf((mean - theta) / se, n - 1))

    a = rule.alpha
    if se == 0:  # identical samples (e.g. every seed at 100%): the comparison is exact, round-off is not an effect
        eps = 1e-12 * max(1.0, abs(mean))
        inside = (rule.lo is None or mean > rule.lo + eps) and (rule.hi is None or mean < rule.hi - eps)
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
    effect = mde(sd, n, a)
    detail = (f"mean {_fmt(mean)} (sd {_fmt(sd)}, n={n}), {100 * (1 - 2 * a):.0f}% CI [{_fmt(lo_ci)}, {_fmt(hi_ci)}], "
              f"p={p:.3g} ({'TOST' if rule.name == 'equivalent' else 'one-sided t'}), MDE {_fmt(effect)} at 80% power; "
              f"rule {rule.text}")
    return Outcome(verdict, mean, n, (lo_ci, hi_ci), p, detail, sd=sd, mde=effect)


def passes_without_effect(rule: Rule, xs: list[float], null: float) -> bool:
    """Would the rule also pass if the factor under test did nothing? The values are replaced by "no effect":
    shifted so that their mean is `null` (statistical rules: same spread and n), or set to `null` (exact rules)."""
    if rule.statistical:
        mean = sum(xs) / len(xs)
        shifted = [x - mean + null for x in xs]
        try:
            return _t_verdict(rule, shifted, min_seeds=1).verdict == REPRODUCED
        except MeasurementError:
            return False
    return _exact(rule, [null]).verdict == REPRODUCED


def check_gate(gate: Gate, measured: Any) -> tuple[bool, str]:
    """(passed, what was seen) for one gate on its metric's measured value(s)."""
    xs = values_of(measured)
    if gate.over == "mean":
        o = _exact(gate.rule, [sum(xs) / len(xs)])
        seen = f"mean {_fmt(o.value)} of {len(xs)} values"
    elif gate.over == "test":
        o = _t_verdict(gate.rule, xs, min_seeds=MIN_SEEDS)
        seen = o.detail.split("; rule")[0]
    else:
        o = _exact(gate.rule, xs)
        failing = [x for x in xs if not ((gate.rule.lo is None or x >= gate.rule.lo) and (gate.rule.hi is None or x <= gate.rule.hi))]
        seen = (f"value {_fmt(xs[0])}" if len(xs) == 1 else
                f"{len(xs)} values in [{_fmt(min(xs))}, {_fmt(max(xs))}]" +
                (f", {len(failing)} outside ({', '.join(_fmt(x) for x in failing[:5])})" if failing else ""))
    return o.verdict == REPRODUCED, seen
