"""Every paper's stage runs at the smoke profile and writes a well-formed measured file and its figures; the stage
layout (dvc.yaml from the import graph, no paper importing another) holds."""
import json
from pathlib import Path

import pytest

from pipelines.shared.common import REPO, load_params, paper_keys
from pipelines.shared.dvc_yaml import imports_of, render
from pipelines.shared.run import run_stage

PARAMS = load_params()
KEYS = paper_keys(PARAMS)
OFFSET = 1000  # the smoke runs use shifted seeds: every stage must take its seeds from run.seeds()


@pytest.mark.parametrize("key", KEYS)
def test_stage_runs_at_smoke_profile(key, tmp_path: Path):
    measured = run_stage(key, "smoke", tmp_path, PARAMS, seed_offset=OFFSET)
    on_disk = json.loads((tmp_path / "measured" / f"{key}.json").read_text())
    assert on_disk == json.loads(json.dumps(measured))
    assert on_disk["paper"] == key and on_disk["profile"] == "smoke"
    assert on_disk["metrics"], "a stage must measure something"
    for name, value in on_disk["metrics"].items():
        for v in value if isinstance(value, list) else [value]:
            assert isinstance(v, (int, float)) and not isinstance(v, bool), (name, v)
    assert all(s >= OFFSET for s in on_disk["seeds"]), f"seeds {on_disk['seeds']} ignore --seed-offset: use run.seeds()"
    assert (tmp_path / "figures" / key / "measured.png").stat().st_size > 0
    assert not [p.name for p in tmp_path.rglob(".*")], "the runner left temporary files"


def test_every_paper_has_a_stage_a_claim_file_and_an_implementation():
    assert KEYS, "params.yaml lists no paper"
    claim_files = {p.stem for p in (REPO / "claims").glob("*.yaml")}
    assert claim_files == set(KEYS), f"claim files without a stage or stages without claims: {claim_files ^ set(KEYS)}"
    missing = [f"{d}/{k}.{ext}" for k in KEYS for d, ext in (("implementations", "py"), ("tests", "py"))
               if not (REPO / d / (f"test_{k}.py" if d == "tests" else f"{k}.{ext}")).exists()]
    assert not missing, f"missing: {missing}"


def test_dvc_yaml_is_generated_from_the_import_graph():
    assert (REPO / "dvc.yaml").read_text() == render(), "dvc.yaml is out of date: run `python -m pipelines dvc-yaml`"


def test_no_paper_pipeline_imports_another_papers_pipeline():
    own = {REPO / "pipelines" / f"{k}.py" for k in KEYS}
    bad = {f"pipelines/{k}.py imports {sorted(str(p.relative_to(REPO)) for p in imports_of(REPO / 'pipelines' / f'{k}.py') & own)}"
           for k in KEYS if imports_of(REPO / "pipelines" / f"{k}.py") & own}
    assert not bad, bad


def test_settings_reach_workers_explicitly_not_through_module_level_state():
    """No `CFG: dict = {}` filled in measure() for forked workers to read: functools.partial(fn, cfg) instead."""
    import ast

    bad = []
    for key in KEYS:
        tree = ast.parse((REPO / "pipelines" / f"{key}.py").read_text())
        for node in tree.body:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            empty = (isinstance(value, (ast.Dict, ast.List, ast.Set)) and not getattr(value, "keys", getattr(value, "elts", [1]))) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("dict", "list", "set") and not value.args)
            if empty:
                bad.append(f"pipelines/{key}.py:{node.lineno}")
    assert not bad, f"module-level mutable state: {bad}"
