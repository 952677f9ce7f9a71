"""Exercise the full profile's code paths on a GPU machine that has no internet (the `device` check).

Makes a tiny ImageNet-style folder (random images, 10 classes), points the ImageNet papers' full settings at it
with one short epoch, runs their stages at profile `full` on CUDA, and checks that the stages whose full data must
be downloaded fail with the clear DataUnavailable message. Writes <out>/gpu_check.json.

usage: python scripts/gpu_check.py OUT_DIR [KEY ...]
"""
from __future__ import annotations

import copy
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from pipelines.shared.common import load_params  # noqa: E402
from pipelines.shared.data import DataUnavailable  # noqa: E402
from pipelines.shared.run import run_stage  # noqa: E402


def fake_imagenet(root: Path, classes: int = 10, per_class: int = 16) -> Path:
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
            if k in ("data_dir",):
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


def main() -> int:
    out = Path(sys.argv[1])
    keys = sys.argv[2:] or ["squeezenet", "alexnet", "vgg", "mobilenet", "bag_of_tricks", "rethinking_generalization"]
    root = fake_imagenet(out / "fake_imagenet")
    params = load_params()
    report = {"cuda": torch.cuda.is_available(), "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "torch": torch.__version__, "stages": {}}
    for key in keys:
        p = dict(params)
        p[key] = point_at(params[key], root)
        t0 = time.perf_counter()
        try:
            m = run_stage(key, "full", out / "reports", p)
            report["stages"][key] = {"ok": True, "device": m["env"]["device"], "metrics": m["metrics"]}
        except DataUnavailable as e:
            report["stages"][key] = {"ok": False, "data_unavailable": str(e)}
        except Exception as e:  # noqa: BLE001 - report every failure, go on with the next stage
            report["stages"][key] = {"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-3000:]}
        report["stages"][key]["wall_s"] = round(time.perf_counter() - t0, 1)
        print(key, json.dumps(report["stages"][key])[:600], flush=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
