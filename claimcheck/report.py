"""The claim-vs-measured report: reports/claims.json, claims.md and claims.html.

Deterministic (no timestamps, stable order) so that it diffs cleanly in git. Claims that did not reproduce
come first; then one table per paper; the HTML adds a measured-vs-claimed plot per paper and the stage's figures.
"""
from __future__ import annotations

import html
import json
import math
from collections import Counter
from pathlib import Path

VERDICTS = ("not_reproduced", "inconclusive", "invalid", "reproduced", "not_measured")
VERDICT_LABEL = {"reproduced": "reproduced", "not_reproduced": "NOT reproduced", "inconclusive": "inconclusive",
                 "not_measured": "not measured", "invalid": "invalid"}
_ORDER = {v: i for i, v in enumerate(VERDICTS)}


def _fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, list):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, (int, float)):
        return f"{x:.4g}" if isinstance(x, float) else str(x)
    return str(x)


def _measured_text(r: dict) -> str:
    if r.get("measured") is None:
        return ""
    text = _fmt(r["measured"])
    if r.get("n", 0) > 1 and r.get("ci_low") is not None:
        text += f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] (n={r['n']})"
    if r.get("p_value") is not None:
        text += f", p={r['p_value']:.2g}"
    return text


def _sorted(results: list[dict]) -> list[dict]:
    return sorted(results, key=lambda r: (r["paper"], r.get("line") or 0, r["claim"]))


def _attention(results: list[dict]) -> list[dict]:
    """The claims a reader should look at first: every verdict but reproduced / not measured, worst first."""
    return sorted((r for r in results if r["verdict"] in ("not_reproduced", "inconclusive", "invalid")),
                  key=lambda r: (_ORDER[r["verdict"]], r["paper"], r.get("line") or 0))


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(results: list[dict], papers: list[str]) -> str:
    counts = Counter(r["verdict"] for r in results)
    out = ["# Paper claims: what reproduces", "",
           f"{len(results)} claims of {len(papers)} papers, checked against `reports/measured/` "
           "(`pytest claims/`).", "",
           "| verdict | claims |", "|---|---|"]
    out += [f"| {VERDICT_LABEL[v]} | {counts.get(v, 0)} |" for v in VERDICTS]
    moved = [r for r in results if r["outcome"] == "failed"]
    if moved:
        out += ["", f"**{len(moved)} verdict(s) differ from the claim files' `expect`** (the suite is red): "
                + ", ".join(f"`{r['paper']}/{r['claim']}`" for r in moved)]
    out += ["", "## Did not reproduce (or could not tell)", ""]
    att = _attention(results)
    if not att:
        out.append("Every measured claim reproduced.")
    else:
        out += ["| paper | claim | verdict | paper says (where) | claimed | measured | rule | why |",
                "|---|---|---|---|---|---|---|---|"]
        for r in att:
            out.append("| " + " | ".join(_md_cell(c) for c in (
                r["paper"], r["claim"], VERDICT_LABEL[r["verdict"]], f"{r['says']} ({r['where']})",
                _fmt(r["claimed"]), _measured_text(r) or r.get("message", "")[:200], r["rule"], r.get("why", ""))) + " |")
    for paper in papers:
        rows = [r for r in results if r["paper"] == paper]
        prof = sorted({r["profile"] for r in rows if r.get("profile")})
        out += ["", f"## {paper}" + (f" (measured at profile {', '.join(prof)})" if prof else ""), "",
                "| claim | paper says | where | claimed | measured | rule | verdict |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            out.append("| " + " | ".join(_md_cell(c) for c in (
                r["claim"], r["says"], r["where"], _fmt(r["claimed"]), _measured_text(r), r["rule"],
                VERDICT_LABEL[r["verdict"]] + ("" if r["outcome"] != "failed" else " (expected otherwise)"))) + " |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------- HTML
