"""The pytest plugin end to end on made-up claim files: outcomes, bad input, the report and MLflow."""
import json
import os
import subprocess
import sys


# pytester's in-process runs drop the modules a run imported; extension modules cannot be loaded twice, so
# import what the plugin imports lazily before any run
import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
import mlflow.tracking  # noqa: F401
import scipy.stats  # noqa: F401

from fake_data import GOOD, GOOD_MEASURED, PAPER, make_repo  # noqa: E402


def claim(cid, **fields):
    base = {"id": cid, "says": "s", "where": "w", "kind": "empirical", "scale": "analogue", "setting": '"made-up, 5 seeds"',
            "metric": "gain", "check": "{greater_than: 0}"}
    base.update(fields)
    return "  - " + "\n    ".join(f"{k}: {v}" for k, v in base.items() if v is not None) + "\n"


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
    measured = dict(GOOD_MEASURED, metrics={**GOOD_MEASURED["metrics"], "gain": [0.6, 0.61, 0.62, 0.6, 0.61]})
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
    "nan_metric": '{"paper": "nan_metric", "profile": "cpu", "metrics": {"gain": [0.1, null, 0.2, 0.1, 0.1]}}',
    "text_metric": {"paper": "text_metric", "profile": "cpu", "metrics": {"gain": ["high", "higher"]}},
    "other_profile": {"paper": "other_profile", "profile": "smoke", "metrics": {"gain": [0.1, 0.2, 0.1, 0.1, 0.1]}},
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
        "claims/unknown_rule.yaml:10, claim 'weird', field 'check': unknown rule 'biggerer'",
        "claims/missing_field.yaml:3, claim 'no_where', field 'where': missing required field",
        "claims/duplicate_id.yaml:11, claim 'same', field 'id': duplicate claim id (first at line 3)",
        "claims/missing_metric.yaml:9: claim 'ghost', field 'metric': 'not_there' is not in reports/measured/missing_metric.json",
        "claims/nan_metric.yaml:9: claim 'nan_gain', field 'metric' ('gain'): the stage recorded a non-finite value",
        "claims/text_metric.yaml:9: claim 'text_gain', field 'metric' ('gain'): the measurement must be a number",
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
    assert md.index("## 3. Did not reproduce in a scaled-down analogue") < md.index("| good | moved_verdict |") < md.index("## good")
    assert "| NOT reproduced | 0 | 0 | 2 | 2 |" in md  # columns: paper/structural, paper/empirical, analogue/empirical
    doc = json.loads(first["claims.json"])
    assert doc["counts"]["not_reproduced"] == 2 and len(doc["claims"]) == 5 and doc["partial"] is None
    assert doc["sections"]["analogue_not_reproduced"] == ["good/known_failure", "good/moved_verdict"]
    assert "<svg" in first["claims.html"] and "<tr class='not_reproduced'>" in first["claims.html"]


def test_a_partial_session_leaves_the_committed_report_untouched(pytester):
    make_repo(pytester.path, {"good": GOOD, "other": GOOD.replace("key: good", "key: other")},
              {"good": GOOD_MEASURED, "other": GOOD_MEASURED | {"paper": "other"}})
    run(pytester)
    reports = pytester.path / "reports"
    before = {n: (reports / n).read_bytes() for n in ("claims.md", "claims.html", "claims.json")}
    for extra in (["-k", "exact_ok"], ["claims/good.yaml"], ["-x"]):
        result = pytester.runpytest(*(extra if extra[0].startswith("claims/") else ["claims/", *extra]),
                                    "-p", "no:cacheprovider", "--no-mlflow")
        assert "claims report: not written" in result.stdout.str(), extra
        assert before == {n: (reports / n).read_bytes() for n in before}, extra
    # a partial run may write its report elsewhere, marked partial
    result = pytester.runpytest("claims/good.yaml", "-p", "no:cacheprovider", "--no-mlflow", "--report-dir", "elsewhere")
    assert "PARTIAL REPORT" in (pytester.path / "elsewhere" / "claims.md").read_text()


