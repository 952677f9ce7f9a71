"""pytest plugin: one test per claim of claims/<key>.yaml, checked against reports/measured/<key>.json.

Outcomes: reproduced -> pass; not_reproduced -> fail, or xfail when the file says `expect: fails` (a claim that
starts to reproduce fails loudly); inconclusive -> fail unless `expect: inconclusive`; not_measured -> skip naming
the command to run; invalid (a bad file, a failed gate, a hollow rule) -> error naming the file, claim, field and line.

Each test's result travels to the controller in `user_properties` (xdist-safe). The controller alone writes the
report and records MLflow runs, at the end of the session:
- reports/claims.{md,html,json} are rewritten (atomically) only by a complete session: every claim of every claim
  file checked, not interrupted. A `-k` run, a single file, `-x` or Ctrl-C leave them untouched (`--report-dir DIR`
  writes a partial run's report elsewhere, marked partial).
- MLflow never decides the outcome: any recording failure is one warning line, and a dead store gives up quickly.
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
    g.addoption("--report-dir", default=None, help="where claims.md/.html/.json go (default: <claims>/../reports, "
                                                   "written only by a complete session)")
    g.addoption("--no-report", action="store_true", help="do not write reports/claims.*")
    g.addoption("--no-mlflow", action="store_true", help="do not record the checks in MLflow")


def pytest_configure(config):
    config._claims_root = None
    config._claims_interrupted = False


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
    except (ValueError, OSError):
        return str(path)


def _locked_stages(config, repo: Path) -> set[str]:
    """The paper keys whose stage dvc.lock records (read once per process): their measured file must exist."""
    cache = getattr(config, "_claims_locked", None)
    if cache is None:
        cache = set()
        lock = repo / "dvc.lock"
        try:
            import yaml

            with open(lock, encoding="utf-8") as f:
                stages = (yaml.safe_load(f) or {}).get("stages") or {}
            for name in stages:
                for prefix in ("measure-", "measure@"):
                    if isinstance(name, str) and name.startswith(prefix):
                        cache.add(name[len(prefix):])
        except (OSError, ValueError, AttributeError, TypeError, Exception):  # noqa: BLE001 - no lock, no check
            cache = set()
        config._claims_locked = cache
    return cache


class ClaimFileNode(pytest.File):
    def collect(self):
        root = self.path.parent.parent
        shown = _shown(self.path, root)
        if self.path.suffix == ".yml":
            twin = self.path.with_suffix(".yaml")
            why = (f"{shown}: one claim file per paper: {twin.name} exists too" if twin.exists() else
                   f"{shown}: claim files end in .yaml (rename it to {twin.name})")
            yield ClaimItem.from_parent(self, name="<file>", claim=None, file_error=why)
            return
        try:
            cf = load_claim_file(self.path, display=shown)
        except Exception as e:  # noqa: BLE001 - the loader never raises; if it did, one file must not stop the rest
            yield ClaimItem.from_parent(self, name="<file>", claim=None,
                                        file_error=f"{shown}: cannot be read ({type(e).__name__}: {str(e)[:200]})")
            return
        if cf.error is not None:
            yield ClaimItem.from_parent(self, name="<file>", claim=None, file_error=str(cf.error))
            return
        mdir = _measured_dir(self.config, self.path.parent)
        measured, measured_error = load_measured(mdir, self.path.stem, _shown(mdir, root))
        default_dir = self.config.getoption("--measured-dir", default=None) is None
        if measured is None and measured_error is None and default_dir and self.path.stem in _locked_stages(self.config, root):
            measured_error = (f"{_shown(mdir, root)}/{self.path.stem}.json is missing, but dvc.lock records stage "
                              f"measure-{self.path.stem}: the committed measurement was lost; restore it "
                              f"(`git checkout -- {_shown(mdir, root)}/{self.path.stem}.json`) or re-measure "
                              f"(`dvc repro measure-{self.path.stem}`)")
        for claim in cf.claims:
            yield ClaimItem.from_parent(self, name=claim.id, claim=claim, measured=measured,
                                        measured_error=measured_error, paper=cf.paper)


class ClaimItem(pytest.Item):
    def __init__(self, *, claim, measured=None, measured_error=None, file_error=None, paper=None, **kw):
        super().__init__(**kw)
        self.claim, self.measured, self.measured_error, self.file_error = claim, measured, measured_error, file_error
        self.paper = paper or {}
        self.result: Result | None = None

    def _error_result(self, message: str) -> dict:
        return {"paper": self.path.stem, "claim": self.name, "file": _shown(self.path, self.path.parent.parent),
                "line": 0, "kind": "?", "says": "", "where": "", "metric": "", "claimed": None, "rule": "",
                "expect": "", "why": "", "profile": None, "verdict": "invalid", "outcome": "error", "message": message,
                "scale": "", "setting": "", "source": "", "title": str(self.paper.get("title", "")),
                "year": self.paper.get("year"), "url": str(self.paper.get("url", ""))}

    def setup(self):
        if self.file_error is not None:
            self.user_properties.append((RESULT_KEY, json.dumps(self._error_result(self.file_error))))
            pytest.fail(self.file_error, pytrace=False)
        try:
            self.result = check_claim(self.claim, self.measured, self.measured_error, self.paper)
            payload = json.dumps(self.result.to_dict(), allow_nan=False)
        except Exception as e:  # noqa: BLE001 - one claim's failure is that claim's error, never the session's
            message = f"{self.claim.path}: claim {self.claim.id!r}: cannot be checked ({type(e).__name__}: {str(e)[:200]})"
            self.user_properties.append((RESULT_KEY, json.dumps(self._error_result(message))))
            pytest.fail(message, pytrace=False)
        self.user_properties.append((RESULT_KEY, payload))
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


_results_sink: dict[str, dict] = {}


def pytest_runtest_logreport(report):
    """On the controller (or a plain run) keep each claim's result, whichever phase carried it."""
    for key, value in getattr(report, "user_properties", ()):
        if key == RESULT_KEY:
            _results_sink[report.nodeid] = json.loads(value)


