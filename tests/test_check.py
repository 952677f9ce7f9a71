"""Verdict paths of the engine on synthetic claim and measured files: gates, hollow rules, power, invalid."""
import textwrap

import pytest

from claimcheck.check import check_claim
from claimcheck.schema import load_claim_file

HEAD = 'paper: {key: demo, title: "Demo paper", year: 2020, url: https://example.org}\nclaims:\n'
ANALOGUE = 'scale: analogue\nsetting: "generated data, MLP, 10 epochs, 5 seeds"\n'


def claim(tmp_path, body: str):
    """One claim from YAML text (indented as under `claims:`), loaded through the real schema."""
    text = HEAD + "  - id: c\n    says: s\n    where: w\n    " + textwrap.dedent(body).strip().replace("\n", "\n    ")
    path = tmp_path / "demo.yaml"
    path.write_text(text + "\n")
    cf = load_claim_file(path)
    assert cf.error is None, cf.error
    c = cf.claims[0]
    assert c.error is None, c.error
    return c, cf.paper


def run(tmp_path, body, metrics, profile="cpu"):
    c, paper = claim(tmp_path, body)
    return check_claim(c, {"paper": "demo", "profile": profile, "metrics": metrics}, None, paper)


IMPROVES = f"""kind: empirical
{ANALOGUE}metric: gain
claimed: 0.03
check: {{greater_than: 0}}
requires:
  - {{metric: acc_base, every_seed: {{at_least: 0.8}}, why: the baseline trained}}
"""
GOOD = {"gain": [0.03, 0.04, 0.025, 0.035, 0.03], "acc_base": [0.9, 0.91, 0.92, 0.9, 0.89]}


def test_a_passing_gate_lets_the_rule_decide(tmp_path):
    r = run(tmp_path, IMPROVES, GOOD)
    assert r.verdict == "reproduced" and r.outcome == "passed"
    assert r.gates[0]["passed"] and "5 values in [0.89, 0.92]" in r.gates[0]["seen"]
    assert r.title == "Demo paper" and r.year == 2020 and r.scale == "analogue" and r.setting.startswith("generated")


def test_a_failed_gate_makes_the_verdict_invalid_naming_gate_metric_and_value(tmp_path):
    r = run(tmp_path, IMPROVES, GOOD | {"acc_base": [0.9, 0.1, 0.92, 0.9, 0.89]})  # one seed at chance
    assert r.verdict == "invalid" and r.outcome == "error"
    assert "requires[0] gate failed: acc_base: every value >= 0.8" in r.message
    assert "1 outside (0.1)" in r.message and "the baseline trained" in r.message


def test_invalid_cannot_be_parked_with_expect(tmp_path):
    body = IMPROVES.replace("check: {greater_than: 0}", "check: {greater_than: 0}\nexpect: fails\nwhy: known")
    r = run(tmp_path, body, GOOD | {"acc_base": [0.1] * 5})
    assert r.verdict == "invalid" and r.outcome == "error"


@pytest.mark.parametrize("gate, values, ok", [
    ("{metric: m, mean: {at_least: 0.5}}", [0.2, 0.9, 0.9, 0.9, 0.9], True),  # the mean clears, one seed does not
    ("{metric: m, every_seed: {at_least: 0.5}}", [0.2, 0.9, 0.9, 0.9, 0.9], False),
    ("{metric: m, at_least: 0.5}", [0.2, 0.9, 0.9, 0.9, 0.9], False),  # a bare exact rule: every value
    ("{metric: m, greater_than: 0}", [0.1, 0.12, 0.09, 0.11, 0.1], True),  # a t-test that must reproduce
    ("{metric: m, greater_than: 0}", [0.1, -0.1, 0.05, -0.05, 0.0], False),
    ("{metric: m, between: [0, 1]}", 0.5, True),
])
def test_gate_forms(tmp_path, gate, values, ok):
    body = IMPROVES.replace("{metric: acc_base, every_seed: {at_least: 0.8}, why: the baseline trained}", gate)
    r = run(tmp_path, body, {"gain": GOOD["gain"], "m": values})
    assert (r.verdict == "reproduced") is ok, r.message


