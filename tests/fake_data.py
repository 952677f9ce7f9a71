"""Small fake data sets in the layouts the full profile reads (ImageNet folders, COCO keypoints), for offline tests."""
import json

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


def fake_coco(root, *, images: int = 3, seed: int = 0) -> None:
    """A tiny COCO 2017 keypoints folder (train and val): noise images with two people each, 17 random keypoints
    inside each person's box, some unlabelled."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        (root / f"{split}2017").mkdir(parents=True)
        imgs, anns = [], []
        for i in range(1, images + 1):
            name = f"{i:012d}.jpg"
            Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(root / f"{split}2017" / name)
            imgs.append({"id": i, "file_name": name, "width": 120, "height": 90})
            for k, (x, y) in enumerate([(10, 5), (60, 20)]):
                w, h = 40, 60
                kp = np.zeros((17, 3))
                kp[:, 0], kp[:, 1] = rng.integers(x, x + w, 17), rng.integers(y, y + h, 17)
                kp[:, 2] = np.where(rng.random(17) < 0.8, 2, 0)
                kp[kp[:, 2] == 0, :2] = 0
                anns.append({"id": 10 * i + k, "image_id": i, "category_id": 1, "bbox": [x, y, w, h], "area": w * h,
                             "iscrowd": 0, "keypoints": kp.ravel().tolist(), "num_keypoints": int((kp[:, 2] > 0).sum())})
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"person_keypoints_{split}2017.json").write_text(json.dumps(
            {"images": imgs, "annotations": anns, "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}]}))


def dot_people(root, *, train: int, val: int, seed: int = 0) -> None:
    """A COCO folder of one "person" per image, facing the camera: three white dots at the nose and the hips (the
    left hip on the image's right, so that mirroring and renaming agree, as for real people); the rest unlabelled."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("val", val)):
        (root / f"{split}2017").mkdir(parents=True)
        imgs, anns = [], []
        for i in range(1, count + 1):
            img = (rng.random((90, 120, 3)) * 40).astype(np.uint8)
            w = rng.uniform(30, 45)
            h = 1.4 * w
            x, y = rng.uniform(0, 120 - w), rng.uniform(0, 90 - h)
            kp = np.zeros((17, 3))
            for j, (fx, fy) in {0: (0.5, 0.15), 11: (0.7, 0.6), 12: (0.3, 0.6)}.items():
                px, py = int(x + fx * w), int(y + fy * h)
                img[py - 1:py + 2, px - 1:px + 2] = 255
                kp[j] = [px, py, 2]
            Image.fromarray(img).save(root / f"{split}2017" / f"{i:012d}.png")
            imgs.append({"id": i, "file_name": f"{i:012d}.png", "width": 120, "height": 90})
            anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
                         "keypoints": kp.ravel().tolist(), "num_keypoints": 3})
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"person_keypoints_{split}2017.json").write_text(json.dumps(
            {"images": imgs, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))


def fake_coco_detection(root, *, images: int = 3, seed: int = 0) -> None:
    """A tiny COCO 2017 detection folder (train and val): noise images, two boxes each of categories 1 / 3 / 7
    (COCO's ids are not contiguous), plus one crowd box."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        (root / f"{split}2017").mkdir(parents=True)
        imgs, anns = [], []
        for i in range(1, images + 1):
            name = f"{i:012d}.jpg"
            Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(root / f"{split}2017" / name)
            imgs.append({"id": i, "file_name": name, "width": 120, "height": 90})
            for k, (box, cat, crowd) in enumerate([([10, 5, 40, 60], 1, 0), ([60, 20, 50, 30], (3, 7)[i % 2], 0),
                                                   ([0, 0, 30, 20], 1, 1)]):
                anns.append({"id": 10 * i + k, "image_id": i, "category_id": cat, "bbox": box, "iscrowd": crowd,
                             "area": box[2] * box[3]})
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(
            {"images": imgs, "annotations": anns,
             "categories": [{"id": c, "name": n} for c, n in ((1, "person"), (3, "car"), (7, "train"))]}))
