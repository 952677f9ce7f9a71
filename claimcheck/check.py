"""One claim + the paper's measured file -> one result (verdict, numbers, message, pytest outcome).

Order of the checks: a bad claim or measured file is invalid; a claim whose profile was not measured is not_measured;
then the rule gives reproduced / not_reproduced / inconclusive, unless the experiment is shown not to have worked:
a `requires` gate failed, the rule would pass with no effect at all (hollow), or a statistical rule has fewer than
MIN_SEEDS seeds. Those are invalid, and invalid can never be parked with `expect`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from claimcheck.rules import (INCONCLUSIVE, INVALID, MIN_SEEDS, NO_EFFECT_RULES, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED,
                              MeasurementError, check_gate, evaluate, finite_number, passes_without_effect, values_of)
from claimcheck.schema import Claim

# what the project expects (claim's `expect`) -> the verdict that keeps the suite green
EXPECTED_VERDICT = {"reproduces": REPRODUCED, "fails": NOT_REPRODUCED, "inconclusive": INCONCLUSIVE}
MAX_MEASURED_BYTES = 32 << 20
KNOWN_PROFILES = ("smoke", "cpu", "full")


@dataclass
class Result:
    paper: str
    claim: str
    file: str
    line: int
    kind: str
    says: str
    where: str
    metric: str
    claimed: float | list | None
    rule: str
    expect: str
    why: str
    profile: str | None  # the profile of the measurement
    verdict: str
    outcome: str  # passed | failed | xfailed | skipped | error: what pytest shows
    scale: str = ""
    setting: str = ""
    source: str = ""
    title: str = ""
    year: int | str | None = None
    url: str = ""
    measured: float | None = None
    n: int = 0
    sd: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None  # e.g. 0.90 for the (1 - 2 alpha) interval of a statistical rule
    p_value: float | None = None
    test: str = ""  # the test behind the p-value: "one-sided t" or "TOST"
    mde: float | None = None  # minimum detectable effect at 80% power (statistical rules)
    power: str = ""  # inconclusive: was the experiment underpowered for the paper's effect?
    pass_low: float | None = None  # the rule's pass region (None: open on that side)
    pass_high: float | None = None
    gates: list = field(default_factory=list)  # [{metric, rule, passed, seen, positive_control, why}]
    detail: str = ""
    message: str = ""
    run_command: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def load_measured(measured_dir: Path, key: str, display_dir: str = "reports/measured") -> tuple[dict | None, str | None]:
    """(measured file, None), (None, None) when there is none, or (None, error message). Never raises."""
    path = Path(measured_dir) / f"{key}.json"
    shown = f"{display_dir}/{key}.json"
    try:
        if not path.exists():
            return None, None
        if path.stat().st_size > MAX_MEASURED_BYTES:
            return None, f"{shown}: larger than {MAX_MEASURED_BYTES >> 20} MiB"
        text = path.read_bytes().decode("utf-8")
        doc = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        return None, f"{shown}: not UTF-8 ({e.reason} at byte {e.start})"
    except (OSError, ValueError, RecursionError, MemoryError) as e:
        return None, f"{shown}: not valid JSON ({type(e).__name__}: {str(e)[:160]})"
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        return None, f"{shown}: a measured file needs a `metrics` mapping"
    if doc.get("paper") != key:
        return None, f"{shown}: field 'paper' is {str(doc.get('paper'))[:60]!r}, expected {key!r}"
    if doc.get("profile") not in KNOWN_PROFILES:
        return None, (f"{shown}: field 'profile' is {str(doc.get('profile'))[:60]!r}, expected one of "
                      f"{', '.join(KNOWN_PROFILES)}")
    return doc, None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON (strict parsers reject it): a stage writes null for a non-finite value")


def run_command(key: str, profile: str) -> str:
    return (f"dvc repro measure-{key}" if profile == "cpu" else
            f"dvc exp run -S profile={profile} measure-{key}   (or: python -m pipelines {key} --profile {profile})")


def check_claim(claim: Claim, measured: dict | None, measured_error: str | None = None,
                paper: dict | None = None) -> Result:
    paper = paper or {}
    r = Result(paper=claim.paper, claim=claim.id, file=claim.path, line=claim.line, kind=claim.kind, says=claim.says,
               where=claim.where, metric=claim.metric, claimed=claim.claimed, rule=claim.rule.text if claim.rule else "",
               expect=claim.expect, why=claim.why, profile=None, verdict=INVALID, outcome="error", scale=claim.scale,
               setting=claim.setting, source=claim.source, title=str(paper.get("title", "")),
               year=paper.get("year"), url=str(paper.get("url", "")))
    if claim.rule is not None:
        r.pass_low, r.pass_high = claim.rule.lo, claim.rule.hi
    if claim.error is not None:
        r.message = str(claim.error)
        return r
    if measured_error:
        r.message = f"{measured_error} (claim {claim.id!r} in {claim.path})"
        return r
    want = claim.profiles[0] if "cpu" not in claim.profiles else "cpu"
    r.run_command = run_command(claim.paper, want)
    if measured is None:
        r.verdict, r.outcome = NOT_MEASURED, "skipped"
        r.message = f"no measurement of {claim.paper!r} yet: run `{r.run_command}`"
        return r
    r.profile = measured.get("profile")
    if r.profile not in claim.profiles:
        r.verdict, r.outcome = NOT_MEASURED, "skipped"
        r.message = (f"measured at profile {r.profile!r}; this claim is checked at "
                     f"{'/'.join(claim.profiles)}: run `{r.run_command}`")
        return r
    where = f"{claim.path}:{claim.field_lines.get('metric', claim.line)}"
    metrics = measured["metrics"]
    if claim.metric not in metrics:
        r.message = (f"{where}: claim {claim.id!r}, field 'metric': {claim.metric!r} is not in "
                     f"reports/measured/{claim.paper}.json (it has: {', '.join(sorted(metrics)[:40]) or 'nothing'})")
        return r
    try:
        o = evaluate(claim.rule, metrics[claim.metric])
    except MeasurementError as e:
        r.message = f"{where}: claim {claim.id!r}, field 'metric' ({claim.metric!r}): {e}"
        return r
    r.measured, r.n, r.p_value, r.detail, r.sd, r.mde = o.value, o.n, o.p_value, o.detail, o.sd, o.mde
    if o.interval:
        r.ci_low, r.ci_high = o.interval
    if claim.rule.statistical:
        r.ci_level = 1 - 2 * claim.rule.alpha
        r.test = "TOST" if claim.rule.name == "equivalent" else "one-sided t"
    problems = _gate_problems(claim, metrics, r) + _hollow_problems(claim, metrics[claim.metric], r)
    if problems:
        r.verdict, r.outcome = INVALID, "error"
        r.message = "\n".join([f"{claim.paper}/{claim.id} is INVALID: the experiment cannot carry a verdict "
                               f"(rule result would have been {o.verdict})"] + [f"  - {p}" for p in problems] +
                              [f"  measured   : {o.detail}", f"  fix the experiment or the claim in {claim.path} "
                               f"(line {claim.line}); never the gate"])
        return r
    r.verdict = o.verdict
    if o.verdict == INCONCLUSIVE:
        r.power = _power_note(claim, o)
    expected = EXPECTED_VERDICT[claim.expect]
    r.outcome = ("passed" if o.verdict == REPRODUCED else "xfailed") if o.verdict == expected else "failed"
    r.message = _message(claim, r, expected)
    return r


def _gate_problems(claim: Claim, metrics: dict, r: Result) -> list[str]:
    problems = []
    for i, g in enumerate(claim.requires):
        entry = {"metric": g.metric, "rule": g.text, "passed": False, "seen": "", "positive_control": g.positive_control,
                 "why": g.why}
        r.gates.append(entry)
        if g.metric not in metrics:
            problems.append(f"requires[{i}]: metric {g.metric!r} is not in reports/measured/{claim.paper}.json")
            continue
        try:
            entry["passed"], entry["seen"] = check_gate(g, metrics[g.metric])
        except MeasurementError as e:
            entry["seen"] = str(e)
            problems.append(f"requires[{i}] ({g.text}): {e}")
            continue
        if not entry["passed"]:
            role = "positive control" if g.positive_control else "gate"
            problems.append(f"requires[{i}] {role} failed: {g.text}; measured {entry['seen']}"
                            + (f" ({g.why})" if g.why else ""))
    return problems


def _hollow_problems(claim: Claim, measured, r: Result) -> list[str]:
    """An empirical rule that would pass with no effect at all cannot show the effect: invalid, unless it is a
    declared "no worse" / "no effect" rule (noninferior, equivalent, or an exact rule) backed by a positive control."""
    rule = claim.rule
    if claim.kind != "empirical" and not rule.statistical:
        return []  # an exact count of a built model: "no effect" has no meaning there
    xs = values_of(measured)
    if claim.kind == "empirical" and not rule.statistical and isinstance(measured, list) and len(xs) < MIN_SEEDS:
        return [f"{len(xs)} per-seed value(s): an empirical rule on per-seed values needs at least {MIN_SEEDS} "
                f"independent seeds"]
    wrong_side = ((rule.name == "greater_than" and rule.lo < claim.null) or
                  (rule.name == "less_than" and rule.hi > claim.null))
    if wrong_side:
        return [f"hollow rule: {rule.text} sets its threshold on the wrong side of no effect ({claim.null:g}, the "
                f"claim's `null`): a mean below the null can pass it; an improvement is `greater_than` the null or "
                f"more, a 'no worse' claim is `noninferior` with a positive control"]
    if not passes_without_effect(rule, xs, claim.null):
        return []
    if rule.name in ("greater_than", "less_than"):
        return [f"hollow rule: {claim.rule.text} also passes when the values are replaced by no effect (mean "
                f"{claim.null:g}, the claim's `null`); a superiority rule's threshold must lie beyond the null"]
    if not any(g.positive_control for g in claim.requires):
        kind = "a 'no worse' / 'no effect' rule" if claim.rule.name in NO_EFFECT_RULES else "an exact rule"
        return [f"hollow rule: {claim.rule.text} also passes with no effect (values at the claim's `null`, "
                f"{claim.null:g}); {kind} needs a `requires` gate with `positive_control: true` showing the factor "
                f"under test acts (or, for an improvement claim, a superiority rule: greater_than / less_than)"]
    return []


def _power_note(claim: Claim, o) -> str:
    rule, c = claim.rule, claim.claimed
    if o.mde is None:
        return ""
    if not finite_number(c):
        return (f"the test cannot tell at n={o.n}: it detects a distance of {o.mde:.3g} from the threshold with 80% "
                f"power; the paper gives no effect size in this metric's units")
    if rule.name == "equivalent":
        dist = min(c - rule.lo, rule.hi - c)
    elif rule.lo is not None:
        dist = c - rule.lo
    else:
        dist = rule.hi - c
    if dist <= 0:
        return (f"the paper's value {c:g} does not itself clear the rule's threshold: the rule asks more than the paper "
                f"claims (MDE {o.mde:.3g})")
    if dist < o.mde:
        return (f"underpowered for the paper's effect: the paper's value {c:g} lies {dist:.3g} from the threshold, less "
                f"than the minimum detectable effect {o.mde:.3g} at n={o.n} and this spread (80% power): more seeds "
                f"or less noise are needed")
    return (f"powered for the paper's effect (it lies {dist:.3g} from the threshold, MDE {o.mde:.3g} at n={o.n}): the "
            f"data point to a smaller effect than the paper's here")


def _message(claim: Claim, r: Result, expected: str) -> str:
    head = {REPRODUCED: "reproduced", NOT_REPRODUCED: "did NOT reproduce", INCONCLUSIVE: "was inconclusive"}[r.verdict]
    lines = [f"{claim.paper}/{claim.id} {head} (expected: {expected})",
             f"  paper says : {claim.says}", f"  where      : {claim.where}",
             f"  scale      : {claim.scale}" + (f" ({claim.setting})" if claim.setting else ""),
             f"  claimed    : {claim.claimed}", f"  metric     : {claim.metric} at profile {r.profile}",
             f"  measured   : {r.detail}"]
    if r.power:
        lines.append(f"  power      : {r.power}")
    if claim.why:
        lines.append(f"  why        : {claim.why}")
    if r.outcome == "failed" and expected != REPRODUCED:
        lines.append(f"  the verdict moved: update `expect` in {claim.path} (line {claim.line}) if this is real")
    return "\n".join(lines)
