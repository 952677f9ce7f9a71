"""The stage runner: results are replaced only by a stage that succeeds, errors are one line, seeds can be shifted,
and runs off the default profile go to a scratch folder."""
import json
import sys
import types

import pytest

from pipelines.shared import run as runner
from pipelines.shared.common import DataUnavailable, map_arms, map_seeds

PARAMS = {"profile": "cpu", "device": "cpu", "fakepaper": {"common": {"seeds": 3}, "cpu": {}, "smoke": {"seeds": 2}}}


def fake_paper(monkeypatch, measure):
    module = types.ModuleType("pipelines.fakepaper")
    module.measure = measure
    monkeypatch.setitem(sys.modules, "pipelines.fakepaper", module)


def good(cfg, run):
    (run.figures / "curve.png").write_bytes(b"new figure")
    seeds = run.seeds(cfg["seeds"])
    return {"seeds": seeds, "metrics": {"acc": [0.9 + 0.01 * s for s in seeds], "nan": float("nan")}, "setting": {}}


def test_a_stage_writes_its_measured_file_and_figures(tmp_path, monkeypatch):
    fake_paper(monkeypatch, good)
    m = runner.run_stage("fakepaper", "cpu", tmp_path, PARAMS, seed_offset=100)
    on_disk = json.loads((tmp_path / "measured" / "fakepaper.json").read_text())
    assert on_disk["seeds"] == [100, 101, 102] and on_disk == m
    assert on_disk["metrics"]["nan"] is None  # strict JSON: a non-finite value is null, and its claims invalid
    assert {"cpu", "blas", "torch", "numpy", "device", "threads"} <= set(on_disk["env"]) and on_disk["startup_s"] >= 0
    assert sorted(p.name for p in (tmp_path / "figures" / "fakepaper").iterdir()) == ["curve.png", "measured.png"]
    assert not [p for p in tmp_path.rglob(".*")], "temporary files left behind"


@pytest.mark.parametrize("error", [DataUnavailable("no data under /nowhere"), RuntimeError("diverged"), KeyboardInterrupt])
def test_a_failing_stage_leaves_the_last_results_in_place(tmp_path, monkeypatch, error):
    fake_paper(monkeypatch, good)
    runner.run_stage("fakepaper", "cpu", tmp_path, PARAMS)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def broken(cfg, run):
        (run.figures / "curve.png").write_bytes(b"half-drawn")
        raise error

    fake_paper(monkeypatch, broken)
    with pytest.raises(type(error) if isinstance(error, Exception) else error):
        runner.run_stage("fakepaper", "cpu", tmp_path, PARAMS)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_stale_leftovers_of_a_killed_stage_are_swept(tmp_path, monkeypatch):
    fake_paper(monkeypatch, good)
    dead = 2 ** 22 + 12345  # no such process
    (tmp_path / "measured").mkdir(parents=True)
    (tmp_path / "measured" / f".fakepaper.json.{dead}.tmp").write_text("{")
    (tmp_path / "figures" / f".fakepaper.new.{dead}").mkdir(parents=True)
    runner.run_stage("fakepaper", "cpu", tmp_path, PARAMS)
    assert not [p for p in tmp_path.rglob(".*")]


def test_the_command_line_says_one_line_for_bad_keys_and_missing_data(monkeypatch, capsys, tmp_path):
    assert runner.main(["no_such_paper"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown paper key 'no_such_paper'" in err and "alexnet" in err
    monkeypatch.setattr(runner, "run_stage", lambda *a, **k: (_ for _ in ()).throw(DataUnavailable("no COCO under /x")))
    assert runner.main(["hrnet", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == "python -m pipelines hrnet: data unavailable: no COCO under /x"


def test_help_lists_the_keys(capsys):
    with pytest.raises(SystemExit):
        runner.main(["--help"])
    out = capsys.readouterr().out
    assert "paper keys:" in out and "squeezenet" in out and "--seed-offset" in out


def test_other_profiles_and_shifted_seeds_go_to_a_scratch_folder(monkeypatch):
    seen = {}
    monkeypatch.setattr(runner, "run_stage", lambda key, profile, out, params, seed_offset=0, device=None: seen.update(out=out))
    runner.main(["kkt", "--profile", "smoke"])
    assert seen["out"] == runner.scratch_dir("smoke")
    runner.main(["kkt", "--seed-offset", "7"])
    assert seen["out"] == runner.scratch_dir("cpu")
    runner.main(["kkt"])
    assert seen["out"] == runner.REPO / "reports"


def _square(cfg, x):
    return cfg["k"] * x * x


def test_map_seeds_and_map_arms_pass_settings_explicitly():
    import functools

    fn = functools.partial(_square, {"k": 2})
    assert map_seeds(fn, [1, 2, 3], workers=2) == [2, 8, 18]
    arms = map_arms(functools.partial(_arm, {"k": 10}), ["a", "b"], [1, 2], workers=2)
    assert arms == {"a": [11, 12], "b": [21, 22]}


def _arm(cfg, job):
    arm, seed = job
    return cfg["k"] * (1 if arm == "a" else 2) + seed
