"""The pytest plugin end to end on made-up claim files: outcomes, bad input, the report and MLflow."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path


# pytester's in-process runs drop the modules a run imported; extension modules cannot be loaded twice, so
# import what the plugin imports lazily before any run
import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
import mlflow.tracking  # noqa: F401
import scipy.stats  # noqa: F401

PAPER = 'paper: {key: %s, index: 0, title: "T", authors: "A", year: 2020, url: https://example.org}\n'
GOOD = PAPER % "good" + textwrap.dedent("""\
    claims:
      - id: exact_ok
        says: "The model has 5 layers."
        where: "Table 1"
        kind: structural
        metric: layers
        claimed: 5
        check: {equals: 5}
      - id: beats_baseline
        says: "Ours beats the baseline."
        where: "Sec. 4"
        kind: empirical
        metric: gain
        claimed: null
        check: {greater_than: 0}
      - id: known_failure
        says: "Ours is 10 points better."
        where: "Table 2"
        kind: empirical
        metric: gain
        claimed: 0.1
        check: {greater_than: 0.1}
        expect: fails
        why: "At our scale the gain is about 1 point."
      - id: moved_verdict
        says: "The gain is huge."
        where: "Abstract"
        kind: empirical
        metric: gain
        claimed: 0.5
        check: {greater_than: 0.5}
      - id: paper_scale
        says: "ImageNet top-1 75%."
        where: "Table 3"
        kind: empirical
        profile: full
        metric: top1
        claimed: 0.75
        check: {at_least: 0.74}
    """)
GOOD_MEASURED = {"paper": "good", "profile": "cpu", "seeds": [0, 1, 2], "metrics": {"layers": 5, "gain": [0.01, 0.012, 0.009]}}


def claim(cid, **fields):
    base = {"id": cid, "says": "s", "where": "w", "kind": "empirical", "metric": "gain", "check": "{greater_than: 0}"}
    base.update(fields)
    return "  - " + "\n    ".join(f"{k}: {v}" for k, v in base.items() if v is not None) + "\n"


def make_repo(root: Path, files: dict, measured: dict) -> Path:
    (root / "claims").mkdir(parents=True, exist_ok=True)
    (root / "reports" / "measured").mkdir(parents=True, exist_ok=True)
    (root / "claims" / "conftest.py").write_text("from claimcheck.pytest_plugin import *  # noqa\n")
    for name, text in files.items():
        (root / "claims" / f"{name}.yaml").write_text(text)
    for name, doc in measured.items():
        path = root / "reports" / "measured" / f"{name}.json"
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return root


def run(pytester, *args):
    return pytester.runpytest("claims/", "-p", "no:cacheprovider", "--no-mlflow", "-rA", *args)


def test_outcomes_follow_verdicts_and_expect(pytester):
    make_repo(pytester.path, {"good": GOOD}, {"good": GOOD_MEASURED})
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1, skipped=1, xfailed=1)
    out = result.stdout.str()
    # the failing claim shows the paper's words and place, the claimed and measured values, the interval and rule
    assert "good/moved_verdict did NOT reproduce" in out and "The gain is huge." in out and "Abstract" in out
    assert "CI [" in out and "mean > 0.5" in out
    assert "dvc exp run -S profile=full" in out  # the skip names the command that would measure it


def test_a_claim_that_starts_to_reproduce_fails_loudly(pytester):
    measured = dict(GOOD_MEASURED, metrics={"layers": 5, "gain": [0.6, 0.61, 0.62]})
    make_repo(pytester.path, {"good": GOOD}, {"good": measured})
    result = run(pytester)
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    assert "the verdict moved: update `expect`" in result.stdout.str()


BAD_FILES = {
    "broken_yaml": PAPER % "broken_yaml" + "claims:\n  - id: a\n    says: [unclosed\n",
    "unknown_rule": PAPER % "unknown_rule" + "claims:\n" + claim("weird", check="{biggerer: 3}"),
    "missing_field": PAPER % "missing_field" + "claims:\n" + claim("no_where", where=None),
    "duplicate_id": PAPER % "duplicate_id" + "claims:\n" + claim("same") + claim("same"),
    "missing_metric": PAPER % "missing_metric" + "claims:\n" + claim("ghost", metric="not_there"),
    "nan_metric": PAPER % "nan_metric" + "claims:\n" + claim("nan_gain"),
    "text_metric": PAPER % "text_metric" + "claims:\n" + claim("text_gain"),
    "other_profile": PAPER % "other_profile" + "claims:\n" + claim("cpu_only", profile="cpu"),
    "fails_without_why": PAPER % "fails_without_why" + "claims:\n" + claim("no_reason", expect="fails"),
}
BAD_MEASURED = {
    "unknown_rule": GOOD_MEASURED | {"paper": "unknown_rule"}, "missing_field": GOOD_MEASURED | {"paper": "missing_field"},
    "duplicate_id": GOOD_MEASURED | {"paper": "duplicate_id"}, "missing_metric": GOOD_MEASURED | {"paper": "missing_metric"},
    "nan_metric": '{"paper": "nan_metric", "profile": "cpu", "metrics": {"gain": [0.1, NaN, 0.2]}}',
    "text_metric": {"paper": "text_metric", "profile": "cpu", "metrics": {"gain": ["high", "higher"]}},
    "other_profile": {"paper": "other_profile", "profile": "smoke", "metrics": {"gain": [0.1, 0.2]}},
    "fails_without_why": GOOD_MEASURED | {"paper": "fails_without_why"},
}


def test_bad_input_names_file_claim_field_and_line_and_the_rest_is_still_checked(pytester):
    make_repo(pytester.path, {"good": GOOD, **BAD_FILES}, {"good": GOOD_MEASURED, **BAD_MEASURED})
    result = run(pytester)
    out = result.stdout.str()
    # the good file's claims are checked as before; the same-id claim that came first is fine too
    result.assert_outcomes(passed=3, failed=1, skipped=2, xfailed=1, errors=8)
    expected = [
        "claims/broken_yaml.yaml:5: not valid YAML",
        "claims/unknown_rule.yaml:8, claim 'weird', field 'check': unknown rule 'biggerer'",
        "claims/missing_field.yaml:3, claim 'no_where', field 'where': missing required field",
        "claims/duplicate_id.yaml:9, claim 'same', field 'id': duplicate claim id (first at line 3)",
        "claims/missing_metric.yaml:7: claim 'ghost', field 'metric': 'not_there' is not in reports/measured/missing_metric.json",
        "claims/nan_metric.yaml:7: claim 'nan_gain', field 'metric' ('gain'): the measurement is not finite (nan)",
        "claims/text_metric.yaml:7: claim 'text_gain', field 'metric' ('gain'): the measurement must be a number",
        "claims/fails_without_why.yaml:3, claim 'no_reason', field 'why': expect: fails needs a `why`",
    ]
    for line in expected:
        assert line in out, line
    assert "measured at profile 'smoke'; this claim is checked at cpu" in out


def test_report_lists_failures_first_and_is_deterministic(pytester):
    make_repo(pytester.path, {"good": GOOD}, {"good": GOOD_MEASURED})
    run(pytester)
    reports = pytester.path / "reports"
    first = {n: (reports / n).read_text() for n in ("claims.md", "claims.html", "claims.json")}
    run(pytester)
    assert first == {n: (reports / n).read_text() for n in first}
    md = first["claims.md"]
    assert md.index("## Did not reproduce") < md.index("| good | moved_verdict |") < md.index("## good")
    assert "| NOT reproduced | 2 |" in md and "| reproduced | 2 |" in md and "| not measured | 1 |" in md
    doc = json.loads(first["claims.json"])
    assert doc["counts"]["not_reproduced"] == 2 and len(doc["claims"]) == 5
    assert "<svg" in first["claims.html"] and "<tr class='not_reproduced'>" in first["claims.html"]


def test_mlflow_records_a_parent_and_one_child_per_claim(pytester, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    make_repo(pytester.path, {"good": GOOD}, {"good": GOOD_MEASURED})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    pytester.runpytest_subprocess("claims/", "-p", "no:cacheprovider")  # a fresh process: MLflow's SQLAlchemy once
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("paper-claims")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 5
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    moved = next(c for c in children if c.data.tags["claim"] == "moved_verdict")
    assert moved.data.tags["verdict"] == "not_reproduced" and moved.data.params["rule"].startswith("mean > 0.5")
    assert moved.data.metrics["claimed"] == 0.5 and "ci_low" in moved.data.metrics and "p_value" in moved.data.metrics
    assert parents[0].data.metrics["n_reproduced"] == 2 and parents[0].data.tags["git_commit"]


def test_five_xdist_sessions_in_a_row_record_five_parents(tmp_path):
    """Only the controller writes: no 'database is locked', no schema race, one parent run per session."""
    from mlflow.tracking import MlflowClient

    make_repo(tmp_path, {"good": GOOD}, {"good": GOOD_MEASURED})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri)
    for _ in range(5):
        p = subprocess.run([sys.executable, "-m", "pytest", "claims/", "-n", "2", "-p", "no:cacheprovider", "-q"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 1, p.stdout + p.stderr  # moved_verdict fails by design
        assert "locked" not in p.stdout + p.stderr and "Traceback" not in p.stdout + p.stderr
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("paper-claims").experiment_id], max_results=1000)
    assert sum("mlflow.parentRunId" not in r.data.tags for r in runs) == 5
    assert len(runs) == 5 * 6
