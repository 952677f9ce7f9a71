"""pytest plugin: one test per claim of claims/<key>.yaml, checked against reports/measured/<key>.json.

Outcomes: reproduced -> pass; not_reproduced -> fail, or xfail when the file says `expect: fails` (a claim that
starts to reproduce fails loudly); not_measured -> skip naming the command to run; invalid -> error naming the
file, claim, field and line. Each test's result travels to the controller in `user_properties` (xdist-safe); the
controller alone records MLflow runs and writes reports/claims.{md,html,json} at the end of the session.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from claimcheck.check import Result, check_claim, load_measured
from claimcheck.schema import load_claim_file

RESULT_KEY = "claim_result"


def pytest_addoption(parser):
    g = parser.getgroup("claims", "paper claims")
    g.addoption("--measured-dir", default=None, help="folder of <key>.json measurements (default: <claims>/../reports/measured)")
    g.addoption("--report-dir", default=None, help="where claims.md/.html/.json go (default: <claims>/../reports)")
    g.addoption("--no-report", action="store_true", help="do not write reports/claims.*")
    g.addoption("--no-mlflow", action="store_true", help="do not record the checks in MLflow")


def pytest_configure(config):
    config._claims_root = None


def _measured_dir(config, claims_dir: Path) -> Path:
    opt = config.getoption("--measured-dir", default=None)
    return Path(opt) if opt else claims_dir.parent / "reports" / "measured"


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix in (".yaml", ".yml") and file_path.parent.name == "claims":
        parent.config._claims_root = file_path.parent
        return ClaimFileNode.from_parent(parent, path=file_path)
    return None


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


class ClaimFileNode(pytest.File):
    def collect(self):
        root = self.path.parent.parent
        cf = load_claim_file(self.path, display=_shown(self.path, root))
        if cf.error is not None:
            yield ClaimItem.from_parent(self, name="<file>", claim=None, file_error=str(cf.error))
            return
        mdir = _measured_dir(self.config, self.path.parent)
        measured, measured_error = load_measured(mdir, self.path.stem, _shown(mdir, root))
        for claim in cf.claims:
            yield ClaimItem.from_parent(self, name=claim.id, claim=claim, measured=measured,
                                        measured_error=measured_error, paper=cf.paper)


class ClaimItem(pytest.Item):
    def __init__(self, *, claim, measured=None, measured_error=None, file_error=None, paper=None, **kw):
        super().__init__(**kw)
        self.claim, self.measured, self.measured_error, self.file_error = claim, measured, measured_error, file_error
        self.paper = paper or {}
        self.result: Result | None = None

    def setup(self):
        if self.file_error is not None:
            key = self.path.stem
            self.user_properties.append((RESULT_KEY, json.dumps({
                "paper": key, "claim": "<file>", "file": _shown(self.path, self.path.parent.parent), "line": 0, "kind": "?", "says": "",
                "where": "", "metric": "", "claimed": None, "rule": "", "expect": "", "why": "", "profile": None,
                "verdict": "invalid", "outcome": "error", "message": self.file_error})))
            pytest.fail(self.file_error, pytrace=False)
        self.result = check_claim(self.claim, self.measured, self.measured_error, self.paper)
        self.user_properties.append((RESULT_KEY, json.dumps(self.result.to_dict())))
        if self.result.outcome == "error":
            pytest.fail(self.result.message, pytrace=False)
        if self.result.outcome == "skipped":
            raise pytest.skip.Exception(self.result.message, _use_item_location=True)

    def runtest(self):
        r = self.result
        if r.outcome == "xfailed":
            pytest.xfail(f"{r.verdict} as expected: {r.why}")
        if r.outcome == "failed":
            pytest.fail(r.message, pytrace=False)

    def reportinfo(self):
        line = self.claim.line - 1 if self.claim is not None and self.claim.line else 0
        return self.path, line, f"{self.path.stem}::{self.name}"


def pytest_runtest_logreport(report):
    """On the controller (or a plain run) keep each claim's result, whichever phase carried it."""
    for key, value in getattr(report, "user_properties", ()):
        if key == RESULT_KEY:
            _results_sink[report.nodeid] = json.loads(value)


_results_sink: dict[str, dict] = {}


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput"):  # an xdist worker: the controller records and reports
        return
    results = [r for _, r in sorted(_results_sink.items())]
    _results_sink.clear()
    if not results:
        return
    root = (config._claims_root or Path(str(config.rootpath)) / "claims").parent
    tr = config.pluginmanager.get_plugin("terminalreporter")
    say = (lambda m: tr.write_line(m)) if tr else print
    if not config.getoption("--no-report"):
        from claimcheck.report import write_reports

        out_dir = Path(config.getoption("--report-dir") or root / "reports")
        paths = write_reports(results, out_dir, figures_dir=root / "reports" / "figures")
        say(f"claims report: {', '.join(str(p) for p in paths)}")
    if not config.getoption("--no-mlflow") and not os.environ.get("CLAIMS_NO_MLFLOW"):
        import warnings

        from claimcheck.mlflow_record import record

        with warnings.catch_warnings():  # MLflow's SQLAlchemy store emits deprecation noise on every run
            warnings.simplefilter("ignore")
            uri, run_id = record(results, repo=root)
        say(f"MLflow: {len(results)} checks recorded under parent run {run_id} at {uri}")