def pytest_keyboard_interrupt(excinfo):
    global _interrupted
    _interrupted = True


_interrupted = False


def _expected_claims(claims_dir: Path) -> set[tuple[str, str]]:
    """(paper, claim) of every claim in claims/: what a complete session checks."""
    out = set()
    for path in sorted(claims_dir.glob("*.y*ml")):
        if path.suffix == ".yml":
            out.add((path.stem, "<file>"))
            continue
        cf = load_claim_file(path)
        if cf.error is not None:
            out.add((path.stem, "<file>"))
        else:
            out.update((path.stem, c.id) for c in cf.claims)
    return out


def _claims_dir(config) -> Path | None:
    """The claims/ folder of the session; under xdist the controller collects nothing, so it reads the arguments."""
    if config._claims_root is not None:
        return Path(config._claims_root)
    for arg in config.args:
        p = Path(str(arg).split("::")[0])
        p = p if p.is_absolute() else Path(config.invocation_params.dir) / p
        if p.is_dir() and p.name == "claims":
            return p.resolve()
        if p.is_file() and p.parent.name == "claims":
            return p.parent.resolve()
    fallback = Path(str(config.rootpath)) / "claims"
    return fallback if fallback.is_dir() else None


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput"):  # an xdist worker: the controller records and reports
        return
    results = [r for _, r in sorted(_results_sink.items())]
    _results_sink.clear()
    claims_dir = _claims_dir(config)
    if not results or claims_dir is None:
        return
    config._claims_root = claims_dir
    root = claims_dir.parent
    tr = config.pluginmanager.get_plugin("terminalreporter")
    say = (lambda m: (tr.ensure_newline(), tr.write_line(m))) if tr else print
    interrupted = _interrupted or exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop
    missing = _expected_claims(config._claims_root) - {(r["paper"], r["claim"]) for r in results}
    complete = not interrupted and not missing
    reach = f"{len(results)} of {len(results) + len(missing)} claims"
    if not config.getoption("--no-report"):
        from claimcheck.report import write_reports

        chosen = config.getoption("--report-dir")
        if complete or chosen:
            out_dir = Path(chosen or root / "reports")
            paths = write_reports(results, out_dir, figures_dir=root / "reports" / "figures",
                                  partial=None if complete else f"partial session: {reach} checked")
            say(f"claims report: {', '.join(str(p) for p in paths)}" + ("" if complete else " (partial)"))
        else:
            say(f"claims report: not written ({'interrupted' if interrupted else 'a partial session'}: {reach}); "
                f"reports/claims.* are rewritten only by a complete `pytest claims/` (or pass --report-dir)")
    if not config.getoption("--no-mlflow") and not os.environ.get("CLAIMS_NO_MLFLOW"):
        from claimcheck.mlflow_record import record_safely

        say(record_safely(results, repo=root, complete=complete, interrupted=interrupted))
