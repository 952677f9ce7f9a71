"""Record one `pytest claims/` session in MLflow: a parent run, and one child run per claim check.

Only the pytest controller calls this (xdist workers never touch the database). The tracking URI comes from
MLFLOW_TRACKING_URI, else an absolute sqlite file in the repo (mlflow.db, gitignored).
"""
from __future__ import annotations

import math
import os
import subprocess
from collections import Counter
from pathlib import Path

EXPERIMENT = "paper-claims"


def tracking_uri(repo: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(repo).resolve() / 'mlflow.db'}"


def git_commit(repo: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _fast_sqlite(client) -> None:
    """Hundreds of small runs per session: with SQLite's default rollback journal every MLflow call waits for a
    full sync (~40 ms); write-ahead logging with synchronous=NORMAL is crash-safe and ~5x faster. Best effort: it
    reaches into the client's SQLAlchemy engine, so any surprise leaves the defaults in place."""
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
            cur.close()

        engine.dispose()  # pooled connections reconnect with the pragmas
    except Exception:  # noqa: BLE001
        pass


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def record(results: list[dict], *, repo: Path, experiment: str = EXPERIMENT) -> tuple[str, str]:
    """Write the session; returns (tracking URI, parent run id)."""
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(repo)
    client = MlflowClient(tracking_uri=uri)
    _fast_sqlite(client)
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    commit = git_commit(repo)
    counts = Counter(r["verdict"] for r in results)
    profiles = sorted({r["profile"] for r in results if r.get("profile")})
    parent = client.create_run(exp_id, run_name="pytest claims/", tags={
        "git_commit": commit, "profile": ",".join(profiles) or "none", "mlflow.source.name": "pytest claims/"})
    pid = parent.info.run_id
    client.log_batch(pid, metrics=[Metric(f"n_{v}", float(counts.get(v, 0)), 0, 0) for v in
                                   ("reproduced", "not_reproduced", "inconclusive", "not_measured", "invalid")] +
                     [Metric("n_claims", float(len(results)), 0, 0),
                      Metric("n_verdict_moved", float(sum(r["outcome"] == "failed" for r in results)), 0, 0)])
    for r in results:
        tags = {"paper": r["paper"], "claim": r["claim"], "kind": r["kind"], "profile": r.get("profile") or "none",
                "rule": r["rule"][:500], "verdict": r["verdict"], "expect": r.get("expect") or "", "outcome": r["outcome"],
                "git_commit": commit, "mlflow.parentRunId": pid}
        run = client.create_run(exp_id, run_name=f"{r['paper']}/{r['claim']}", tags={"mlflow.parentRunId": pid})
        params = [Param(k, str(tags[k])[:500]) for k in ("paper", "claim", "kind", "profile", "rule", "verdict")]
        metrics = [Metric(name, float(r[key]), 0, 0) for name, key in
                   (("measured", "measured"), ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("p_value", "p_value"),
                    ("n", "n")) if _finite(r.get(key))]
        if _finite(r.get("claimed")):
            metrics.append(Metric("claimed", float(r["claimed"]), 0, 0))
        client.log_batch(run.info.run_id, metrics=metrics, params=params,
                         tags=[RunTag(k, str(v)) for k, v in tags.items() if k != "mlflow.parentRunId"] +
                         [RunTag("says", r["says"][:4000]), RunTag("where", r["where"][:500])])
        client.set_terminated(run.info.run_id, "FINISHED" if r["outcome"] in ("passed", "xfailed") else
                              "KILLED" if r["outcome"] == "skipped" else "FAILED")
    client.set_terminated(pid, "FINISHED")
    return uri, pid
