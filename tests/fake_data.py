"""Small fake data sets in the layouts the full profile reads (ImageNet folders, COCO keypoints), for offline tests,
and a fake project of claim and measured files for the engine's tests."""
import json
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image


def image_folder(root, classes=("a", "b"), per_class=2, size=40):
    """An ImageNet-style train/ and val/ of class folders of random images."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")


def write_coco(root, kind: str, counts: dict, make_image, categories=({"id": 1, "name": "person"},)) -> None:
    """A COCO 2017 folder: <split>2017/ images and annotations/<kind>_<split>2017.json, for split, count in
    `counts`; make_image(rng) gives one image (H x W x 3 uint8) and its annotations (without ids)."""
    rng = np.random.default_rng(0)
    for split, count in counts.items():
        (root / f"{split}2017").mkdir(parents=True)
        imgs, anns = [], []
        for i in range(1, count + 1):
            pixels, objects = make_image(rng, i)
            Image.fromarray(pixels).save(root / f"{split}2017" / f"{i:012d}.png")
            imgs.append({"id": i, "file_name": f"{i:012d}.png", "width": pixels.shape[1], "height": pixels.shape[0]})
            anns += [{"id": 100 * i + k, "image_id": i, "iscrowd": 0, **a} for k, a in enumerate(objects)]
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"{kind}_{split}2017.json").write_text(json.dumps(
            {"images": imgs, "annotations": anns, "categories": list(categories)}))


def fake_coco(root, *, images: int = 3) -> None:
    """A tiny COCO keypoints folder (train and val): noise images with two people each, 17 random keypoints inside
    each person's box, some unlabelled."""
    def make(rng, i):
        people = []
        for x, y in [(10, 5), (60, 20)]:
            w, h = 40, 60
            kp = np.zeros((17, 3))
            kp[:, 0], kp[:, 1] = rng.integers(x, x + w, 17), rng.integers(y, y + h, 17)
            kp[:, 2] = np.where(rng.random(17) < 0.8, 2, 0)
            kp[kp[:, 2] == 0, :2] = 0
            people.append({"category_id": 1, "bbox": [x, y, w, h], "area": w * h, "keypoints": kp.ravel().tolist(),
                           "num_keypoints": int((kp[:, 2] > 0).sum())})
        return rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), people

    write_coco(root, "person_keypoints", {"train": images, "val": images}, make)


def dot_people(root, *, train: int, val: int) -> None:
    """A COCO keypoints folder of one "person" per image, facing the camera: three white dots at the nose and the
    hips (the left hip on the image's right, so that mirroring and renaming agree, as for real people)."""
    def make(rng, i):
        img = (rng.random((90, 120, 3)) * 40).astype(np.uint8)
        w = rng.uniform(30, 45)
        h = 1.4 * w
        x, y = rng.uniform(0, 120 - w), rng.uniform(0, 90 - h)
        kp = np.zeros((17, 3))
        for j, (fx, fy) in {0: (0.5, 0.15), 11: (0.7, 0.6), 12: (0.3, 0.6)}.items():
            px, py = int(x + fx * w), int(y + fy * h)
            img[py - 1:py + 2, px - 1:px + 2] = 255
            kp[j] = [px, py, 2]
        return img, [{"category_id": 1, "bbox": [x, y, w, h], "area": w * h, "keypoints": kp.ravel().tolist(),
                      "num_keypoints": 3}]

    write_coco(root, "person_keypoints", {"train": train, "val": val}, make)


def fake_coco_detection(root, *, images: int = 3) -> None:
    """A tiny COCO detection folder (train and val): noise images, two boxes each of categories 1 / 3 / 7 (COCO's
    ids are not contiguous), plus one crowd box."""
    def make(rng, i):
        boxes = [([10, 5, 40, 60], 1, 0), ([60, 20, 50, 30], (3, 7)[i % 2], 0), ([0, 0, 30, 20], 1, 1)]
        return rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), [
            {"category_id": c, "bbox": b, "iscrowd": crowd, "area": b[2] * b[3]} for b, c, crowd in boxes]

    write_coco(root, "instances", {"train": images, "val": images}, make,
               categories=[{"id": c, "name": n} for c, n in ((1, "person"), (3, "car"), (7, "train"))])


# ------------------------------------------------------------------ a fake project for the engine's tests
PAPER = 'paper: {key: %s, index: 0, title: "T", authors: "A", year: 2020, url: https://example.org}\n'
GOOD = PAPER % "good" + textwrap.dedent("""\
    claims:
      - id: exact_ok
        says: "The model has 5 layers."
        where: "Table 1"
        kind: structural
        scale: paper
        metric: layers
        claimed: 5
        check: {equals: 5}
      - id: beats_baseline
        says: "Ours beats the baseline."
        where: "Sec. 4"
        kind: empirical
        scale: analogue
        setting: "made-up data, 5 seeds"
        metric: gain
        claimed: null
        check: {greater_than: 0}
      - id: known_failure
        says: "Ours is 10 points better."
        where: "Table 2"
        kind: empirical
        scale: analogue
        setting: "made-up data, 5 seeds"
        metric: gain
        claimed: 0.1
        check: {greater_than: 0.1}
        requires:
          - {metric: acc_base, every_seed: {at_least: 0.8}, why: "the baseline trained"}
        expect: fails
        why: "At our scale the gain is about 1 point."
      - id: moved_verdict
        says: "The gain is huge."
        where: "Abstract"
        kind: empirical
        scale: analogue
        setting: "made-up data, 5 seeds"
        metric: gain
        claimed: 0.5
        check: {greater_than: 0.5}
      - id: paper_scale
        says: "ImageNet top-1 75%."
        where: "Table 3"
        kind: empirical
        scale: paper
        profile: full
        metric: top1
        claimed: 0.75
        check: {at_least: 0.74}
    """)
GOOD_MEASURED = {"paper": "good", "profile": "cpu", "seeds": [0, 1, 2, 3, 4],
                 "metrics": {"layers": 5, "gain": [0.01, 0.012, 0.009, 0.011, 0.01],
                             "acc_base": [0.9, 0.91, 0.9, 0.92, 0.9]}}


def make_repo(root: Path, files: dict, measured: dict) -> Path:
    (root / "claims").mkdir(parents=True, exist_ok=True)
    (root / "reports" / "measured").mkdir(parents=True, exist_ok=True)
    (root / "claims" / "conftest.py").write_text("from claimcheck.pytest_plugin import *  # noqa\n")
    for name, text in files.items():
        (root / "claims" / f"{name}.yaml").write_text(text)
    for name, doc in measured.items():
        path = root / "reports" / "measured" / f"{name}.json"
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return root


