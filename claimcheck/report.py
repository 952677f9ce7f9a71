"""The claim-vs-measured report: reports/claims.json, claims.md and claims.html.

Deterministic (no timestamps, stable order) so that it diffs cleanly in git. It opens with what a reader looks for
first, in this order: the papers' own inconsistencies (exact checks where the paper's number contradicts its own
description), results that did not reproduce at the paper's scale, disagreements of scaled-down analogues, then the
inconclusive and the invalid checks. The headline counts verdicts by scale and kind. Every claim row says what its
verdict rests on: its scale, the setting of an analogue, the source of an independent measurement, and the `why`.
"""
from __future__ import annotations

import html
import json
import math
import os
from collections import Counter
from pathlib import Path

VERDICTS = ("not_reproduced", "inconclusive", "invalid", "reproduced", "not_measured")
VERDICT_LABEL = {"reproduced": "reproduced", "not_reproduced": "NOT reproduced", "inconclusive": "inconclusive",
                 "not_measured": "not measured", "invalid": "invalid"}
KINDS = ("structural", "analytical", "empirical")
SCALE_LABEL = {"paper": "paper scale", "analogue": "analogue", "": "?"}
SECTIONS = (
    ("inconsistency", "The papers' own inconsistencies",
     "Exact checks on the full-size model or the paper's own arithmetic where the paper's number contradicts its own "
     "description (architecture, table, formula). These are findings about the papers' texts."),
    ("paper_not_reproduced", "Did not reproduce at the paper's scale",
     "Empirical claims checked in the paper's own setting (or by an independent paper-scale measurement) that did "
     "not reproduce."),
    ("analogue_not_reproduced", "Did not reproduce in a scaled-down analogue",
     "The paper's statement did not hold in a scaled-down stand-in (its setting is named on every row). This says "
     "what happens at that scale; it is weaker evidence about the paper's own setting."),
    ("inconclusive", "Inconclusive",
     "The test cannot tell at this sample size; the row says whether the experiment was underpowered for the "
     "paper's effect."),
    ("invalid", "Invalid: the experiment did not work, or the claim cannot be checked",
     "A validity gate failed, the rule would pass with no effect, or a file is malformed. Never a non-reproduction."),
)


def category(r: dict) -> str:
    v = r.get("verdict")
    if v == "not_reproduced":
        if r.get("kind") in ("structural", "analytical") and r.get("scale") == "paper" and r.get("outcome") == "xfailed":
            return "inconsistency"  # a reviewed finding (`expect: fails`); an unexpected failure is not the paper's fault
        return "paper_not_reproduced" if r.get("scale") == "paper" else "analogue_not_reproduced"
    return v or "invalid"