def test_a_gate_on_a_missing_metric_is_invalid(tmp_path):
    r = run(tmp_path, IMPROVES, {"gain": GOOD["gain"]})
    assert r.verdict == "invalid" and "metric 'acc_base' is not in" in r.message


NONINF = f"""kind: empirical
{ANALOGUE}metric: gain
check: {{noninferior: {{margin: 0.01}}}}
"""


def test_an_improvement_tested_for_non_inferiority_on_identical_arms_is_invalid(tmp_path):
    same = {"gain": [0.0, 0.0, 0.0, 0.0, 0.0]}
    r = run(tmp_path, NONINF, same)
    assert r.verdict == "invalid" and "hollow rule" in r.message and "positive_control" in r.message


def test_an_at_least_zero_rule_on_identical_arms_is_invalid(tmp_path):
    body = NONINF.replace("check: {noninferior: {margin: 0.01}}", "check: {at_least: 0}")
    r = run(tmp_path, body, {"gain": [0.0, 0.001, 0.0, 0.002, 0.0]})
    assert r.verdict == "invalid" and "hollow rule" in r.message


def test_a_superiority_threshold_on_the_wrong_side_of_the_null_is_invalid(tmp_path):
    body = NONINF.replace("check: {noninferior: {margin: 0.01}}", "check: {greater_than: -0.02}")
    r = run(tmp_path, body, {"gain": [0.01, 0.0, 0.005, 0.002, 0.004]})
    assert r.verdict == "invalid" and "wrong side of no effect" in r.message


def test_no_worse_with_a_positive_control_is_a_verdict(tmp_path):
    body = NONINF + "requires:\n  - {metric: factor_acts, greater_than: 0.05, positive_control: true}\n"
    metrics = {"gain": [0.0, 0.002, -0.001, 0.001, 0.0], "factor_acts": [0.2, 0.25, 0.22, 0.21, 0.3]}
    assert run(tmp_path, body, metrics).verdict == "reproduced"
    dead = metrics | {"factor_acts": [0.0, 0.01, -0.01, 0.0, 0.005]}  # the factor under test did nothing
    r = run(tmp_path, body, dead)
    assert r.verdict == "invalid" and "positive control failed" in r.message


def test_the_null_of_a_ratio_is_declared(tmp_path):
    body = f"kind: empirical\n{ANALOGUE}metric: ratio\ncheck: {{less_than: 0.7}}\n"
    ratios = {"ratio": [0.3, 0.32, 0.31, 0.29, 0.3]}
    assert run(tmp_path, body, ratios).verdict == "invalid"  # null 0: "no effect" would pass: a wrong null
    assert run(tmp_path, body + "null: 1\n", ratios).verdict == "reproduced"
    assert run(tmp_path, body + "null: 1\n", {"ratio": [1.0, 0.98, 1.01, 1.02, 0.99]}).verdict == "not_reproduced"


def test_structural_claims_are_not_checked_for_hollowness(tmp_path):
    body = "kind: structural\nscale: paper\nmetric: extra_params\nclaimed: 0\ncheck: {equals: 0}\n"
    assert run(tmp_path, body, {"extra_params": 0}).verdict == "reproduced"


def test_fewer_than_five_seeds_is_invalid(tmp_path):
    r = run(tmp_path, IMPROVES, {"gain": [0.03, 0.04, 0.035], "acc_base": [0.9] * 3})
    assert r.verdict == "invalid" and "at least 5 independent seeds, got 3" in r.message


