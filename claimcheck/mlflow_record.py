"""Record one `pytest claims/` session in MLflow: a parent run, a run per paper (its figures as artifacts), and one
run per claim check nested under its paper.

Only the pytest controller calls this (xdist workers never touch the store). The tracking URI comes from
MLFLOW_TRACKING_URI, else an absolute sqlite file in the repo (mlflow.db, gitignored). Recording never decides the
session: `record_safely` turns any failure into one warning line, HTTP stores get a short timeout and no retry loop,
SQLite stores are written under a file lock (several sessions at once queue instead of racing on the schema), and an
interrupted session leaves its parent run KILLED with the count it reached.
"""
from __future__ import annotations

import math
import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

EXPERIMENT = "paper-claims"
TIMEOUT_S = float(os.environ.get("CLAIMS_MLFLOW_TIMEOUT", "120"))  # the most a session waits for its recording
VERDICTS = ("reproduced", "not_reproduced", "inconclusive", "invalid", "not_measured")


def tracking_uri(repo: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(repo).resolve() / 'mlflow.db'}"


def git_commit(repo: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def _fast_sqlite(client) -> None:
    """Hundreds of small runs per session: write-ahead logging with synchronous=NORMAL is crash-safe and ~5x faster
    than SQLite's default journal; a busy timeout lets a reader wait for a writer. Best effort."""
    try:
        from sqlalchemy import event

        engine = client._tracking_client.store.engine
        if engine.dialect.name != "sqlite":
            return

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        engine.dispose()  # pooled connections reconnect with the pragmas
    except Exception:  # noqa: BLE001
        pass


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _experiment_id(client, name: str, artifact_root: Path | None) -> str:
    """Get or create the experiment; two sessions creating it at once both end up with the same one."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_root.as_uri() if artifact_root else None)
    except Exception:  # noqa: BLE001 - RESOURCE_ALREADY_EXISTS from a concurrent session, or a real failure
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


class _Recorder:
    def __init__(self, results: list[dict], repo: Path, complete: bool, interrupted: bool):
        self.results, self.repo, self.complete, self.interrupted = results, Path(repo), complete, interrupted
        self.stop = threading.Event()
        self.done = threading.Event()  # set last: Thread.is_alive() can lie after a join interrupted by Ctrl-C
        self.uri = tracking_uri(repo)
        self.parent_id: str | None = None
        self.recorded = 0
        self.error: BaseException | None = None
        self.client = None

    def run(self) -> None:
        try:
            db = _sqlite_path(self.uri)
            if db is not None:
                from filelock import FileLock

                db.parent.mkdir(parents=True, exist_ok=True)
                with FileLock(str(db) + ".lock", timeout=TIMEOUT_S):
                    self._record()
            else:
                self._record()
        except BaseException as e:  # noqa: BLE001 - reported as one line by record_safely
            self.error = e
        finally:
            self._close_parent()
            self.done.set()

    def _record(self) -> None:
        import logging

        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        for name in ("alembic", "mlflow", "urllib3"):  # after the import: MLflow sets its own levels when imported
            logging.getLogger(name).setLevel(logging.ERROR)

        client = MlflowClient(tracking_uri=self.uri)
        self.client = client
        _fast_sqlite(client)
        db = _sqlite_path(self.uri)
        exp_id = _experiment_id(client, EXPERIMENT, (db.parent / "mlartifacts") if db else None)
        commit = git_commit(self.repo)
        now = int(time.time() * 1000)
        counts = Counter(r["verdict"] for r in self.results)
        profiles = ",".join(sorted({r["profile"] for r in self.results if r.get("profile")})) or "none"
        if self.stop.is_set():
            return
        parent = client.create_run(exp_id, run_name=f"pytest claims/ {profiles} @ {commit[:8]}", tags={
            "git_commit": commit, "profile": profiles, "session": "complete" if self.complete else "partial",
            "mlflow.source.name": "pytest claims/", "mlflow.source.git.commit": commit})
        self.parent_id = parent.info.run_id
        client.log_batch(self.parent_id, metrics=[Metric(f"n_{v}", float(counts.get(v, 0)), now, 0) for v in VERDICTS] +
                         [Metric("n_claims", float(len(self.results)), now, 0),
                          Metric("n_verdict_moved", float(sum(r["outcome"] == "failed" for r in self.results)), now, 0)])
        papers: dict[str, str] = {}
        figures_root = self.repo / "reports" / "figures"
        for r in self.results:
            if self.stop.is_set():
                return
            key = r["paper"]
            if key not in papers:
                run = client.create_run(exp_id, run_name=key, tags={
                    "mlflow.parentRunId": self.parent_id, "session_run": self.parent_id, "paper": key, "title": str(r.get("title") or "")[:500],
                    "url": str(r.get("url") or ""), "git_commit": commit})
                papers[key] = run.info.run_id
                folder = figures_root / key
                if folder.is_dir():
                    client.log_artifacts(papers[key], str(folder), artifact_path="figures")
                client.set_terminated(papers[key], "FINISHED")
            self._claim_run(client, exp_id, r, papers[key], commit, now, Metric, Param)
            self.recorded += 1

    def _claim_run(self, client, exp_id, r, paper_run, commit, now, Metric, Param) -> None:
        tags = {"paper": r["paper"], "claim": r["claim"], "kind": r["kind"], "scale": r.get("scale") or "",
                "profile": r.get("profile") or "none", "verdict": r["verdict"], "expect": r.get("expect") or "",
                "outcome": r["outcome"], "metric": r.get("metric") or "", "title": str(r.get("title") or "")[:500],
                "url": str(r.get("url") or ""), "git_commit": commit, "figures": f"run {paper_run}, artifacts/figures",
                "session_run": self.parent_id}
        long_tags = {"says": r.get("says", ""), "where": r.get("where", ""), "setting": r.get("setting", ""),
                     "source": r.get("source", ""), "why": r.get("why", ""), "rule": r.get("rule", ""),
                     "message": r.get("message", ""), "power": r.get("power", "")}
        all_tags = {"mlflow.parentRunId": paper_run, **{k: str(v) for k, v in tags.items()},
                    **{k: str(v)[:5000] for k, v in long_tags.items() if v}}
        run = client.create_run(exp_id, run_name=f"{r['paper']}/{r['claim']}", tags=all_tags)  # one transaction
        params = [Param(k, str(v)[:500]) for k, v in (("paper", r["paper"]), ("claim", r["claim"]), ("kind", r["kind"]),
                                                      ("scale", r.get("scale") or ""), ("metric", r.get("metric") or ""),
                                                      ("rule", r.get("rule") or ""), ("verdict", r["verdict"]))]
        metrics = [Metric(name, float(r[name]), now, 0) for name in ("measured", "ci_low", "ci_high", "p_value", "n",
                                                                     "mde", "sd") if _finite(r.get(name))]
        if _finite(r.get("claimed")):
            metrics.append(Metric("claimed", float(r["claimed"]), now, 0))
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        status = "FAILED" if r["outcome"] in ("failed", "error") else "FINISHED"
        client.set_terminated(run.info.run_id, status)

    def _close_parent(self) -> None:
        """The parent's status says whether the session is whole: FINISHED, or KILLED with the count it reached."""
        if self.parent_id is None or self.client is None:
            return
        try:
            from mlflow.entities import Metric, RunTag

            whole = self.complete and not self.stop.is_set() and self.error is None
            self.client.log_batch(self.parent_id, metrics=[Metric("n_recorded", float(self.recorded),
                                                                  int(time.time() * 1000), 0)],
                                  tags=[RunTag("session", "complete" if whole else "partial")])
            self.client.set_terminated(self.parent_id, "FINISHED" if whole else "KILLED")
        except Exception:  # noqa: BLE001 - the store is gone: nothing more can be said there
            pass


def record_safely(results: list[dict], *, repo: Path, complete: bool = True, interrupted: bool = False) -> str:
    """Record the session; returns the one line to print. Never raises (but passes Ctrl-C on after marking the
    parent run KILLED)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    rec = _Recorder(results, repo, complete, interrupted)
    worker = threading.Thread(target=rec.run, name="mlflow-record", daemon=True)
    worker.start()
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not rec.done.wait(0.2) and time.monotonic() < deadline:  # short waits: Ctrl-C is handled at once
            pass
    except KeyboardInterrupt:
        rec.stop.set()  # the recorder stops after the current run and marks the parent KILLED
        end = time.monotonic() + 30
        while not rec.done.wait(0.2) and time.monotonic() < end:  # a second Ctrl-C leaves at once
            pass
        raise
    if not rec.done.is_set():
        rec.stop.set()
        rec.done.wait(5)
        return (f"MLflow: warning: recording at {rec.uri} did not finish within {TIMEOUT_S:.0f} s "
                f"({rec.recorded} of {len(results)} checks recorded); the verdicts and the report are unaffected")
    if rec.error is not None:
        e = rec.error
        first = (str(e).strip().splitlines() or [""])[0][:200]
        return (f"MLflow: warning: could not record at {rec.uri} ({type(e).__name__}: {first}); the verdicts and the "
                f"report are unaffected (use --no-mlflow to skip recording)")
    state = "" if complete else " (partial session: parent run marked KILLED)"
    return f"MLflow: {rec.recorded} checks recorded under parent run {rec.parent_id} at {rec.uri}{state}"
