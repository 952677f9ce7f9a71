"""Time what a user runs, on this machine, and check the stage layout's promise. Prints markdown (README's numbers).

1. Exact dependencies: in a throw-away clone, touch one shared module (pipelines/shared/superres.py) and one engine
   module (claimcheck/check.py) and list what `dvc status` says must re-run: exactly the stages that import it.
2. `dvc repro --force` (all stages, or --stages KEY ...): total wall, each stage's measured wall and start-up share.
3. `pytest claims/ -n auto` (MLflow and report included) and `pytest tests/ -n auto`.

usage: python scripts/benchmark.py [--stages KEY ...] [--skip-repro] [--skip-tests] [--skip-deps]
`dvc repro --force` re-measures: run it on a clean tree, and commit what it writes only if it is the default profile's
real run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))


def timed(cmd: list[str], env: dict | None = None, cwd: Path = REPO) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    lines = (p.stdout + p.stderr).strip().splitlines()
    return time.perf_counter() - t0, p.returncode, lines[-1] if lines else ""


def dependency_check(env: dict) -> list[str]:
    """Which stages `dvc status` wants to re-run after touching one module, against which import it."""
    from pipelines.shared.dvc_yaml import stage_deps
    from pipelines.shared.common import paper_keys

    out = ["| touched | stages importing it | `dvc status` lists | same |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        for module in ("pipelines/shared/superres.py", "claimcheck/check.py"):
            users = sorted(k for k in paper_keys() if module in stage_deps(k))
            path = clone / module
            original = path.read_text()
            path.write_text(original + "\n# touched by scripts/benchmark.py\n")
            p = subprocess.run([str(BIN / "dvc"), "status"], cwd=clone, env=env, capture_output=True, text=True)
            listed = sorted(line.strip().rstrip(":")[len("measure-"):] for line in p.stdout.splitlines()
                            if line.startswith("measure-"))
            path.write_text(original)
            out.append(f"| `{module}` | {len(users)}: {', '.join(users) or '-'} | {len(listed)}: "
                       f"{', '.join(listed) or '-'} | {'yes' if listed == users else 'NO'} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", nargs="*", help="paper keys (default: all)")
    ap.add_argument("--skip-repro", action="store_true")
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--skip-deps", action="store_true")
    args = ap.parse_args()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    if not args.skip_deps and shutil.which("git"):
        print("\n".join(dependency_check(env)) + "\n")
    rows = []
    if not args.skip_repro:
        from pipelines.shared.common import paper_keys

        keys = args.stages or paper_keys()
        targets = [f"measure-{k}" for k in args.stages] if args.stages else []
        wall, rc, last = timed([str(BIN / "dvc"), "repro", "--force", *targets], env)
        rows.append((f"`dvc repro --force` ({', '.join(args.stages) if args.stages else f'all {len(keys)} stages'})",
                     wall, rc, last))
        stage_total = startup_total = 0.0
        for k in keys:
            m = REPO / "reports" / "measured" / f"{k}.json"
            if m.exists():
                d = json.loads(m.read_text())
                up = d.get("startup_s", 0.0)
                stage_total += d["wall_s"]
                startup_total += up
                share = up / max(up + d["wall_s"], 1e-9)
                rows.append((f"  stage `{k}`: wall_s, start-up {up:.1f} s ({100 * share:.0f}% of its wall)",
                             d["wall_s"], 0, ""))
        rows.append(("  all stages: sum of wall_s (start-up not included)", stage_total, 0,
                     f"start-up in all: {startup_total:.0f} s"))
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