# ----------------------------------------------------------------------------------------------- numbers
def fmt(x) -> str:
    """Numbers as a reader writes them: 290,400 (not 2.904e+05), 0.0123, 1.3e-12."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, list):
        return "[" + ", ".join(fmt(v) for v in x) + "]"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        if x == 0:
            return "0"
        if x.is_integer() and abs(x) < 1e15:
            return f"{int(x):,}"
        a = abs(x)
        if a >= 1e4:
            return f"{x:,.1f}"
        if a >= 1e-3:
            return f"{x:.4g}"
        return f"{x:.2e}"
    return str(x)


def measured_text(r: dict) -> str:
    if r.get("measured") is None:
        return ""
    if r.get("ci_level") is not None:  # a statistical rule
        text = (f"mean {fmt(r['measured'])} ({round(100 * r['ci_level'])}% CI [{fmt(r['ci_low'])}, "
                f"{fmt(r['ci_high'])}], n={r['n']}")
        if r.get("p_value") is not None:
            text += f"; p = {r['p_value']:.2g}, {r.get('test') or 'one-sided t'}"
        if r.get("mde") is not None:
            text += f"; MDE {fmt(r['mde'])}"
        return text + ")"
    if (r.get("n") or 0) > 1:
        return f"mean {fmt(r['measured'])} ({r['n']} values in [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}])"
    return fmt(r["measured"])


def basis(r: dict) -> str:
    """What the verdict rests on, in one line."""
    parts = [SCALE_LABEL.get(r.get("scale") or "", r.get("scale") or "?")]
    if r.get("setting"):
        parts.append(r["setting"])
    if r.get("source"):
        parts.append(f"source: {r['source']}")
    return "; ".join(parts)


def gates_text(r: dict) -> str:
    gs = r.get("gates") or []
    return "; ".join(f"{'ok' if g.get('passed') else 'FAILED'}: {g['rule']} ({g.get('seen', '')})" for g in gs)


def _sorted(results: list[dict]) -> list[dict]:
    return sorted(results, key=lambda r: (r["paper"], r.get("line") or 0, r["claim"]))


def _papers(results: list[dict]) -> list[dict]:
    seen: dict[str, dict] = {}
    for r in results:
        p = seen.setdefault(r["paper"], {"key": r["paper"], "title": "", "year": None, "url": ""})
        for k in ("title", "year", "url"):
            if r.get(k) and not p[k]:
                p[k] = r[k]
    return [seen[k] for k in sorted(seen)]


def headline(results: list[dict]) -> tuple[list[tuple[str, str]], dict]:
    """Columns (scale, kind) present in the results, and counts[(verdict, scale, kind)]."""
    counts = Counter((r["verdict"], r.get("scale") or "", r.get("kind") or "?") for r in results)
    cols = sorted({(s, k) for _, s, k in counts}, key=lambda c: (c[0] != "paper", c[0],
                                                                KINDS.index(c[1]) if c[1] in KINDS else 9))
    return cols, counts


def _paper_heading(p: dict) -> str:
    year = f" ({p['year']})" if p.get("year") else ""
    return f"{p['title'] or p['key']}{year}"


# ---------------------------------------------------------------------------------------------- Markdown
def _md(s) -> str:
    return str(s if s is not None else "").replace("|", "\\|").replace("\n", " ")


def to_markdown(results: list[dict], papers: list[dict], partial: str | None = None) -> str:
    cols, counts = headline(results)
    profiles = sorted({r["profile"] for r in results if r.get("profile")})
    out = ["# Paper claims: what reproduces", ""]
    if partial:
        out += [f"> **PARTIAL REPORT** ({partial}): not every claim was checked.", ""]
    out += [f"{len(results)} claims of {len(papers)} papers, checked against `reports/measured/` (`pytest claims/`)"
            + (f" at profile {', '.join(profiles)}" if profiles else "") + ". *Paper scale* = the paper's own setting "
            "(exact facts of the full-size model, the paper's data and budget, or an independent paper-scale "
            "measurement with its source); *analogue* = a scaled-down stand-in, whose setting each row names.", "",
            "| verdict | " + " | ".join(f"{SCALE_LABEL[s]}, {k}" for s, k in cols) + " | all |",
            "|---|" + "---|" * (len(cols) + 1)]
    for v in VERDICTS:
        row = [counts.get((v, s, k), 0) for s, k in cols]
        out.append(f"| {VERDICT_LABEL[v]} | " + " | ".join(str(c) for c in row) + f" | {sum(row)} |")
    moved = [r for r in results if r["outcome"] == "failed"]
    if moved:
        out += ["", f"**{len(moved)} verdict(s) differ from the claim files' `expect`** (the suite is red): "
                + ", ".join(f"`{r['paper']}/{r['claim']}`" for r in moved)]
    toc = [f"- [{title}](#{i + 1}-{_anchor(title)})" for i, (_, title, _) in enumerate(SECTIONS)]
    out += ["", "Contents:", *toc, "- Per paper: " + ", ".join(f"[{p['key']}](#{p['key']})" for p in papers)]
    for i, (cat, title, blurb) in enumerate(SECTIONS):
        rows = [r for r in results if category(r) == cat]
        out += ["", f"## {i + 1}. {title}", "", blurb, ""]
        if not rows:
            out.append("None.")
            continue
        if cat == "invalid":
            out += ["| paper | claim | what is wrong |", "|---|---|---|"]
            out += [f"| {_md(r['paper'])} | {_md(r['claim'])} | {_md(r.get('message', ''))[:600]} |" for r in rows]
            continue
        out += ["| paper | claim | paper says (where) | claimed | measured | rule | rests on | why |",
                "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            extra = f" **Power:** {r['power']}" if r.get("power") else ""
            out.append("| " + " | ".join(_md(c) for c in (
                r["paper"], r["claim"], f"{r['says']} ({r['where']})", fmt(r["claimed"]), measured_text(r), r["rule"],
                basis(r), (r.get("why") or "") + extra)) + " |")
    for p in papers:
        rows = [r for r in results if r["paper"] == p["key"]]
        prof = sorted({r["profile"] for r in rows if r.get("profile")})
        link = f" — [{p['url']}]({p['url']})" if p.get("url") else ""
        out += ["", f"## {p['key']}", "", f"**{_md(_paper_heading(p))}**{link}"
                + (f" · measured at profile {', '.join(prof)}" if prof else ""), "",
                "| claim | verdict | scale | paper says (where) | claimed | measured | rule | setting / source | why |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            verdict = VERDICT_LABEL.get(r["verdict"], r["verdict"]) + (" (expected otherwise)" if r["outcome"] == "failed" else "")
            design = "; ".join(x for x in (r.get("setting"), f"source: {r['source']}" if r.get("source") else "") if x)
            why = r.get("why") or ""
            if r.get("gates"):
                why += f" Gates: {gates_text(r)}."
            if r["verdict"] == "invalid":
                why = (r.get("message") or "")[:600] + " " + why
            out.append("| " + " | ".join(_md(c) for c in (
                r["claim"], verdict, SCALE_LABEL.get(r.get("scale") or "", "?"), f"{r['says']} ({r['where']})",
                fmt(r["claimed"]), measured_text(r), r["rule"], design, why.strip())) + " |")
    return "\n".join(out) + "\n"


def _anchor(title: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else ("-" if c in " -" else "") for c in title)
    return keep.strip("-")


# ---------------------------------------------------------------------------------------------- charts
CHAR_W = 7.0  # px per character of the 11.5 px monospace label font: labels are sized, never clipped
ROW_H = 22


def _position(r: dict) -> tuple[float, float | None, float | None, str] | None:
    """Where a claim sits on its chart's one scale: (point, low, high, axis) or None when it cannot be drawn.
    Exact rules: signed % from the paper's number (or the rule's bound). Statistical rules: the interval's distance
    from the threshold in standard errors, positive where the claim passes; the pass line is the critical value."""
    m = r.get("measured")
    if not isinstance(m, (int, float)) or r["verdict"] in ("not_measured",) or not math.isfinite(m):
        return None
    lo, hi = r.get("pass_low"), r.get("pass_high")
    if r.get("ci_level") is not None and r.get("sd"):
        se = r["sd"] / math.sqrt(max(r.get("n") or 1, 1))
        if not se:
            return None
        bound = lo if lo is not None else hi
        sign = 1 if lo is not None else -1
        if lo is not None and hi is not None:  # equivalence: distance to the nearer bound, inside positive
            d = min(m - lo, hi - m) / se
            return d, None, None, "se"
        return sign * (m - bound) / se, sign * (r["ci_low"] - bound) / se, sign * (r["ci_high"] - bound) / se, "se"
    ref = r.get("claimed") if isinstance(r.get("claimed"), (int, float)) and r.get("claimed") else None
    if ref is None:
        ref = next((b for b in (lo, hi) if b), None)
    if not ref:
        return None
    pct = lambda v: 100.0 * (v - ref) / abs(ref)  # noqa: E731
    return pct(m), (pct(lo) if lo is not None else None), (pct(hi) if hi is not None else None), "pct"


def _chart(rows: list[dict], axis: str, title: str) -> str:
    """One SVG on one scale: exact claims in % from the paper's number (clamped to +-60%), statistical claims in
    standard errors from the threshold (clamped to +-12). Labels get the room their text needs."""
    pts = [(r, _position(r)) for r in rows]
    pts = [(r, p) for r, p in pts if p is not None and p[3] == axis]
    if not pts:
        return ""
    span = 60.0 if axis == "pct" else 12.0
    label_w = int(CHAR_W * max(len(r["claim"]) for r, _ in pts)) + 16
    value_w = 230
    plot_w = 420
    x0, x1 = label_w, label_w + plot_w
    width = x1 + 12 + value_w
    height = 14 + ROW_H * len(pts) + 24
    clamp = lambda v: max(-span, min(span, v))  # noqa: E731
    sx = lambda v: x0 + (clamp(v) + span) / (2 * span) * plot_w  # noqa: E731
    e = html.escape
    parts = [f"<p class='charttitle'>{e(title)}</p>",
             f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">']
    ticks = [-span, -span / 2, 0, span / 2, span]
    top, bottom = 6, 6 + ROW_H * len(pts)
    for t in ticks:
        parts.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{top}" y2="{bottom}" class="grid"/>')
        label = (f"{t:+.0f}%" if axis == "pct" else f"{t:+.0f}") if t else "0"
        parts.append(f'<text x="{sx(t):.1f}" y="{bottom + 14}" text-anchor="middle" class="tick">{label}</text>')
    for i, (r, (p, lo, hi, _)) in enumerate(pts):
        y = top + ROW_H * i + ROW_H / 2
        parts.append(f'<text x="{x0 - 8}" y="{y + 4:.1f}" text-anchor="end" class="lab">{e(r["claim"])}</text>')
        if axis == "pct":
            a = sx(lo if lo is not None else -span)
            b = sx(hi if hi is not None else span)
            parts.append(f'<rect x="{a:.1f}" y="{y - 6:.1f}" width="{max(b - a, 1.5):.1f}" height="12" class="band"/>')
            parts.append(f'<path d="M{sx(0):.1f},{y - 6:.1f} l5,6 l-5,6 l-5,-6 z" class="claimed"/>')
        else:
            crit = r.get("ci_level") and _crit(r)
            parts.append(f'<rect x="{sx(crit or 0):.1f}" y="{y - 6:.1f}" width="{x1 - sx(crit or 0):.1f}" height="12" class="band"/>')
            if lo is not None and hi is not None:
                parts.append(f'<line x1="{sx(lo):.1f}" x2="{sx(hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" class="ci"/>')
        off = abs(p) > span
        cls = {"reproduced": "ok", "not_reproduced": "bad"}.get(r["verdict"], "mid")
        if off:
            tip = x1 - 2 if p > 0 else x0 + 2
            d = -7 if p > 0 else 7
            parts.append(f'<path d="M{tip:.1f},{y:.1f} l{d},-5 l0,10 z" class="{cls}"/>')
        else:
            parts.append(f'<circle cx="{sx(p):.1f}" cy="{y:.1f}" r="4" class="{cls}"/>')
        value = _short_value(r, p, axis)
        parts.append(f'<text x="{x1 + 12}" y="{y + 4:.1f}" class="val">{e(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _crit(r: dict) -> float:
    from scipy import stats

    return float(stats.t.ppf(r["ci_level"] / 2 + 0.5, max((r.get("n") or 2) - 1, 1)))


def _short_value(r: dict, p: float, axis: str) -> str:
    where = f"{p:+.1f}%" if axis == "pct" else f"{p:+.1f} se"
    text = f"{fmt(r['measured'])} ({where}) {VERDICT_LABEL.get(r['verdict'], r['verdict'])}"
    return text if len(text) <= 32 else text[:31] + "…"


# ---------------------------------------------------------------------------------------------- HTML
_CSS = """body{font-family:system-ui,sans-serif;max-width:1320px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;width:100%;font-size:13px;margin:.5em 0 1.5em;table-layout:fixed}
th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left;overflow-wrap:break-word}
td.id{font-family:ui-monospace,monospace;font-size:12px}.nw{white-space:nowrap}
th{background:#f4f4f4}.reproduced{background:#e7f6e7}.not_reproduced{background:#fde2e2}
.inconclusive{background:#fff4d6}.invalid{background:#f3d6f7}.not_measured{color:#777}
.figs img{max-width:380px;margin:4px;border:1px solid #eee}details summary{cursor:pointer;color:#245}
.basis{color:#444;font-size:12px}.toc{columns:3;font-size:13px}.partial{background:#fde2e2;padding:.6em;border:1px solid #c22}
svg.chart{display:block;margin:.2em 0 1.2em;overflow:visible}.charttitle{font-size:12px;color:#444;margin:.8em 0 0}svg text{font-family:ui-monospace,monospace;font-size:11.5px}
svg .t{font-family:system-ui,sans-serif;font-size:12px;fill:#444}svg .grid{stroke:#e4e4e4}svg .tick{fill:#777;font-size:10.5px}
svg .band{fill:#2a2;opacity:.16}svg .claimed{fill:#d80}svg .ci{stroke:#236;stroke-width:3}svg .ok{fill:#181}
svg .bad{fill:#c22}svg .mid{fill:#a80}svg .val{fill:#333}svg .lab{fill:#222}"""


def _why_cell(r: dict) -> str:
    e = html.escape
    bits = []
    if r.get("power"):
        bits.append(f"<b>Power:</b> {e(r['power'])}")
    if r.get("why"):
        bits.append(e(r["why"]))
    if r.get("gates"):
        bits.append("<b>Gates:</b> " + e(gates_text(r)))
    if r["verdict"] == "invalid" and r.get("message"):
        bits.insert(0, f"<pre>{e(r['message'][:1500])}</pre>")
    if not bits:
        return ""
    return f"<details><summary>why</summary>{'<br>'.join(bits)}</details>"


def _ident(s: str) -> str:
    """An identifier that may break after its underscores, never inside a word."""
    return html.escape(s).replace("_", "_<wbr>")


def _row_html(r: dict, with_paper: bool) -> str:
    e = html.escape
    verdict = VERDICT_LABEL.get(r["verdict"], r["verdict"]) + (" (expected otherwise)" if r["outcome"] == "failed" else "")
    cells = ([f"<td class='id'><a href='#{e(r['paper'])}'>{_ident(r['paper'])}</a></td>"] if with_paper else []) + [
        f"<td class='id'>{_ident(r['claim'])}</td>", f"<td>{e(verdict)}</td>",
        f"<td>{e(r['says'])}<br><i>{e(r['where'])}</i></td>", f"<td>{e(fmt(r['claimed']))}</td>",
        f"<td>{e(measured_text(r))}</td>", f"<td>{e(r['rule'])}</td>", f"<td class='basis'>{e(basis(r))}</td>",
        f"<td>{_why_cell(r)}</td>"]
    return f"<tr class='{e(r['verdict'])}'>" + "".join(cells) + "</tr>"


_COLS = (("claim", 15), ("verdict", 8), ("paper says (where)", 24), ("claimed", 7), ("measured", 14), ("rule", 11),
         ("rests on (scale, setting, source)", 15), ("why", 6))


def _table_head(with_paper: bool) -> str:
    cols = ((("paper", 9),) if with_paper else ()) + _COLS
    total = sum(w for _, w in cols)
    return ("<table><colgroup>" + "".join(f"<col style='width:{100 * w / total:.1f}%'>" for _, w in cols)
            + "</colgroup><tr>" + "".join(f"<th>{html.escape(n)}</th>" for n, _ in cols) + "</tr>")


def to_html(results: list[dict], papers: list[dict], figures: dict[str, list[str]], partial: str | None = None) -> str:
    e = html.escape
    cols, counts = headline(results)
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>"
           "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Paper claims: what reproduces"
           f"</title><style>{_CSS}</style></head><body>", "<h1>Paper claims: what reproduces</h1>"]
    if partial:
        out.append(f"<p class='partial'><b>PARTIAL REPORT</b> ({e(partial)}): not every claim was checked.</p>")
    out.append(f"<p>{len(results)} claims of {len(papers)} papers. <i>Paper scale</i>: the paper's own setting (exact "
               "facts of the full-size model, the paper's data and budget, or an independent paper-scale measurement "
               "with its source). <i>Analogue</i>: a scaled-down stand-in; every row names its setting.</p>")
    out.append("<table><tr><th>verdict</th>" + "".join(f"<th>{e(SCALE_LABEL[s])}, {e(k)}</th>" for s, k in cols)
               + "<th>all</th></tr>")
    for v in VERDICTS:
        row = [counts.get((v, s, k), 0) for s, k in cols]
        out.append(f"<tr class='{v}'><td>{VERDICT_LABEL[v]}</td>" + "".join(f"<td>{c}</td>" for c in row)
                   + f"<td>{sum(row)}</td></tr>")
    out.append("</table>")
    out.append("<nav><h2>Contents</h2><ol>" + "".join(
        f"<li><a href='#s{i + 1}'>{e(title)}</a> ({sum(category(r) == cat for r in results)})</li>"
        for i, (cat, title, _) in enumerate(SECTIONS)) + "</ol><div class='toc'>" + "".join(
        f"<div><a href='#{e(p['key'])}'>{e(p['key'])}</a>: {e(_paper_heading(p))}</div>" for p in papers) + "</div></nav>")
    for i, (cat, title, blurb) in enumerate(SECTIONS):
        rows = [r for r in results if category(r) == cat]
        out.append(f"<h2 id='s{i + 1}'>{i + 1}. {e(title)}</h2><p>{e(blurb)}</p>")
        if rows:
            out.append(_table_head(True) + "".join(_row_html(r, True) for r in rows) + "</table>")
        else:
            out.append("<p>None.</p>")
    for p in papers:
        rows = [r for r in results if r["paper"] == p["key"]]
        prof = sorted({r["profile"] for r in rows if r.get("profile")})
        link = f" · <a href='{e(p['url'])}'>{e(p['url'])}</a>" if p.get("url") else ""
        out.append(f"<h2 id='{e(p['key'])}'>{e(_paper_heading(p))}</h2><p><code>{e(p['key'])}</code>{link}"
                   + (f" · measured at profile {e(', '.join(prof))}" if prof else "") + "</p>")
        out.append(_table_head(False) + "".join(_row_html(r, False) for r in rows) + "</table>")
        out.append(_chart(rows, "pct", "Exact checks: measured vs the paper's number, % deviation (green: the rule's "
                                       "tolerance; diamond: the paper's number)"))
        out.append(_chart(rows, "se", "Statistical checks: distance of the mean from the rule's threshold in standard "
                                      "errors (bar: the interval; green: where the one-sided test passes)"))
        if figures.get(p["key"]):
            out.append("<div class='figs'>" + "".join(
                f"<a href='{e(f)}'><img src='{e(f)}' alt='{e(f)}' loading='lazy'></a>" for f in figures[p["key"]]) + "</div>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------- writing
def _clean(x):
    """Strict JSON: non-finite floats become null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_reports(results: list[dict], out_dir: Path, figures_dir: Path | None = None,
                  partial: str | None = None) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = _clean(_sorted(results))
    papers = _papers(results)
    figures: dict[str, list[str]] = {}
    if figures_dir is not None and Path(figures_dir).is_dir():
        for p in papers:
            d = Path(figures_dir) / p["key"]
            if d.is_dir():
                figures[p["key"]] = [os.path.relpath(f, out_dir) for f in sorted(d.glob("*.png"))]
    cols, counts = headline(results)
    doc = {"partial": partial, "counts": {v: sum(c for (vv, _, _), c in counts.items() if vv == v) for v in VERDICTS},
           "counts_by_scale_kind": [{"verdict": v, "scale": s, "kind": k, "claims": c}
                                    for (v, s, k), c in sorted(counts.items())],
           "sections": {cat: [f"{r['paper']}/{r['claim']}" for r in results if category(r) == cat]
                        for cat, _, _ in SECTIONS},
           "papers": papers, "claims": results}
    paths = [out_dir / "claims.json", out_dir / "claims.md", out_dir / "claims.html"]
    _write_atomic(paths[0], json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n")
    _write_atomic(paths[1], to_markdown(results, papers, partial))
    _write_atomic(paths[2], to_html(results, papers, figures, partial))
    return paths
