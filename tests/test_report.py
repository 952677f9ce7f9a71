"""The report: section order, formatting of numbers and statistics, what every row rests on, and the HTML as a
browser draws it (no SVG text outside its chart, no two labels on top of each other)."""
import json
import re
import shutil
import subprocess

import pytest

from claimcheck.report import category, fmt, measured_text, to_markdown, write_reports


def result(paper, claim, verdict, *, kind="empirical", scale="analogue", **kw):
    base = {"paper": paper, "claim": claim, "file": f"claims/{paper}.yaml", "line": 1, "kind": kind, "says": "says",
            "where": "Sec. 1", "metric": "m", "claimed": None, "rule": "mean > 0 (one-sided t, alpha=0.05)",
            "expect": "reproduces", "why": "because", "profile": "cpu", "verdict": verdict,
            "outcome": {"reproduced": "passed", "not_measured": "skipped", "invalid": "error"}.get(verdict, "xfailed"),
            "scale": scale, "setting": "digits, MLP, 10 epochs, 5 seeds" if scale == "analogue" else "", "source": "",
            "title": f"The {paper} paper", "year": 2016, "url": f"https://example.org/{paper}", "gates": []}
    base.update(kw)
    return base


RESULTS = [
    result("zeta", "gain_a", "not_reproduced", measured=-0.02, ci_low=-0.03, ci_high=-0.01, ci_level=0.9, n=5,
           p_value=0.99, test="one-sided t", mde=0.01, sd=0.01, pass_low=0.0),
    result("alpha", "conv1_neurons", "not_reproduced", kind="structural", scale="paper", claimed=253440,
           measured=290400.0, rule="equals 253,440 exactly", pass_low=253440, pass_high=253440, expect="fails"),
    result("alpha", "top1_torchvision", "not_reproduced", scale="paper", claimed=0.593, measured=0.565,
           rule=">= 0.583", pass_low=0.583, source="torchvision re-training AlexNet_Weights.IMAGENET1K_V1"),
    result("alpha", "noisy", "inconclusive", measured=0.01, ci_low=-0.02, ci_high=0.04, ci_level=0.9, n=5,
           p_value=0.3, mde=0.05, sd=0.03, pass_low=0.0, power="underpowered for the paper's effect: ..."),
    result("alpha", "dead_arm", "invalid", message="alpha/dead_arm is INVALID: requires[0] gate failed: acc"),
    result("alpha", "fine", "reproduced", measured=0.05, ci_low=0.04, ci_high=0.06, ci_level=0.9, n=5, p_value=0.001,
           mde=0.01, sd=0.01, pass_low=0.0, test="one-sided t"),
    result("alpha", "later", "not_measured", scale="paper", profile=None),
]


def test_categories_and_section_order(tmp_path):
    assert [category(r) for r in RESULTS] == ["analogue_not_reproduced", "inconsistency", "paper_not_reproduced",
                                              "inconclusive", "invalid", "reproduced", "not_measured"]
    md = to_markdown(RESULTS, [{"key": "alpha", "title": "The alpha paper", "year": 2016, "url": "u"},
                               {"key": "zeta", "title": "The zeta paper", "year": 2016, "url": "u"}])
    heads = [md.index(h) for h in ("## 1. The papers' own inconsistencies", "## 2. Did not reproduce at the paper's",
                                   "## 3. Did not reproduce in a scaled-down", "## 4. Inconclusive", "## 5. Invalid",
                                   "## alpha", "## zeta")]
    assert heads == sorted(heads)
    assert md.index("| alpha | conv1_neurons |") < md.index("## 2.") < md.index("| alpha | top1_torchvision |") < md.index("## 3.")


def test_numbers_statistics_and_basis_are_labelled():
    assert fmt(290400.0) == "290,400" and fmt(253440) == "253,440" and fmt(0.01234) == "0.01234"
    assert fmt(2.3e-12) == "2.30e-12" and fmt(12345.678) == "12,345.7" and fmt(None) == ""
    text = measured_text(RESULTS[0])
    assert text == "mean -0.02 (90% CI [-0.03, -0.01], n=5; p = 0.99, one-sided t; MDE 0.01)"
    md = to_markdown(RESULTS, [{"key": "alpha", "title": "T", "year": 2016, "url": "u"}])
    assert "analogue; digits, MLP, 10 epochs, 5 seeds" in md  # the analogue's setting on its row
    assert "paper scale; source: torchvision re-training AlexNet_Weights.IMAGENET1K_V1" in md
    assert "**Power:** underpowered for the paper's effect" in md


def test_headline_counts_verdict_by_scale_and_kind(tmp_path):
    write_reports(RESULTS, tmp_path)
    doc = json.loads((tmp_path / "claims.json").read_text())
    got = {(c["verdict"], c["scale"], c["kind"]): c["claims"] for c in doc["counts_by_scale_kind"]}
    assert got[("not_reproduced", "paper", "structural")] == 1 and got[("not_reproduced", "analogue", "empirical")] == 1
    assert doc["sections"]["inconsistency"] == ["alpha/conv1_neurons"]
    md = (tmp_path / "claims.md").read_text()
    assert "| verdict | paper scale, structural | paper scale, empirical | analogue, empirical | all |" in md


def test_json_is_strict_even_with_non_finite_values(tmp_path):
    write_reports([result("alpha", "x", "invalid", measured=float("nan"), claimed=float("inf"))], tmp_path)
    json.loads((tmp_path / "claims.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in claims.json"))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHECK = """<script>
const bad = [];
for (const svg of document.querySelectorAll('svg')) {
  const sb = svg.getBoundingClientRect();
  const boxes = [...svg.querySelectorAll('text')].map(t => [t, t.getBoundingClientRect()]);
  for (const [t, b] of boxes) {
    if (b.left < sb.left - 0.5 || b.right > sb.right + 0.5 || b.top < sb.top - 0.5 || b.bottom > sb.bottom + 0.5)
      bad.push('outside: ' + t.textContent);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, b] = [boxes[i][1], boxes[j][1]];
    const ox = Math.min(a.right, b.right) - Math.max(a.left, b.left), oy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (ox > 1 && oy > 1) bad.push('overlap: ' + boxes[i][0].textContent + ' / ' + boxes[j][0].textContent);
  }
}
document.body.insertAdjacentHTML('beforeend', '<pre id="svgcheck">' + JSON.stringify({charts: document.querySelectorAll('svg').length, bad}) + '</pre>');
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`; .ci/run installs it)")
def test_the_html_charts_have_no_clipped_or_overlapping_text_in_a_real_browser(tmp_path):
    long = "a_claim_id_that_is_much_longer_than_the_others_of_its_paper"
    rows = RESULTS + [result("alpha", long, "reproduced", kind="structural", scale="paper", claimed=60_000_000,
                             measured=60_965_224.0, pass_low=58_800_000, pass_high=61_200_000),
                      result("alpha", "far_off", "not_reproduced", kind="structural", scale="paper", claimed=12,
                             measured=8.7, pass_low=11.4, pass_high=12.6),
                      result("alpha", "huge_effect", "reproduced", measured=5.0, ci_low=4.9, ci_high=5.1, ci_level=0.9,
                             n=10, sd=0.1, mde=0.1, pass_low=0.0, p_value=1e-12)]
    write_reports(rows, tmp_path)
    page = tmp_path / "claims.html"
    page.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = re.findall(r'<pre id="svgcheck">(\{.*?)</pre>', out)  # the last: the script's own source comes first
    assert found, "the page did not run its check"
    check = json.loads(found[-1].replace("&quot;", '"'))
    assert check["charts"] >= 2 and check["bad"] == []
