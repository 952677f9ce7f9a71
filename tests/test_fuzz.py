"""Fuzzing the engine: random claim files and measured files (random structures and types, unicode, huge and
non-finite numbers, deep nesting) go through loading, checking and reporting. Nothing may raise but the project's
own clear error (in `.error` / an invalid result), and no claim on a non-finite value may pass."""
import json
import math
import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimcheck.check import check_claim, load_measured
from claimcheck.report import write_reports
from claimcheck.schema import load_claim_file

def mostly(valid, garbage):
    """Valid values three times in four, so that fuzzing reaches the verdicts, not only the schema errors."""
    return st.one_of(valid, valid, valid, garbage)


numbers = st.one_of(st.integers(), st.integers(min_value=-10 ** 500, max_value=10 ** 500),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, -1, 0.5, 1e300, 5e15]))
text = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=20)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
anything = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(text, inner, max_size=4)),
                        max_leaves=20)
RULES = st.one_of(
    st.fixed_dictionaries({"equals": st.one_of(numbers, st.fixed_dictionaries(
        {}, optional={"value": numbers, "rel": numbers, "abs": numbers}))}),
    st.sampled_from(["at_least", "at_most", "greater_than", "less_than"]).flatmap(
        lambda k: st.fixed_dictionaries({k: mostly(st.floats(-1, 1), numbers)})),
    st.fixed_dictionaries({"between": st.lists(numbers, min_size=0, max_size=3)}),
    st.sampled_from(["noninferior", "equivalent"]).flatmap(lambda k: st.fixed_dictionaries({k: st.fixed_dictionaries(
        {"margin": mostly(st.floats(0, 1), numbers)},
        optional={"reference": numbers, "better": st.sampled_from(["higher", "lower", "x"])})},
        optional={"alpha": st.one_of(numbers, st.text(max_size=3))})),
    anything)
METRICS = ["m", "g", "weird"]
words = st.text(alphabet=string.ascii_letters + " \u00e9\u4e2d", min_size=1, max_size=20).filter(str.strip)


small = st.floats(-2, 2, allow_nan=False)
VALID_RULES = st.one_of(
    st.sampled_from(["at_least", "at_most", "greater_than", "less_than"]).flatmap(lambda k: st.fixed_dictionaries({k: small})),
    st.fixed_dictionaries({"equals": st.fixed_dictionaries({"value": small}, optional={"rel": st.floats(0, 1),
                                                                                         "abs": st.floats(0, 1)})}),
    st.sampled_from(["noninferior", "equivalent"]).flatmap(lambda k: st.fixed_dictionaries(
        {k: st.fixed_dictionaries({"margin": st.floats(0, 1)}, optional={"reference": small})})))
valid_claim = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c_1"]), "says": words, "where": words,
     "kind": st.sampled_from(["structural", "analytical", "empirical"]), "scale": st.sampled_from(["paper", "analogue"]),
     "setting": words, "metric": st.sampled_from(METRICS), "check": VALID_RULES},
    optional={"claimed": st.one_of(st.none(), small), "null": small, "profile": st.sampled_from(["cpu", ["cpu", "full"]]),
              "requires": st.lists(st.fixed_dictionaries({"metric": st.sampled_from(METRICS)}).flatmap(
                  lambda g: VALID_RULES.map(lambda r: {**g, **r})).flatmap(
                  lambda g: st.booleans().map(lambda pc: {**g, "positive_control": pc})), max_size=2)})
garbage_claim = st.fixed_dictionaries(
    {"id": mostly(st.sampled_from(["a", "b", "c_1"]), st.text(max_size=6)),
     "says": mostly(words, anything), "where": mostly(words, anything),
     "kind": mostly(st.sampled_from(["structural", "analytical", "empirical"]), st.just("other")),
     "scale": mostly(st.sampled_from(["paper", "analogue"]), st.sampled_from(["", "galactic"])),
     "setting": mostly(words, anything), "metric": st.sampled_from(METRICS), "check": RULES},
    optional={"claimed": mostly(numbers, st.one_of(st.lists(numbers, max_size=3), anything)), "null": mostly(numbers, anything),
              "requires": st.lists(st.one_of(st.fixed_dictionaries({"metric": st.sampled_from(METRICS)}).flatmap(
                  lambda g: RULES.map(lambda r: {**g, **r} if isinstance(r, dict) else g)), anything), max_size=3),
              "profile": st.one_of(st.sampled_from(["cpu", "full", "smoke"]), st.lists(anything, max_size=2), anything),
              "expect": st.one_of(st.sampled_from(["reproduces", "fails", "inconclusive"]), anything),
              "why": st.one_of(st.text(max_size=20), anything), "source": anything})
claim_like = st.one_of(valid_claim, valid_claim, garbage_claim)
claim_files = mostly(
    st.fixed_dictionaries({"paper": st.fixed_dictionaries({"key": st.just("fuzz"), "title": st.one_of(*[words] * 7, anything),
                                                           "url": st.just("https://example.org")},
                                                          optional={"year": anything}),
                           "claims": st.lists(mostly(claim_like, anything), min_size=1, max_size=5)}),
    anything)
finite = st.floats(min_value=-2, max_value=2, allow_nan=False)
measured_docs = mostly(
    st.fixed_dictionaries({"paper": st.just("fuzz"), "profile": mostly(st.sampled_from(["cpu", "full"]), st.just("x")),
                           "metrics": st.fixed_dictionaries({m: mostly(
                               st.one_of(finite, st.lists(finite, min_size=1, max_size=8)),
                               st.one_of(numbers, st.lists(numbers, max_size=7), anything)) for m in METRICS})}),
    anything)


def _dump_yaml(doc) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError):
        return str(doc)


def _dump_json(doc) -> str:
    try:
        return json.dumps(doc)
    except (ValueError, TypeError, RecursionError, OverflowError):
        return str(doc)


def _non_finite(x) -> bool:
    xs = x if isinstance(x, list) else [x]
    for v in xs:
        if isinstance(v, float) and not math.isfinite(v):
            return True
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 1e15:
            return True
    return False


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(claim_doc=claim_files, measured_doc=measured_docs,
       raw=st.one_of(*[st.none()] * 7, st.text(alphabet=string.printable + "\u00e9\u4e2d\u2603&*!|>{}[]", max_size=200)))
def test_random_files_never_raise_and_never_pass_a_non_finite_value(tmp_path_factory, claim_doc, measured_doc, raw):
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "fuzz.yaml").write_text(raw if raw is not None else _dump_yaml(claim_doc), encoding="utf-8")
    (tmp / "fuzz.json").write_text(_dump_json(measured_doc), encoding="utf-8")
    cf = load_claim_file(tmp / "fuzz.yaml")
    measured, err = load_measured(tmp, "fuzz")
    results = []
    for c in cf.claims:
        r = check_claim(c, measured, err, cf.paper)
        results.append(r.to_dict())
        if r.verdict == "reproduced" and measured is not None:
            value = measured["metrics"].get(c.metric)
            assert not _non_finite(value), (c.id, value)
            for g in c.requires:
                assert not _non_finite(measured["metrics"].get(g.metric)), (g.metric, measured["metrics"])
    if results:
        write_reports(results, tmp / "out")
        json.loads((tmp / "out" / "claims.json").read_text())
