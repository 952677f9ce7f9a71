"""Faults: a stage killed under `dvc repro`, a dead or broken MLflow store, concurrent sessions, Ctrl-C.

Each test runs the real commands in a throw-away project; each fault once lost results, hung or broke the store."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_data import GOOD, GOOD_MEASURED, make_repo

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SLOW_STAGE = '''"""A stage whose workers wait: the test kills the stage while they do."""
import functools
import os
import time
from pathlib import Path

from pipelines.shared.common import map_seeds


def work(cfg, seed):
    Path(cfg["marker_dir"], f"worker.{os.getpid()}.{os.getppid()}").write_text("")
    time.sleep(cfg["sleep"])
    return seed


def measure(cfg, run):
    (run.figures / "f.png").write_bytes(b"figure of version %d" % cfg["version"])
    seeds = run.seeds(cfg["seeds"])
    map_seeds(functools.partial(work, cfg), seeds, workers=2)
    return {"seeds": seeds, "metrics": {"v": cfg["version"]}, "setting": {}}
'''


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _env(**extra) -> dict:
    return dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", PAPER_CLAIMS_PYTHON=sys.executable, **extra)


def test_a_stage_killed_under_dvc_repro_leaves_the_committed_results_and_no_process_or_temp_file(tmp_path):
    proj, markers = tmp_path / "proj", tmp_path / "markers"
    markers.mkdir()
    shutil.copytree(REPO / "pipelines" / "shared", proj / "pipelines" / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pipelines/__init__.py", "pipelines/__main__.py", "scripts/stage"):
        (proj / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, proj / f)
    (proj / "pipelines" / "slowpaper.py").write_text(SLOW_STAGE)

    def params(version, sleep):
        (proj / "params.yaml").write_text(json.dumps({"profile": "cpu", "device": "cpu", "slowpaper": {
            "common": {"seeds": 2, "marker_dir": str(markers), "sleep": sleep}, "cpu": {"version": version}}}))

    params(1, 0)
    env = _env()
    subprocess.run(["git", "init", "-q"], cwd=proj, check=True)
    subprocess.run([sys.executable, "-m", "pipelines", "dvc-yaml"], cwd=proj, check=True, env=env, capture_output=True)
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=proj, check=True, env=env)
    subprocess.run([str(BIN / "dvc"), "repro", "-q"], cwd=proj, check=True, env=env, capture_output=True, timeout=180)
    committed = {p: p.read_bytes() for p in (proj / "reports").rglob("*") if p.is_file()}
    assert (proj / "reports" / "measured" / "slowpaper.json").exists() and len(committed) == 3
    for m in markers.iterdir():
        m.unlink()

    params(2, 120)
    dvc = subprocess.Popen([str(BIN / "dvc"), "repro"], cwd=proj, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while len(list(markers.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.2)
        workers = [p.name.split(".") for p in markers.iterdir()]
        assert len(workers) == 2, "the stage's workers did not start"
        stage = int(workers[0][2])
        os.kill(stage, signal.SIGKILL)  # the stage dies mid-measurement
        dvc.wait(timeout=60)
    finally:
        if dvc.poll() is None:
            os.killpg(dvc.pid, signal.SIGKILL)
    assert dvc.returncode != 0
    deadline = time.time() + 10
    while any(_alive(int(w[1])) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if _alive(int(w[1]))], "seed workers outlived their stage"
    now = {p: p.read_bytes() for p in (proj / "reports").rglob("*") if p.is_file()}
    assert now == committed, "the committed measurement or figures changed"
    assert not [p for p in (proj / "reports").rglob(".*")], "temporary files left in reports/"


def _claims(cwd, env, *args, timeout=120):
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "pytest", "claims/", "-p", "no:cacheprovider", *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=timeout)
    return p, time.perf_counter() - t0


def test_a_dead_mlflow_server_costs_seconds_and_changes_nothing(tmp_path):
    make_repo(tmp_path, {"good": GOOD}, {"good": GOOD_MEASURED})
    p, took = _claims(tmp_path, _env(MLFLOW_TRACKING_URI="http://127.0.0.1:9"), "-q")
    out = p.stdout + p.stderr
    assert took < 30, f"took {took:.0f} s"
    assert p.returncode == 1 and "1 failed, 2 passed, 1 skipped, 1 xfailed" in out  # the checks' own outcome
    warnings = [line for line in out.splitlines() if line.startswith("MLflow: warning")]
    assert len(warnings) == 1 and "Traceback" not in out
    assert (tmp_path / "reports" / "claims.md").exists()


def test_a_corrupted_store_is_one_warning_line(tmp_path):
    make_repo(tmp_path, {"good": GOOD}, {"good": GOOD_MEASURED})
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a database" * 100)
    p, _ = _claims(tmp_path, _env(MLFLOW_TRACKING_URI=f"sqlite:///{db}"), "-q")
    out = p.stdout + p.stderr
    assert p.returncode == 1 and "MLflow: warning: could not record" in out and "Traceback" not in out
    assert (tmp_path / "reports" / "claims.md").exists()


def test_four_sessions_at_once_on_a_fresh_sqlite_store_all_record(tmp_path):
    from mlflow.tracking import MlflowClient

    make_repo(tmp_path, {"good": GOOD}, {"good": GOOD_MEASURED})
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = _env(MLFLOW_TRACKING_URI=uri)
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "claims/", "-p", "no:cacheprovider", "-q", "--no-report"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [1] * 4, outs
    assert all("checks recorded under parent run" in o for o in outs), outs
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("paper-claims").experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 4 and all(r.info.status == "FINISHED" for r in parents)
    assert len(runs) == 4 * 7


def test_ctrl_c_mid_session_leaves_the_report_and_marks_the_session_killed(tmp_path):
    from mlflow.tracking import MlflowClient

    many = GOOD + "".join(f"  - {{id: extra_{i}, says: s, where: w, kind: structural, scale: paper, metric: layers, "
                          f"claimed: 5, check: {{equals: 5}}}}\n" for i in range(60))
    make_repo(tmp_path, {"good": many}, {"good": GOOD_MEASURED})
    (tmp_path / "claims" / "conftest.py").write_text(
        "import os, time\nfrom claimcheck.pytest_plugin import *  # noqa\n\n\n"
        "def pytest_runtest_setup(item):\n    if os.environ.get('SLOW'):\n        time.sleep(0.2)\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    p, _ = _claims(tmp_path, _env(MLFLOW_TRACKING_URI=uri), "-q")  # the committed report
    report = {n: (tmp_path / "reports" / n).read_bytes() for n in ("claims.md", "claims.html", "claims.json")}
    slow = subprocess.Popen([sys.executable, "-m", "pytest", "claims/", "-p", "no:cacheprovider", "-q"], cwd=tmp_path,
                            env=_env(MLFLOW_TRACKING_URI=uri, SLOW="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    time.sleep(6)  # start-up, then a few claims
    slow.send_signal(signal.SIGINT)
    out = slow.communicate(timeout=120)[0]
    assert slow.returncode == 2, out  # pytest: interrupted
    assert "claims report: not written (interrupted" in out
    assert report == {n: (tmp_path / "reports" / n).read_bytes() for n in report}
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("paper-claims").experiment_id], max_results=1000,
                              order_by=["attributes.start_time DESC"])
    last = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert last.info.status == "KILLED" and last.data.tags["session"] == "partial"
    assert 0 < last.data.metrics["n_recorded"] < 65


def test_ctrl_c_while_recording_marks_the_parent_killed(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from claimcheck import mlflow_record

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    slow_claim = mlflow_record._Recorder._claim_run

    def slowly(self, *a, **k):  # Ctrl-C arrives after 20 claims are recorded
        if self.recorded == 20:
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        return slow_claim(self, *a, **k)

    monkeypatch.setattr(mlflow_record._Recorder, "_claim_run", slowly)
    results = [{"paper": "p", "claim": f"c{i}", "kind": "structural", "verdict": "reproduced", "outcome": "passed",
                "rule": "r", "says": "s", "where": "w"} for i in range(400)]
    with pytest.raises(KeyboardInterrupt):
        mlflow_record.record_safely(results, repo=tmp_path)
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("paper-claims").experiment_id], max_results=1000)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.info.status == "KILLED" and 0 < parent.data.metrics["n_recorded"] < 400


def test_experiment_creation_race_is_harmless():
    from claimcheck.mlflow_record import _experiment_id

    class Client:
        def __init__(self):
            self.calls = 0

        def get_experiment_by_name(self, name):
            self.calls += 1
            return None if self.calls == 1 else type("E", (), {"experiment_id": "7"})()

        def create_experiment(self, name, artifact_location=None):
            raise RuntimeError("RESOURCE_ALREADY_EXISTS: another session created it")

    assert _experiment_id(Client(), "paper-claims", None) == "7"
