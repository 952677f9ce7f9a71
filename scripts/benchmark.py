"""Time the three things a user runs, on this machine: `dvc repro` from scratch, `pytest claims/ -n auto`,
`pytest tests/ -n auto`. Prints a markdown table (the README's performance section).

usage: python scripts/benchmark.py [--stages squeezenet selu ...] [--skip-repro] [--skip-tests]
`dvc repro --force` re-measures the chosen stages: run it on a clean tree and commit what it writes only if it
is the default profile's real run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, p.returncode, (p.stdout + p.stderr).strip().splitlines()[-1:][0] if (p.stdout + p.stderr).strip() else ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", nargs="*", help="paper keys (default: all)")
    ap.add_argument("--skip-repro", action="store_true")
    ap.add_argument("--skip-tests", action="store_true")
    args = ap.parse_args()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    rows = []
    if not args.skip_repro:
        targets = [f"measure@{k}" for k in args.stages] if args.stages else []
        wall, rc, last = timed([str(BIN / "dvc"), "repro", "--force", *targets], env)
        rows.append((f"`dvc repro --force` ({', '.join(args.stages) if args.stages else 'all stages'})", wall, rc, last))
        keys = args.stages or []
        if not keys:
            import yaml

            keys = yaml.safe_load((REPO / "params.yaml").read_text())["papers"]
        for k in keys:
            m = REPO / "reports" / "measured" / f"{k}.json"
            if m.exists():
                rows.append((f"  stage `{k}` (its own wall_s)", json.loads(m.read_text())["wall_s"], 0, ""))
    wall, rc, last = timed([sys.executable, "-m", "pytest", "claims/", "-n", "auto", "-q"], env)
    rows.append(("`pytest claims/ -n auto` (MLflow and report included)", wall, rc, last))
    if not args.skip_tests:
        wall, rc, last = timed([sys.executable, "-m", "pytest", "tests/", "-n", "auto", "-q"], env)
        rows.append(("`pytest tests/ -n auto`", wall, rc, last))
    print("| what | wall (s) | exit | last line |\n|---|---|---|---|")
    for name, wall, rc, last in rows:
        print(f"| {name} | {wall:.1f} | {rc} | {last} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
