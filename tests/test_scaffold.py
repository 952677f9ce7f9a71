"""`python -m pipelines new`: a new paper's five files and params block, whose stage runs and whose tests pass."""
import shutil
import subprocess
import sys
from pathlib import Path

from claimcheck.schema import load_claim_file

REPO = Path(__file__).resolve().parent.parent


def test_a_scaffolded_paper_runs_at_the_smoke_profile_and_passes_its_tests(tmp_path):
    proj = tmp_path / "proj"
    for f in ("pipelines/__init__.py", "pipelines/__main__.py", "scripts/stage"):
        (proj / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, proj / f)
    shutil.copytree(REPO / "pipelines" / "shared", proj / "pipelines" / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    for d in ("implementations", "claims", "tests"):
        (proj / d).mkdir(exist_ok=True)
    (proj / "implementations" / "__init__.py").write_text("")
    (proj / "params.yaml").write_text("profile: cpu\ndevice: auto\n")
    (proj / "README.md").write_text("| # | key | entry | in the source | link | here |\n|---|---|---|---|---|---|\n"
                                    "| 1 | `old` | Old | implemented | [paper](u) | x |\n\nmore text\n")
    run = lambda *a: subprocess.run([sys.executable, *a], cwd=proj, capture_output=True, text=True, timeout=300)  # noqa: E731
    p = run("-m", "pipelines", "new", "demo", "--title", "Demo", "--url", "https://example.org")
    assert p.returncode == 0, p.stderr
    for f in ("implementations/demo.py", "pipelines/demo.py", "claims/demo.yaml", "tests/test_demo.py"):
        assert (proj / f).exists(), f
    assert "| new | `demo` | Demo |" in (proj / "README.md").read_text().split("more text")[0]
    assert "measure-demo:" in (proj / "dvc.yaml").read_text() and "demo:" in (proj / "params.yaml").read_text()
    cf = load_claim_file(proj / "claims" / "demo.yaml")
    assert cf.error is None and all(c.error is None for c in cf.claims)
    p = run("-m", "pipelines", "demo", "--profile", "smoke", "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "out" / "measured" / "demo.json").exists()
    p = run("-m", "pytest", "tests/test_demo.py", "-q", "-p", "no:cacheprovider")
    assert p.returncode == 0, p.stdout + p.stderr
    p = run("-m", "pipelines", "new", "demo", "--title", "Again", "--url", "u")
    assert p.returncode == 2 and "exists already" in p.stderr
