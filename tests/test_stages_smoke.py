"""Every paper's stage runs at the smoke profile and writes a well-formed measured file and its figures."""
import json
from pathlib import Path

import pytest

from pipelines.common import REPO, load_params
from pipelines.run import run_stage

PARAMS = load_params()
KEYS = [k for k in PARAMS["papers"] if (REPO / "pipelines" / f"{k}.py").exists()]


@pytest.mark.parametrize("key", KEYS)
def test_stage_runs_at_smoke_profile(key, tmp_path: Path):
    measured = run_stage(key, "smoke", tmp_path, PARAMS)
    on_disk = json.loads((tmp_path / "measured" / f"{key}.json").read_text())
    assert on_disk == json.loads(json.dumps(measured))
    assert on_disk["paper"] == key and on_disk["profile"] == "smoke"
    assert on_disk["metrics"], "a stage must measure something"
    for name, value in on_disk["metrics"].items():
        for v in value if isinstance(value, list) else [value]:
            assert isinstance(v, (int, float)) and not isinstance(v, bool), (name, v)
    assert (tmp_path / "figures" / key / "measured.png").stat().st_size > 0


def test_every_paper_has_a_stage_a_claim_file_and_an_implementation():
    assert len(PARAMS["papers"]) == 37
    missing = [f"{d}/{k}.{ext}" for k in PARAMS["papers"]
               for d, ext in (("implementations", "py"), ("pipelines", "py"), ("claims", "yaml"))
               if not (REPO / d / f"{k}.{ext}").exists()]
    assert not missing, f"missing: {missing}"
