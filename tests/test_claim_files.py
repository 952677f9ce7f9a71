"""Every claim file of the project validates under the schema, states its scale, and keeps the design apart from the
results: no run's numbers in `says`, `where`, `why` or `setting` (the measured file and the report hold them)."""
import re

import pytest

from claimcheck.schema import load_claim_file
from pipelines.shared.common import REPO

FILES = sorted((REPO / "claims").glob("*.y*ml"))
# words that introduce a run's result in prose: "Measured at cpu: 0.31", "MEASURED (cpu, 5 seeds)", "the first run gave"
RESULT_PROSE = re.compile(r"\bmeasured\b\s*(at|on|\(|:|in the|here|values?|over|per|by this)|\b(first|final|earlier|last|this|"
                          r"previous|second) (cpu )?run\b|\bgot \d|\breached \d", re.IGNORECASE)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_claim_file_validates(path):
    cf = load_claim_file(path)
    assert cf.error is None, str(cf.error)
    bad = [str(c.error) for c in cf.claims if c.error is not None]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_claim_file_holds_the_design_not_a_runs_numbers(path):
    cf = load_claim_file(path)
    hits = [f"{c.id}.{f}: ...{m.group(0)}..." for c in cf.claims for f in ("says", "where", "why", "setting")
            for m in [RESULT_PROSE.search(getattr(c, f) or "")] if m]
    assert not hits, "run results in the claim file (they belong in the measured file and the report):\n" + "\n".join(hits)