_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;width:100%;font-size:13px;margin:.5em 0 1.5em}
th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}th{background:#f4f4f4}
.reproduced{background:#e7f6e7}.not_reproduced{background:#fde2e2}.inconclusive{background:#fff4d6}
.invalid{background:#f3d6f7}.not_measured{color:#888}.figs img{max-width:380px;margin:4px;border:1px solid #eee}
svg text{font-size:11px;font-family:system-ui,sans-serif}"""


def _row_svg(r: dict, y: int, width: int = 520) -> str:
    """One claim: its pass region (green band), the claimed value (diamond), the measured value and interval."""
    pts = [v for v in (r.get("claimed") if not isinstance(r.get("claimed"), list) else None, r.get("measured"),
                       r.get("ci_low"), r.get("ci_high"), r.get("pass_low"), r.get("pass_high"))
           if isinstance(v, (int, float)) and math.isfinite(v)]
    x0, x1 = 170, width - 10
    label = html.escape(r["claim"][:26])
    parts = [f'<text x="4" y="{y + 4}">{label}</text>']
    if not pts:
        return "".join(parts) + f'<text x="{x0}" y="{y + 4}" fill="#888">{html.escape(VERDICT_LABEL[r["verdict"]])}</text>'
    lo, hi = min(pts), max(pts)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    sx = lambda v: x0 + (x1 - x0) * (v - lo) / (hi - lo)  # noqa: E731
    parts.append(f'<line x1="{x0}" x2="{x1}" y1="{y}" y2="{y}" stroke="#ccc"/>')
    rlo, rhi = r.get("pass_low"), r.get("pass_high")
    if rlo is not None or rhi is not None:
        a, b = sx(rlo if rlo is not None else lo), sx(rhi if rhi is not None else hi)
        parts.append(f'<rect x="{a:.1f}" y="{y - 6}" width="{max(b - a, 1.5):.1f}" height="12" fill="#2a2" opacity="0.18"/>')
    if r.get("ci_low") is not None and r.get("ci_high") is not None:
        parts.append(f'<line x1="{sx(r["ci_low"]):.1f}" x2="{sx(r["ci_high"]):.1f}" y1="{y}" y2="{y}" stroke="#236" stroke-width="3"/>')
    c = r.get("claimed")
    if isinstance(c, (int, float)) and math.isfinite(c):
        cx = sx(c)
        parts.append(f'<path d="M{cx:.1f},{y - 6} l5,6 l-5,6 l-5,-6 z" fill="#d80"><title>claimed {_fmt(c)}</title></path>')
    if r.get("measured") is not None:
        color = {"reproduced": "#181", "not_reproduced": "#c22"}.get(r["verdict"], "#a80")
        parts.append(f'<circle cx="{sx(r["measured"]):.1f}" cy="{y}" r="4" fill="{color}"><title>measured {_fmt(r["measured"])}</title></circle>')
    parts.append(f'<text x="{x1 - 2}" y="{y - 7}" text-anchor="end" fill="#777">{html.escape(_fmt(lo))} .. {html.escape(_fmt(hi))}</text>')
    return "".join(parts)


def _paper_svg(rows: list[dict]) -> str:
    h = 26 * len(rows) + 24
    body = "".join(_row_svg(r, 30 + 26 * i) for i, r in enumerate(rows))
    legend = ('<text x="4" y="12" fill="#555">each row on its own scale: green band = pass region, '
              'diamond = paper\'s number, dot = measured, bar = interval</text>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="540" height="{h}">{legend}{body}</svg>'


def to_html(results: list[dict], papers: list[str], figures: dict[str, list[str]]) -> str:
    e = html.escape
    counts = Counter(r["verdict"] for r in results)
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Paper claims</title><style>{_CSS}</style></head><body>",
           "<h1>Paper claims: what reproduces</h1>",
           f"<p>{len(results)} claims of {len(papers)} papers, checked against <code>reports/measured/</code>.</p>",
           "<table><tr><th>verdict</th><th>claims</th></tr>"]
    out += [f"<tr class='{v}'><td>{VERDICT_LABEL[v]}</td><td>{counts.get(v, 0)}</td></tr>" for v in VERDICTS]
    out.append("</table><h2>Did not reproduce (or could not tell)</h2>")
    att = _attention(results)
    if att:
        out.append("<table><tr><th>paper</th><th>claim</th><th>verdict</th><th>paper says</th><th>claimed</th>"
                   "<th>measured</th><th>rule</th><th>why</th></tr>")
        for r in att:
            out.append(f"<tr class='{r['verdict']}'><td><a href='#{e(r['paper'])}'>{e(r['paper'])}</a></td><td>{e(r['claim'])}</td>"
                       f"<td>{VERDICT_LABEL[r['verdict']]}</td><td>{e(r['says'])}<br><i>{e(r['where'])}</i></td>"
                       f"<td>{e(_fmt(r['claimed']))}</td><td>{e(_measured_text(r) or r.get('message', '')[:300])}</td>"
                       f"<td>{e(r['rule'])}</td><td>{e(r.get('why', ''))}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>Every measured claim reproduced.</p>")
    for paper in papers:
        rows = [r for r in results if r["paper"] == paper]
        out.append(f"<h2 id='{e(paper)}'>{e(paper)}</h2>")
        out.append("<table><tr><th>claim</th><th>paper says</th><th>where</th><th>claimed</th><th>measured</th>"
                   "<th>rule</th><th>verdict</th></tr>")
        for r in rows:
            out.append(f"<tr class='{r['verdict']}'><td>{e(r['claim'])}</td><td>{e(r['says'])}</td><td>{e(r['where'])}</td>"
                       f"<td>{e(_fmt(r['claimed']))}</td><td>{e(_measured_text(r))}</td><td>{e(r['rule'])}</td>"
                       f"<td>{VERDICT_LABEL[r['verdict']]}{' (expected otherwise)' if r['outcome'] == 'failed' else ''}</td></tr>")
        out.append("</table>")
        out.append(_paper_svg(rows))
        if figures.get(paper):
            out.append("<div class='figs'>" + "".join(
                f"<a href='{e(f)}'><img src='{e(f)}' alt='{e(f)}'></a>" for f in figures[paper]) + "</div>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_reports(results: list[dict], out_dir: Path, figures_dir: Path | None = None) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = _sorted(results)
    papers = sorted({r["paper"] for r in results})
    figures: dict[str, list[str]] = {}
    if figures_dir is not None and Path(figures_dir).is_dir():
        for p in papers:
            d = Path(figures_dir) / p
            if d.is_dir():
                figures[p] = [str(f.relative_to(out_dir)) if f.is_relative_to(out_dir) else str(f)
                              for f in sorted(d.glob("*.png"))]
    counts = Counter(r["verdict"] for r in results)
    doc = {"counts": {v: counts.get(v, 0) for v in VERDICTS}, "papers": papers,
           "claims": results}
    paths = [out_dir / "claims.json", out_dir / "claims.md", out_dir / "claims.html"]
    paths[0].write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    paths[1].write_text(to_markdown(results, papers))
    paths[2].write_text(to_html(results, papers, figures))
    return paths