def test_inconclusive_says_whether_it_was_underpowered_for_the_papers_effect(tmp_path):
    noisy = {"gain": [0.05, -0.04, 0.03, -0.02, 0.01], "acc_base": [0.9] * 5}
    r = run(tmp_path, IMPROVES, noisy)  # the paper's 0.03 is below the MDE at this spread
    assert r.verdict == "inconclusive" and r.power.startswith("underpowered for the paper's effect") and r.mde > 0.03
    big = IMPROVES.replace("claimed: 0.03", "claimed: 0.5")
    r = run(tmp_path, big, noisy)
    assert r.verdict == "inconclusive" and r.power.startswith("powered for the paper's effect")
    r = run(tmp_path, IMPROVES.replace("claimed: 0.03", "claimed: null"), noisy)
    assert "no effect size" in r.power


def test_not_measured_at_this_profile_is_a_skip(tmp_path):
    body = IMPROVES.replace("check: {greater_than: 0}", "check: {greater_than: 0}\nprofile: full")
    r = run(tmp_path, body, GOOD)
    assert r.verdict == "not_measured" and r.outcome == "skipped" and "profile=full" in r.message


def test_a_non_finite_value_recorded_by_the_stage_is_invalid(tmp_path):
    r = run(tmp_path, IMPROVES, GOOD | {"gain": [0.1, None, 0.2, 0.1, 0.1]})
    assert r.verdict == "invalid" and "non-finite" in r.message


# --- found by a hostile review of the engine: each was a reproduced or not_reproduced that should not have been ---
def test_a_wrong_side_threshold_is_invalid_whatever_the_data(tmp_path):
    body = NONINF.replace("check: {noninferior: {margin: 0.01}}", "check: {greater_than: -0.05}")
    r = run(tmp_path, body, {"gain": [0.25, -0.05, 0.18, 0.02, 0.10]})  # clears -0.05 but not 0
    assert r.verdict == "invalid" and "wrong side of no effect" in r.message


def test_the_papers_value_must_pass_its_own_rule(tmp_path):
    body = NONINF.replace("check: {noninferior: {margin: 0.01}}", "claimed: 0.02\ncheck: {less_than: 0}")
    with pytest.raises(AssertionError, match="test something other than the paper"):
        claim(tmp_path, body)


def test_values_on_the_threshold_up_to_round_off_do_not_pass(tmp_path):
    body = NONINF.replace("check: {noninferior: {margin: 0.01}}", "check: {greater_than: 0.35}")
    r = run(tmp_path, body, {"gain": [0.35] * 6, "top1": [0.9] * 6})
    assert r.verdict != "reproduced"


def test_an_exact_rule_on_too_few_seeds_is_invalid(tmp_path):
    body = NONINF.replace("check: {noninferior: {margin: 0.01}}", "check: {at_least: 0.001}")
    r = run(tmp_path, body, {"gain": [0.004, 0.005], "top1": [0.9, 0.9]})
    assert r.verdict == "invalid" and "independent seeds" in r.message


def test_a_positive_control_must_fail_with_no_effect_and_sit_on_another_metric(tmp_path):
    weak = NONINF + "requires:\n  - {metric: acc_gap, mean: {at_least: -1000000000}, positive_control: true}\n"
    with pytest.raises(AssertionError, match="no-effect value as `null`"):
        claim(tmp_path, weak)
    own = NONINF + "requires:\n  - {metric: gain, greater_than: 0.5, positive_control: true}\n"
    with pytest.raises(AssertionError, match="another metric than the claim's own"):
        claim(tmp_path, own)
    ratio = NONINF + "requires:\n  - {metric: time_ratio, at_most: 0.9, null: 1, positive_control: true}\n"
    assert claim(tmp_path, ratio)[0].requires[0].null == 1  # a ratio's no-effect value is 1: the rule fails there


def test_an_expected_failure_of_an_experiment_needs_gates(tmp_path):
    body = IMPROVES.split("requires:")[0] + "expect: fails\nwhy: found\n"
    with pytest.raises(AssertionError, match="failed experiment is not a non-reproduction"):
        claim(tmp_path, body)


def test_claims_are_never_judged_at_the_smoke_profile(tmp_path):
    with pytest.raises(AssertionError, match="smoke runs check the code"):
        claim(tmp_path, IMPROVES + "profile: smoke\n")
