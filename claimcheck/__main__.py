"""`python -m claimcheck diff A B`: which claims' verdicts moved between two sessions.

A and B are MLflow parent runs of `pytest claims/` sessions (a run id, `latest` or `previous`), or claims.json reports
(e.g. `git show HEAD~1:reports/claims.json > /tmp/old.json`). Prints one line per claim whose verdict moved, appeared
or disappeared, like `dvc metrics diff`; exit 0.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _from_report(path: Path) -> dict[str, dict]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {f"{r['paper']}/{r['claim']}": {"verdict": r["verdict"], "measured": r.get("measured"),
                                           "profile": r.get("profile")} for r in doc.get("claims", [])}


def _from_mlflow(ref: str, repo: Path) -> tuple[str, dict[str, dict]]:
    from mlflow.tracking import MlflowClient

    from claimcheck.mlflow_record import EXPERIMENT, tracking_uri

    client = MlflowClient(tracking_uri=tracking_uri(repo))
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        raise SystemExit(f"no MLflow experiment {EXPERIMENT!r} at {tracking_uri(repo)}: run `pytest claims/` first")
    if ref in ("latest", "previous"):
        sessions = client.search_runs([exp.experiment_id], filter_string="tags.`mlflow.source.name` = 'pytest claims/'",
                                      order_by=["attributes.start_time DESC"], max_results=2)
        sessions = [s for s in sessions if "mlflow.parentRunId" not in s.data.tags]
        index = 0 if ref == "latest" else 1
        if len(sessions) <= index:
            raise SystemExit(f"no {ref} session in {tracking_uri(repo)}")
        ref = sessions[index].info.run_id
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.session_run = '{ref}' and tags.claim != ''",
                              max_results=50000)
    if not runs:
        raise SystemExit(f"no claim runs under session {ref!r} (a parent run id of `pytest claims/`)")
    out = {}
    for r in runs:
        t = r.data.tags
        if "claim" in t:
            out[f"{t['paper']}/{t['claim']}"] = {"verdict": t.get("verdict"), "measured": r.data.metrics.get("measured"),
                                                "profile": t.get("profile")}
    return ref, out


def _load(ref: str, repo: Path) -> tuple[str, dict[str, dict]]:
    p = Path(ref)
    if p.suffix == ".json" and p.exists():
        return str(p), _from_report(p)
    return _from_mlflow(ref, repo)


def _num(x) -> str:
    return "-" if x is None else f"{x:.4g}"


def diff(a: dict[str, dict], b: dict[str, dict]) -> list[str]:
    lines = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            lines.append(f"added    {key}: {b[key]['verdict']}")
        elif key not in b:
            lines.append(f"removed  {key}: was {a[key]['verdict']}")
        elif a[key]["verdict"] != b[key]["verdict"]:
            lines.append(f"moved    {key}: {a[key]['verdict']} -> {b[key]['verdict']} "
                         f"(measured {_num(a[key]['measured'])} -> {_num(b[key]['measured'])})")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m claimcheck", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("diff", help="claims whose verdict moved between two sessions")
    d.add_argument("a", help="MLflow parent run id, `latest`, `previous`, or a claims.json")
    d.add_argument("b", help="the same, for the other session")
    d.add_argument("--repo", type=Path, default=Path.cwd(), help="the project (for the default MLflow store)")
    args = ap.parse_args(argv)
    name_a, a = _load(args.a, args.repo)
    name_b, b = _load(args.b, args.repo)
    lines = diff(a, b)
    print(f"{len(a)} claims in {name_a}, {len(b)} in {name_b}: {len(lines)} changed")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