def test_a_measured_file_lost_after_dvc_recorded_it_is_an_error_not_a_skip(pytester):
    make_repo(pytester.path, {"good": GOOD}, {})
    (pytester.path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  measure-good:\n    cmd: scripts/stage good\n")
    result = run(pytester)
    result.assert_outcomes(errors=5)
    assert "reports/measured/good.json is missing, but dvc.lock records stage measure-good" in result.stdout.str()


def test_one_claim_file_per_paper(pytester):
    make_repo(pytester.path, {"good": GOOD}, {"good": GOOD_MEASURED})
    (pytester.path / "claims" / "good.yml").write_text(GOOD)
    (pytester.path / "claims" / "lonely.yml").write_text(GOOD.replace("key: good", "key: lonely"))
    out = run(pytester).stdout.str()
    assert "claims/good.yml: one claim file per paper: good.yaml exists too" in out
    assert "claims/lonely.yml: claim files end in .yaml" in out


def test_mlflow_records_a_parent_a_run_per_paper_and_one_per_claim(pytester, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    make_repo(pytester.path, {"good": GOOD}, {"good": GOOD_MEASURED})
    figs = pytester.path / "reports" / "figures" / "good"
    figs.mkdir(parents=True)
    (figs / "measured.png").write_bytes(b"\x89PNG fake")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    pytester.runpytest_subprocess("claims/", "-p", "no:cacheprovider")  # a fresh process: MLflow's SQLAlchemy once
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("paper-claims")
    runs = client.search_runs([exp.experiment_id])
    by_id = {r.info.run_id: r for r in runs}
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].info.run_name.startswith("pytest claims/ cpu @ ")
    papers = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    claims = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in {p.info.run_id for p in papers}]
    assert len(papers) == 1 and len(claims) == 5
    assert [a.path for a in client.list_artifacts(papers[0].info.run_id, "figures")] == ["figures/measured.png"]
    moved = next(c for c in claims if c.data.tags["claim"] == "moved_verdict")
    assert moved.data.tags["verdict"] == "not_reproduced" and moved.data.params["rule"].startswith("mean > 0.5")
    assert moved.data.tags["scale"] == "analogue" and moved.data.tags["setting"] == "made-up data, 5 seeds"
    assert moved.data.tags["title"] == "T" and moved.data.tags["url"] == "https://example.org"
    assert moved.data.metrics["claimed"] == 0.5 and "ci_low" in moved.data.metrics and "mde" in moved.data.metrics
    history = client.get_metric_history(moved.info.run_id, "measured")
    assert abs(history[0].timestamp / 1000 - by_id[moved.info.run_id].info.start_time / 1000) < 600  # real time
    skipped = next(c for c in claims if c.data.tags["claim"] == "paper_scale")
    assert skipped.info.status == "FINISHED" and skipped.data.tags["verdict"] == "not_measured"
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
    assert len(runs) == 5 * 7  # per session: the parent, the paper, its five claims
    # comparing two sessions: nothing moved between identical runs; a moved verdict is listed
    p = subprocess.run([sys.executable, "-m", "claimcheck", "diff", "previous", "latest"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.startswith("5 claims in ") and ": 0 changed" in p.stdout, p.stdout + p.stderr


def test_diff_lists_moved_added_and_removed_claims():
    from claimcheck.__main__ import diff

    a = {"p/x": {"verdict": "reproduced", "measured": 1.0}, "p/gone": {"verdict": "invalid", "measured": None}}
    b = {"p/x": {"verdict": "not_reproduced", "measured": 0.5}, "p/new": {"verdict": "reproduced", "measured": 2.0}}
    assert diff(a, b) == ["removed  p/gone: was invalid", "added    p/new: reproduced",
                          "moved    p/x: reproduced -> not_reproduced (measured 1 -> 0.5)"]
