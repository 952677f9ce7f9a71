"""Does a verdict hold with other seeds? Run stages with their own seeds and with a disjoint set, check every claim
against both measurements, and list the claims whose verdict differs.

usage: python scripts/seed_check.py KEY [KEY ...] [--offset 1000] [--out DIR] [--reuse] [--profile cpu]

Writes DIR/base/ and DIR/offset/ (measured/ and figures/, never reports/) and DIR/seed_check.json; exits 1 when a
verdict moves. A committed verdict that one draw of seeds decides is not a finding: more seeds, a larger effect, or
an honest `inconclusive` is the fix.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from claimcheck.check import check_claim, load_measured  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402


def verdicts(key: str, measured_dir: Path) -> dict[str, tuple[str, str]]:
    cf = load_claim_file(REPO / "claims" / f"{key}.yaml")
    measured, err = load_measured(measured_dir, key)
    out = {}
    for c in cf.claims:
        r = check_claim(c, measured, err, cf.paper)
        shown = r.detail.split("; rule")[0] if r.detail else r.message.splitlines()[0][:120]
        out[c.id] = (r.verdict, shown)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("keys", nargs="+")
    ap.add_argument("--offset", type=int, default=1000, help="seed offset of the second run (default 1000)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "seed-check")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--reuse", action="store_true", help="reuse measurements already in OUT (do not re-run stages)")
    args = ap.parse_args(argv)
    summary, moved = {}, []
    for key in args.keys:
        for name, offset in (("base", 0), ("offset", args.offset)):
            target = args.out / name
            if args.reuse and (target / "measured" / f"{key}.json").exists():
                continue
            cmd = [sys.executable, "-m", "pipelines", key, "--profile", args.profile, "--out", str(target),
                   "--seed-offset", str(offset)]
            print("$", " ".join(cmd), flush=True)
            subprocess.run(cmd, cwd=REPO, check=True)
        a, b = verdicts(key, args.out / "base" / "measured"), verdicts(key, args.out / "offset" / "measured")
        summary[key] = {cid: {"base": a[cid][0], "offset": b[cid][0], "base_detail": a[cid][1],
                              "offset_detail": b[cid][1]} for cid in a}
        for cid in a:
            if a[cid][0] in ("not_measured",):
                continue
            mark = "same" if a[cid][0] == b[cid][0] else "MOVED"
            if mark == "MOVED":
                moved.append(f"{key}/{cid}")
            print(f"{mark:5s} {key}/{cid}: {a[cid][0]} | {b[cid][0]}    [{a[cid][1]} | {b[cid][1]}]")
    (args.out / "seed_check.json").write_text(json.dumps(summary, indent=1))
    print(f"\n{len(moved)} verdict(s) moved with seeds offset by {args.offset}: {', '.join(moved) or 'none'}")
    return 1 if moved else 0


if __name__ == "__main__":
    raise SystemExit(main())
