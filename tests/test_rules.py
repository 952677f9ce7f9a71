"""The rules and statistics of the engine, on hand-made numbers."""
import math

import pytest

from claimcheck.rules import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, MeasurementError, RuleError, evaluate,
                              parse_rule)


def verdict(check, measured, claimed=None):
    """The rules' statistics on hand-made samples of any size (claims need >= 5 seeds: see test_min_seeds)."""
    return evaluate(parse_rule(dict(check), claimed), measured, min_seeds=2)


def test_exact_rules_on_scalars():
    assert verdict({"equals": 1248424}, 1248424).verdict == REPRODUCED
    assert verdict({"equals": 1248424}, 1248425).verdict == NOT_REPRODUCED
    assert verdict({"equals": {"value": 0.7877, "abs": 5e-5}}, 0.78767).verdict == REPRODUCED
    assert verdict({"equals": {"value": 0.7877, "abs": 5e-5}}, 0.7878).verdict == NOT_REPRODUCED
    assert verdict({"equals": {"rel": 0.05}}, 4.76, claimed=4.8).verdict == REPRODUCED  # value from `claimed`
    assert verdict({"at_least": 45}, 45).verdict == REPRODUCED
    assert verdict({"at_most": 1.0}, 1.01).verdict == NOT_REPRODUCED
    assert verdict({"between": [45, 55]}, 48.9).verdict == REPRODUCED
    assert verdict({"between": [45, 55]}, 55.1).verdict == NOT_REPRODUCED


def test_exact_rule_on_a_list_needs_every_value():
    o = verdict({"at_least": 0.99}, [1.0, 0.995, 1.0])
    assert o.verdict == REPRODUCED and o.interval == (0.995, 1.0)
    assert verdict({"at_least": 0.99}, [1.0, 0.98, 1.0]).verdict == NOT_REPRODUCED


def test_greater_than_three_outcomes():
    assert verdict({"greater_than": 0}, [0.05, 0.06, 0.07]).verdict == REPRODUCED
    assert verdict({"greater_than": 0}, [-0.05, -0.06, -0.07]).verdict == NOT_REPRODUCED
    assert verdict({"greater_than": 0}, [0.05, -0.04, 0.01]).verdict == INCONCLUSIVE


def test_t_interval_and_p_value_match_scipy():
    from scipy import stats

    xs = [0.05, 0.06, 0.08, 0.02]
    o = verdict({"greater_than": 0.01}, xs)
    ref = stats.ttest_1samp(xs, 0.01, alternative="greater")
    assert math.isclose(o.p_value, ref.pvalue, rel_tol=1e-9)
    lo, hi = stats.t.interval(0.9, len(xs) - 1, loc=sum(xs) / len(xs), scale=stats.sem(xs))
    assert math.isclose(o.interval[0], lo, rel_tol=1e-9) and math.isclose(o.interval[1], hi, rel_tol=1e-9)


def test_less_than_and_noninferiority():
    assert verdict({"less_than": 0.15}, [0.10, 0.12, 0.11]).verdict == REPRODUCED
    assert verdict({"noninferior": {"margin": 0.005}}, [0.001, -0.002, 0.0, 0.003]).verdict == REPRODUCED
    assert verdict({"noninferior": {"margin": 0.005}}, [-0.03, -0.04, -0.035]).verdict == NOT_REPRODUCED
    lower = {"noninferior": {"margin": 0.1, "reference": 1.0, "better": "lower"}}
    assert verdict(lower, [1.0, 1.02, 0.99]).verdict == REPRODUCED


def test_equivalence_is_a_tost():
    eq = {"equivalent": {"margin": 0.02, "reference": 1.0}}
    assert verdict(eq, [1.001, 0.999, 1.002, 0.998]).verdict == REPRODUCED
    assert verdict(eq, [1.1, 1.12, 1.11]).verdict == NOT_REPRODUCED
    assert verdict(eq, [0.95, 1.05, 1.0]).verdict == INCONCLUSIVE  # too noisy to tell


def test_zero_variance_samples_are_decided_exactly():
    assert verdict({"greater_than": 0.5}, [1.0, 1.0, 1.0]).verdict == REPRODUCED
    assert verdict({"greater_than": 1.0}, [1.0, 1.0, 1.0]).verdict == NOT_REPRODUCED


def test_alpha_changes_the_verdict():
    xs = [0.02, 0.01, -0.005, 0.015]
    assert verdict({"greater_than": 0, "alpha": 0.1}, xs).verdict == REPRODUCED
    assert verdict({"greater_than": 0, "alpha": 0.01}, xs).verdict == INCONCLUSIVE


@pytest.mark.parametrize("measured", [float("nan"), [1.0, float("nan")], float("inf"), "0.9", True, [], None])
def test_bad_measurements_never_pass(measured):
    with pytest.raises(MeasurementError):
        verdict({"at_least": 0}, measured)


def test_statistical_rule_needs_samples():
    with pytest.raises(MeasurementError, match="per-seed"):
        verdict({"greater_than": 0}, 0.5)


def test_min_seeds_for_statistical_rules():
    with pytest.raises(MeasurementError, match="at least 5 independent seeds, got 3"):
        evaluate(parse_rule({"greater_than": 0}), [0.1, 0.2, 0.3])
    assert evaluate(parse_rule({"greater_than": 0}), [0.1, 0.2, 0.3, 0.15, 0.25]).verdict == REPRODUCED
    assert evaluate(parse_rule({"at_least": 0}), [0.1, 0.2, 0.3]).verdict == REPRODUCED  # exact rules: any n


def test_mde_matches_the_power_formula_and_shrinks_with_n():
    from scipy import stats

    xs = [0.01, 0.03, -0.01, 0.02, 0.0]
    o = evaluate(parse_rule({"greater_than": 0}), xs)
    sd = stats.tstd(xs)
    want = (stats.t.ppf(0.95, 4) + stats.t.ppf(0.8, 4)) * sd / math.sqrt(5)
    assert math.isclose(o.mde, want, rel_tol=1e-9) and "MDE" in o.detail
    assert evaluate(parse_rule({"greater_than": 0}), xs * 4).mde < o.mde


def test_texts_print_integers_as_integers():
    assert parse_rule({"equals": 253440}).text == "equals 253,440 exactly"
    assert parse_rule({"equals": {"value": 6e7, "rel": 0.02}}).text == "equals 60,000,000 +/- 1,200,000"


@pytest.mark.parametrize("check, match", [
    ({"biggerer": 3}, "unknown rule"), ({}, "exactly one rule"), ({"at_least": 1, "at_most": 2}, "exactly one"),
    ({"at_least": "x"}, "must be a number"), ({"between": [3, 1]}, "low > high"), ({"equals": {"abs": 1}}, "needs a value"),
    ({"greater_than": 0, "alpha": 0.7}, "alpha"), ({"at_least": 1, "alpha": 0.05}, "statistical rules only"),
    ({"noninferior": 0.1}, "margin"), ({"equals": float("nan")}, "finite"), ({"equals": 10 ** 400}, "finite"),
    ({"equals": {"value": 1e300, "rel": 0.1}}, "magnitude"), ({"equals": {"value": 1, "rel": 1e300}}, "magnitude"),
    ({"equals": {"value": 1, "abs": -1}}, ">= 0"), ({"equals": {"value": 1, "rel": 2}}, "at most 1"),
    ({"noninferior": {"margin": -0.1}}, ">= 0"), ({"greater_than": float("inf")}, "finite")])
def test_malformed_rules_are_rejected(check, match):
    with pytest.raises(RuleError, match=match):
        parse_rule(dict(check))
