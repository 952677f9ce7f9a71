"""COCO 2017 for the full profiles of the papers that train on it (hrnet: keypoints, focal_loss: boxes): one loader of
an annotation file and its image folder, and one scorer through pycocotools' own COCOeval. Nothing is downloaded."""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from pipelines.shared.common import DataUnavailable
from pipelines.shared.data import DATA_ROOT


def coco_root(cfg: dict) -> Path:
    """The COCO folder: the paper's `coco_dir`, else $COCO_DIR, else data/coco."""
    return Path(cfg.get("coco_dir") or os.environ.get("COCO_DIR") or DATA_ROOT / "coco")


def load_coco(root: Path, annotations: str, split: str, *, paper: str):
    """pycocotools' index of annotations/<annotations>_<split>2017.json and the folder of its images
    (<split>2017/ or images/<split>2017/). train2017 and val2017 are the 2014 trainval35k and minival under new names."""
    ann = Path(root) / "annotations" / f"{annotations}_{split}2017.json"
    images = next((d for d in (Path(root) / "images" / f"{split}2017", Path(root) / f"{split}2017") if d.is_dir()), None)
    if not ann.is_file() or images is None:
        raise DataUnavailable(
            f"COCO 2017 ({annotations}) not found under {root}: {paper}'s full profile needs annotations/{ann.name} and "
            f"{split}2017/ (or images/{split}2017/) from cocodataset.org (annotations_trainval2017.zip, train2017.zip "
            f"18 GB, val2017.zip 1 GB); nothing is downloaded. Set COCO_DIR (or {paper}'s `coco_dir` in params.yaml).")
    try:
        from pycocotools.coco import COCO
    except ImportError as e:
        raise DataUnavailable("pycocotools is missing (COCO's AP): `pip install -e .` installs it") from e
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        return COCO(str(ann)), images


def coco_ap(coco, results: list[dict], iou_type: str) -> float:
    """COCO's AP (the mean over thresholds 0.50:0.05:0.95 of IoU for "bbox", of OKS for "keypoints") of results in
    COCO's format, by pycocotools' COCOeval; 0 when there are none."""
    from pycocotools.cocoeval import COCOeval

    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco, coco.loadRes(results), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])
