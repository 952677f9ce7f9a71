"""One claim + the paper's measured file -> one result (verdict, numbers, message, pytest outcome)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from claimcheck.rules import (INCONCLUSIVE, INVALID, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, MeasurementError,
                              evaluate)
from claimcheck.schema import Claim

# what the project expects (claim's `expect`) -> the verdict that keeps the suite green
EXPECTED_VERDICT = {"reproduces": REPRODUCED, "fails": NOT_REPRODUCED, "inconclusive": INCONCLUSIVE}


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
    measured: float | None = None
    n: int = 0
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    pass_low: float | None = None  # the rule's pass region (None: open on that side)
    pass_high: float | None = None
    detail: str = ""
    message: str = ""
    run_command: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def load_measured(measured_dir: Path, key: str, display_dir: str = "reports/measured") -> tuple[dict | None, str | None]:
    """(measured file, None), (None, None) when there is none, or (None, error message)."""
    path = Path(measured_dir) / f"{key}.json"
    shown = f"{display_dir}/{key}.json"
    if not path.exists():
        return None, None
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return None, f"{shown}: not valid JSON ({e})"
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        return None, f"{shown}: a measured file needs a `metrics` mapping"
    if doc.get("paper") != key:
        return None, f"{shown}: field 'paper' is {doc.get('paper')!r}, expected {key!r}"
    return doc, None


def run_command(key: str, profile: str) -> str:
    return (f"dvc repro measure@{key}" if profile == "cpu" else
            f"dvc exp run -S profile={profile} measure@{key}   (or: python -m pipelines {key} --profile {profile})")


def check_claim(claim: Claim, measured: dict | None, measured_error: str | None = None) -> Result:
    r = Result(paper=claim.paper, claim=claim.id, file=claim.path, line=claim.line, kind=claim.kind, says=claim.says,
               where=claim.where, metric=claim.metric, claimed=claim.claimed, rule=claim.rule.text if claim.rule else "",
               expect=claim.expect, why=claim.why, profile=(measured or {}).get("profile"), verdict=INVALID,
               outcome="error")
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
    if measured.get("profile") not in claim.profiles:
        r.verdict, r.outcome = NOT_MEASURED, "skipped"
        r.message = (f"measured at profile {measured.get('profile')!r}; this claim is checked at "
                     f"{'/'.join(claim.profiles)}: run `{r.run_command}`")
        return r
    where = f"{claim.path}:{claim.field_lines.get('metric', claim.line)}"
    if claim.metric not in measured["metrics"]:
        r.message = (f"{where}: claim {claim.id!r}, field 'metric': {claim.metric!r} is not in "
                     f"reports/measured/{claim.paper}.json (it has: {', '.join(sorted(measured['metrics'])) or 'nothing'})")
        return r
    try:
        o = evaluate(claim.rule, measured["metrics"][claim.metric])
    except MeasurementError as e:
        r.message = f"{where}: claim {claim.id!r}, field 'metric' ({claim.metric!r}): {e}"
        return r
    r.verdict, r.measured, r.n, r.p_value, r.detail = o.verdict, o.value, o.n, o.p_value, o.detail
    if o.interval:
        r.ci_low, r.ci_high = o.interval
    expected = EXPECTED_VERDICT[claim.expect]
    if o.verdict == expected:
        r.outcome = "passed" if o.verdict == REPRODUCED else "xfailed"
    else:
        r.outcome = "failed"
    r.message = _message(claim, r, expected)
    return r


def _message(claim: Claim, r: Result, expected: str) -> str:
    head = {REPRODUCED: "reproduced", NOT_REPRODUCED: "did NOT reproduce", INCONCLUSIVE: "was inconclusive"}[r.verdict]
    lines = [f"{claim.paper}/{claim.id} {head} (expected: {expected})",
             f"  paper says : {claim.says}", f"  where      : {claim.where}",
             f"  claimed    : {claim.claimed}", f"  metric     : {claim.metric} at profile {r.profile}",
             f"  measured   : {r.detail}"]
    if claim.why:
        lines.append(f"  why        : {claim.why}")
    if r.outcome == "failed" and expected != REPRODUCED:
        lines.append(f"  the verdict moved: update `expect` in {claim.path} (line {claim.line}) if this is real")
    return "\n".join(lines)
