"""The GPU path, checked on a machine with a GPU (the `device` tool) and no internet.

1. `--cpu-profile` (default): runs every stage at the cpu profile on CUDA (`--device cuda`) into OUT/cuda/, one process
   per stage as `dvc repro` would, and compares each claim's verdict with the one the committed CPU measurements give
   (reports/measured/). Prints the wall time per stage and in all, and every verdict that differs; writes
   OUT/gpu_check.json. Per-seed numbers differ between devices (other kernels): a verdict that moves is a claim that
   one device's draw decides.
2. `--full KEY ...`: the full profile's code paths on CUDA with a tiny fake ImageNet folder (one short epoch), and
   the stages whose data must be downloaded fail with the one-line DataUnavailable message.

usage: python scripts/gpu_check.py OUT [--keys KEY ...] [--full KEY ...]
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from claimcheck.check import check_claim, load_measured  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines.shared.common import load_params, paper_keys  # noqa: E402


def verdicts(key: str, measured_dir: Path) -> dict[str, str]:
    cf = load_claim_file(REPO / "claims" / f"{key}.yaml")
    measured, err = load_measured(measured_dir, key)
    return {c.id: check_claim(c, measured, err, cf.paper).verdict for c in cf.claims}


def cpu_profile_on_cuda(out: Path, keys: list[str]) -> dict:
    report = {"stages": {}, "moved": []}
    t_all = time.perf_counter()
    for key in keys:
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "pipelines", key, "--profile", "cpu", "--device", "cuda", "--out",
                            str(out / "cuda")], cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        entry = {"rc": p.returncode, "wall_s": round(wall, 1)}
        if p.returncode != 0:
            entry["error"] = p.stderr.strip().splitlines()[-1:] or ["?"]
        else:
            m = json.loads((out / "cuda" / "measured" / f"{key}.json").read_text())
            entry |= {"stage_wall_s": m["wall_s"], "device": m["env"]["device"]}
            cpu, gpu = verdicts(key, REPO / "reports" / "measured"), verdicts(key, out / "cuda" / "measured")
            entry["claims"] = len(cpu)
            entry["moved"] = {c: f"{cpu[c]} (cpu) -> {gpu[c]} (cuda)" for c in cpu if cpu[c] != gpu.get(c)}
            report["moved"] += [f"{key}/{c}: {v}" for c, v in entry["moved"].items()]
        report["stages"][key] = entry
        print(f"{key:28s} rc={p.returncode} {wall:6.1f}s moved={len(entry.get('moved', {}))}", flush=True)
    report["total_wall_s"] = round(time.perf_counter() - t_all, 1)
    print(f"\nwhole cpu profile on CUDA: {report['total_wall_s']} s; verdicts that differ from the CPU's: "
          f"{len(report['moved'])}\n" + "\n".join(report["moved"]))
    return report


def fake_imagenet(root: Path, classes: int = 10, per_class: int = 16) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in range(classes):
            d = root / split / f"n{c:08d}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


def point_at(block: dict, root: Path) -> dict:
    """Shrink a paper's full settings to one short epoch on the fake folder."""
    full = copy.deepcopy(block["full"])
    for cfg in [full] + [v for v in full.values() if isinstance(v, dict)]:
        for k in list(cfg):
            if k == "data_dir":
                cfg[k] = str(root)
            if k == "imagenet_train":
                cfg[k] = str(root / "train")
            if k == "imagenet_val":
                cfg[k] = str(root / "val")
            if k == "epochs":
                cfg[k] = 1
            if k == "batch_size":
                cfg[k] = 32
            if k == "workers":
                cfg[k] = 2
    return {**block, "full": full}


def full_profile_paths(out: Path, keys: list[str]) -> dict:
    import traceback

    from pipelines.shared.common import DataUnavailable
    from pipelines.shared.run import run_stage

    root = fake_imagenet(out / "fake_imagenet")
    params = load_params()
    report = {}
    for key in keys:
        p = dict(params)
        p[key] = point_at(params[key], root)
        t0 = time.perf_counter()
        try:
            m = run_stage(key, "full", out / "reports", p)
            report[key] = {"ok": True, "device": m["env"]["device"], "metrics": m["metrics"]}
        except DataUnavailable as e:
            report[key] = {"ok": False, "data_unavailable": str(e)}
        except Exception as e:  # noqa: BLE001 - report every failure, go on with the next stage
            report[key] = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-3000:]}
        report[key]["wall_s"] = round(time.perf_counter() - t0, 1)
        print(key, json.dumps(report[key])[:600], flush=True)
    return report


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--keys", nargs="*", help="stages of the cpu-profile check (default: all)")
    ap.add_argument("--full", nargs="*", help="run the full profile's code paths of these stages on fake ImageNet")
    args = ap.parse_args()
    report = {"cuda": torch.cuda.is_available(), "torch": torch.__version__,
              "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    if not report["cuda"]:
        print("gpu_check: torch sees no GPU; nothing to check here", file=sys.stderr)
        return 1
    if args.full is not None:
        report["full"] = full_profile_paths(args.out, args.full or ["squeezenet", "alexnet", "vgg", "mobilenet"])
    else:
        report["cpu_profile_on_cuda"] = cpu_profile_on_cuda(args.out, args.keys or paper_keys())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
