"""HRNet: parameters and multiply-adds of the W32 / W48 pose networks and of SimpleBaseline (meta device), and the
fusion ablation on a mini-HRNet trained for keypoint heatmaps on generated stick figures (equal steps per arm).
full: also COCO keypoints, top-down (Sec. 4.1 of the pose paper): HRNet-W32 and SimpleBaseline-ResNet-50 trained on
train2017 person boxes at 256x192, scored by COCO's OKS AP (pycocotools) on val2017 with flip testing."""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from implementations.hrnet import hrnet, simple_baseline  # noqa: E402
from pipelines.shared.coco import coco_ap, coco_root, load_coco  # noqa: E402
from pipelines.shared.common import (  # noqa: E402
    DataUnavailable,  # noqa: E402
    log,
    map_seeds,
    progress,
)
from pipelines.shared.structural import count_macs, count_params, on_meta  # noqa: E402
from pipelines.shared.train import seed_everything  # noqa: E402


def stick_figures(n: int, size: int, joints: int, seed: int):
    """Images of a chain of `joints` keypoints joined by bright segments (the first joint marked by a larger disc),
    plus distractor segments and noise; targets: one Gaussian heatmap per joint at 1/4 resolution (the HRNet output
    stride). Naming the joints needs context: following the chain from its head."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] + 0.5
    hm = size // 4
    hy, hx = (np.mgrid[:hm, :hm] + 0.5) * 4
    images, heatmaps, coords = [], [], []
    for _ in range(n):
        pts = [rng.uniform(0.2 * size, 0.8 * size, 2)]
        for _ in range(joints - 1):
            step = rng.normal(0, 1, 2)
            pts.append(np.clip(pts[-1] + step / np.linalg.norm(step) * size * 0.2, 2, size - 2))
        pts = np.array(pts)
        img = np.zeros((size, size))
        segs = list(zip(pts[:-1], pts[1:])) + [tuple(rng.uniform(0, size, (2, 2))) for _ in range(2)]
        for a, b in segs:
            d, length = b - a, max(np.linalg.norm(b - a), 1e-6)
            t = np.clip(((yy - a[0]) * d[0] + (xx - a[1]) * d[1]) / length ** 2, 0, 1)
            dist = np.hypot(yy - a[0] - t * d[0], xx - a[1] - t * d[1])
            img = np.maximum(img, 0.5 * np.clip(1.5 - dist, 0, 1))  # segments at half the joints' brightness
        for p in pts:  # joints drawn as small blobs so each keypoint is visible
            img = np.maximum(img, np.exp(-((yy - p[0]) ** 2 + (xx - p[1]) ** 2) / 3.0))
        # the first joint (the "head") is a larger disc: the chain has a direction, so joint k is the k-th blob from
        # the head along the segments; without it a chain and its reverse look the same and the names are ambiguous
        img = np.maximum(img, np.clip(2.5 - np.hypot(yy - pts[0][0], xx - pts[0][1]), 0, 1))
        images.append(img + 0.1 * rng.standard_normal(img.shape))
        heatmaps.append(np.stack([np.exp(-((hy - p[0]) ** 2 + (hx - p[1]) ** 2) / (2 * 4.0 ** 2)) for p in pts]))
        coords.append(pts)
    as_t = lambda a: torch.tensor(np.stack(a), dtype=torch.float32)  # noqa: E731
    return as_t(images)[:, None], as_t(heatmaps), as_t(coords)


def pck(heatmaps: torch.Tensor, coords: torch.Tensor, threshold: float) -> float:
    """Fraction of joints whose predicted location is within `threshold` input pixels of the keypoint. The location
    is decoded as in the paper's testing (Sec. 4.1): the heatmap's peak moved a quarter cell towards the higher
    neighbour (decode_heatmaps); coords are (row, column) in input pixels."""
    xy, _ = decode_heatmaps(heatmaps.float())
    return ((xy.flip(-1) - coords).norm(dim=-1) <= threshold).float().mean().item()


def train_and_score(cfg: dict, job: tuple) -> dict:
    """One arm (the fusion mode: "all" exchange units fuse, or only the "last"), one seed: its own training figures,
    heatmap MSE with Adam on a one-cycle schedule, PCK on the fixed test figures."""
    arm, seed = job
    X, H, _ = stick_figures(cfg["train_images"], cfg["image_size"], cfg["joints"], seed=1000 + seed)
    Xte, _, Cte = stick_figures(cfg["test_images"], cfg["image_size"], cfg["joints"], seed=5000)
    seed_everything(seed)
    device = cfg["device"]
    model = hrnet(width=cfg["width"], num_joints=cfg["joints"], modules_per_stage=tuple(cfg["modules_per_stage"]),
                  blocks=cfg["blocks"], stem_width=cfg["stem_width"], stage1_blocks=1, fusion=arm,
                  in_channels=1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=cfg["steps"], pct_start=0.15)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(cfg["steps"]):
        idx = torch.randint(0, len(X), (cfg["batch_size"],), generator=gen)
        loss = F.mse_loss(model(X[idx].to(device)), H[idx].to(device))  # Sec. 4.1: heatmap regression, MSE loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        out = model(Xte.to(device)).cpu()
    return {"pck": pck(out, Cte, cfg["pck_pixels"]), "params": count_params(model), "example": out[0].numpy()}


def structural() -> dict:
    m = {}
    for w in (32, 48):
        model = on_meta(lambda: hrnet(width=w))
        m[f"param_count_w{w}_millions"] = count_params(model) / 1e6
        for h, wd in ((256, 192), (384, 288)):
            m[f"gmacs_w{w}_{h}x{wd}"] = count_macs(model, (3, h, wd)) / 1e9
    m["gmacs_ratio_w48_over_w32_256x192"] = m["gmacs_w48_256x192"] / m["gmacs_w32_256x192"]
    return m


def run_job(cfg: dict, job):
    return structural() if job == "structural" else train_and_score(cfg, job)


def save_figure(cfg: dict, res: dict, path) -> None:
    X, H, _ = stick_figures(1, cfg["image_size"], cfg["joints"], seed=5000)
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.6))
    panels = [("image", X[0, 0]), ("target heatmaps (sum)", H[0].sum(0))] + [
        (f"fusion: {arm}", res[arm][0]["example"].sum(0)) for arm in list(res)[:2]]
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(np.asarray(img), cmap="viridis")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)


# ------------------------------------------------------------------------------- full profile: COCO keypoints
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# COCO's 17 keypoints: nose, then (left, right) eyes, ears, shoulders, elbows, wrists, hips, knees, ankles
FLIP_ORDER = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]  # a mirrored person's left is its right
UPPER_BODY = set(range(11))  # nose to wrists; hips, knees and ankles are the lower body
# COCO's per-keypoint OKS falloffs (pycocotools' cocoeval), used here only for OKS-NMS of detected boxes
OKS_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10


def coco_split(root: Path, split: str):
    """COCO's person keypoint annotations of `split` and the folder of its images."""
    return load_coco(root, "person_keypoints", split, paper="hrnet")


def box_to_center_size(x: float, y: float, w: float, h: float, aspect: float, padding: float):
    """Sec. 4.1: "The human detection box is extended in height or width to a fixed aspect ratio: height : width =
    4 : 3"; then enlarged by `padding` (1.25 in the released code) so that the whole person is inside the crop."""
    center = np.array([x + w / 2, y + h / 2])
    w, h = (w, w / aspect) if w > aspect * h else (h * aspect, h)
    return center, np.array([w, h]) * padding


def person_instances(coco, images: Path, cfg: dict) -> list[dict]:
    """Ground-truth people (training; evaluation without a detections file): not crowd, at least one labelled
    keypoint, box clipped to the image. Keypoints move from COCO's integer pixels to pixel centres (+0.5)."""
    out = []
    for image_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(image_id)[0]
        for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=False)):
            x, y, w, h = a["bbox"]
            x1, y1 = max(0.0, x), max(0.0, y)
            x2, y2 = min(info["width"] - 1.0, x1 + max(0.0, w - 1)), min(info["height"] - 1.0, y1 + max(0.0, h - 1))
            if a.get("num_keypoints", 0) == 0 or a["area"] <= 0 or x2 < x1 or y2 < y1:
                continue
            center, size = box_to_center_size(x1, y1, x2 - x1, y2 - y1, cfg["coco_aspect"], cfg["coco_box_padding"])
            kp = np.array(a["keypoints"], np.float64).reshape(17, 3)
            kp[:, :2] += 0.5
            out.append({"path": str(images / info["file_name"]), "image_id": image_id, "center": center,
                        "size": size, "keypoints": kp, "score": 1.0})
    return out


def detected_instances(coco, images: Path, detections: Path, cfg: dict) -> list[dict]:
    """The paper's evaluation boxes (Sec. 4.1: "We use the same person detectors provided by SimpleBaseline"): a
    COCO results file of person detections, e.g. COCO_val2017_detections_AP_H_56_person.json (human AP 56.4)."""
    out = []
    for d in json.loads(detections.read_text()):
        if d["category_id"] != 1 or d["image_id"] not in coco.imgs:
            continue
        center, size = box_to_center_size(*d["bbox"], cfg["coco_aspect"], cfg["coco_box_padding"])
        out.append({"path": str(images / coco.imgs[d["image_id"]]["file_name"]), "image_id": d["image_id"],
                    "center": center, "size": size, "keypoints": np.zeros((17, 3)), "score": float(d["score"])})
    return out


def crop_transform(center, size, rotation: float, out_hw: tuple[int, int], flip: bool = False) -> np.ndarray:
    """3x3 map from image to crop coordinates (continuous: pixel i covers [i, i + 1)): the box `size` around
    `center`, rotated by `rotation` degrees, scaled to the crop, mirrored if `flip`."""
    (oh, ow), t = out_hw, math.radians(rotation)
    shift = lambda dx, dy: np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])  # noqa: E731
    rotate = np.array([[math.cos(t), math.sin(t), 0], [-math.sin(t), math.cos(t), 0], [0, 0, 1]])
    scale = np.diag([(-1 if flip else 1) * ow / size[0], oh / size[1], 1.0])
    return shift(ow / 2, oh / 2) @ scale @ rotate @ shift(-center[0], -center[1])


def apply_transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:2, :2].T + m[:2, 2]


def warp(image: torch.Tensor, m: np.ndarray, out_hw: tuple[int, int]) -> torch.Tensor:
    """The crop: bilinear samples of `image` (C, H, W) at the pre-images of the crop's pixel centres, zero outside
    (grid_sample with align_corners=False uses the same pixel-centre convention)."""
    (oh, ow), (h, w) = out_hw, image.shape[1:]
    ys, xs = np.mgrid[:oh, :ow] + 0.5
    src = apply_transform(np.linalg.inv(m), np.stack([xs, ys], -1))
    grid = torch.tensor(src / [w / 2, h / 2] - 1, dtype=torch.float32)[None]
    return F.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]


def heatmap_targets(joints: np.ndarray, visible: np.ndarray, out_hw: tuple[int, int], sigma: float):
    """One Gaussian per joint at 1/4 of the crop (Sec. 3: heatmaps at 1/4 resolution); weight 0 for unlabelled
    joints and joints outside the crop. Heatmap cell j has its centre at crop pixel (j + 0.5) * 4."""
    h, w = out_hw[0] // 4, out_hw[1] // 4
    mu = joints / 4 - 0.5
    xs, ys = np.arange(w), np.arange(h)
    maps = np.exp(-((xs[None, None] - mu[:, 0, None, None]) ** 2 + (ys[None, :, None] - mu[:, 1, None, None]) ** 2)
                  / (2 * sigma ** 2))
    inside = (mu[:, 0] >= -0.5) & (mu[:, 0] < w - 0.5) & (mu[:, 1] >= -0.5) & (mu[:, 1] < h - 0.5)
    weight = ((visible > 0) & inside).astype(np.float32)
    return torch.tensor(maps * weight[:, None, None], dtype=torch.float32), torch.tensor(weight)


def read_rgb(path: str) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1).float() / 255


def normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]


class CocoPeople(torch.utils.data.Dataset):
    """Top-down person crops. Training (Sec. 4.1): "random rotation ([-45, 45]), random scale ([0.65, 1.35]), and
    flipping", and half-body augmentation; draws come from torch's generator, which DataLoader seeds per worker."""

    def __init__(self, instances: list[dict], cfg: dict, train: bool):
        self.instances, self.cfg, self.train = instances, cfg, train
        self.out_hw = tuple(cfg["coco_input_hw"])

    def __len__(self) -> int:
        return len(self.instances)

    def __getitem__(self, i: int):
        inst, cfg = self.instances[i], self.cfg
        if not self.train:
            m = crop_transform(inst["center"], inst["size"], 0.0, self.out_hw)
            return normalise(warp(read_rgb(inst["path"]), m, self.out_hw)), i
        rand = lambda: torch.rand(()).item()  # noqa: E731
        randn = lambda: torch.randn(()).item()  # noqa: E731
        joints, visible = inst["keypoints"][:, :2], inst["keypoints"][:, 2]
        center, size = inst["center"], inst["size"]
        if (visible > 0).sum() > 8 and rand() < cfg["coco_half_body_prob"]:  # half-body: a box around one half
            upper = [j for j in range(17) if visible[j] > 0 and j in UPPER_BODY]
            lower = [j for j in range(17) if visible[j] > 0 and j not in UPPER_BODY]
            part = upper if (rand() < 0.5 and len(upper) > 2) or len(lower) <= 2 else lower
            lo, hi = joints[part].min(0), joints[part].max(0)
            center, size = box_to_center_size(*lo, *(hi - lo), cfg["coco_aspect"], 1.5)
        size = size * float(np.clip(1 + randn() * cfg["coco_scale_factor"], 1 - cfg["coco_scale_factor"],
                                    1 + cfg["coco_scale_factor"]))
        r = cfg["coco_rotation"]
        rot = float(np.clip(randn() * r, -r, r)) if rand() <= cfg["coco_rotation_prob"] else 0.0
        flip = rand() < 0.5
        m = crop_transform(center, size, rot, self.out_hw, flip)
        x = normalise(warp(read_rgb(inst["path"]), m, self.out_hw))
        order = FLIP_ORDER if flip else list(range(17))
        target, weight = heatmap_targets(apply_transform(m, joints)[order], visible[order], self.out_hw,
                                         cfg["coco_sigma"])
        return x, target, weight


def decode_heatmaps(heat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop coordinates and scores of the heatmaps' peaks. Sec. 4.1 (testing): "Each keypoint location is predicted
    by adjusting the highest heatvalue location with a quarter offset in the direction from the highest response to
    the second highest response"; the second highest is taken among the peak's four neighbours, as in the code."""
    n, j, h, w = heat.shape
    flat = heat.reshape(n, j, h * w)
    score, idx = flat.max(-1)
    x, y = idx % w, idx // w
    at = lambda xx, yy: flat.gather(-1, (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1))[..., None])[..., 0]  # noqa: E731
    dx = torch.where((x > 0) & (x < w - 1), torch.sign(at(x + 1, y) - at(x - 1, y)), torch.zeros(()))
    dy = torch.where((y > 0) & (y < h - 1), torch.sign(at(x, y + 1) - at(x, y - 1)), torch.zeros(()))
    coords = torch.stack([x + 0.25 * dx + 0.5, y + 0.25 * dy + 0.5], -1) * 4
    return coords, score


def oks_nms(results: list[dict], threshold: float) -> list[dict]:
    """Per image, drop a pose whose OKS with a higher-scored kept pose exceeds `threshold` (the released code's
    OKS-NMS at 0.9 over detected boxes)."""
    kept = []
    by_image: dict[int, list[dict]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    for group in by_image.values():
        chosen: list[dict] = []
        for r in sorted(group, key=lambda r: -r["score"]):
            a = np.array(r["keypoints"]).reshape(17, 3)[:, :2]
            if all(np.mean(np.exp(-((a - np.array(c["keypoints"]).reshape(17, 3)[:, :2]) ** 2).sum(1)
                                  / (2 * c["area"] * (2 * OKS_SIGMAS) ** 2 + 1e-9))) <= threshold for c in chosen):
                chosen.append(r)
        kept += chosen
    return kept


def coco_keypoint_ap(coco, results: list[dict]) -> float:
    """COCO's keypoint AP (the mean over OKS thresholds 0.50:0.05:0.95); the "area" we keep for OKS-NMS is not a
    result field."""
    return coco_ap(coco, [{k: v for k, v in r.items() if k != "area"} for r in results], "keypoints")


@torch.no_grad()
def predict_people(model: nn.Module, instances: list[dict], cfg: dict, device: str) -> list[dict]:
    """Poses in COCO's results format. Sec. 4.1: "we compute the heatmap by averaging the heatmaps of the original
    and flipped images"; a pose's score is its box score times the mean peak of its keypoints above 0.2 (code)."""
    model.eval()
    data = CocoPeople(instances, cfg, train=False)
    loader = torch.utils.data.DataLoader(data, batch_size=cfg["coco_batch_size"], num_workers=cfg["coco_workers"])
    results = []
    for x, idx in loader:
        x = x.to(device)
        heat = model(x)
        if cfg["coco_flip_test"]:  # mirroring the crop maps heatmap cell j exactly onto w - 1 - j (no pixel shift)
            heat = (heat + model(x.flip(-1)).flip(-1)[:, FLIP_ORDER]) / 2
        coords, score = decode_heatmaps(heat.float().cpu())
        for c, s, i in zip(coords.numpy(), score.numpy(), idx.tolist()):
            inst = instances[i]
            xy = apply_transform(np.linalg.inv(crop_transform(inst["center"], inst["size"], 0.0, data.out_hw)), c) - 0.5
            confident = s[s > 0.2]
            results.append({"image_id": inst["image_id"], "category_id": 1,
                            "keypoints": np.concatenate([xy, s[:, None]], 1).ravel().round(2).tolist(),
                            "score": float(inst["score"] * (confident.mean() if len(confident) else 0.0)),
                            "area": float(np.prod(inst["size"]))})
    return results


def pose_model(name: str, cfg: dict) -> nn.Module:
    """Table 1's networks by name: "w32" / "w48" are HRNet-W32 / -W48 (a recipe's `model` entry can shrink them),
    "simplebaseline_r50" (r101, r152) SimpleBaseline from torchvision's ImageNet ResNet weights, as in its paper."""
    if name.startswith("w") and name[1:].isdigit():
        model = hrnet(width=int(name[1:]), **cfg["coco_models"][name].get("model", {}))
        if name == "w32" and cfg.get("coco_hrnet_init"):  # an ImageNet-pretrained W32 trunk for this file's HRNet
            missing, _ = model.load_state_dict(torch.load(cfg["coco_hrnet_init"], map_location="cpu"), strict=False)
            log(f"  hrnet init from {cfg['coco_hrnet_init']}; not in it: {missing}")
        return model
    if name.startswith("simplebaseline_r"):
        try:
            return simple_baseline(depth=int(name.removeprefix("simplebaseline_r")),
                                   imagenet=cfg["coco_simplebaseline_imagenet"])
        except Exception as e:
            raise DataUnavailable(f"could not load torchvision's ImageNet ResNet weights ({type(e).__name__}: "
                                  f"{e}); the full profile downloads them once into torch's hub cache") from e
    raise ValueError(f"unknown pose model {name!r}: w32, w48, simplebaseline_r50, ...")


def joints_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sec. 4.1: "The loss function, defined as the mean squared error, is applied for comparing the predicted
    heatmaps and the groundtruth heatmaps"; unlabelled joints weigh 0 (the code's 0.5 factor is kept)."""
    w = weight[:, :, None, None]
    return 0.5 * F.mse_loss(pred * w, target * w)


def train_pose(name: str, seed: int, cfg: dict, instances: list[dict], device: str, show: bool) -> nn.Module:
    """Sec. 4.1: "We use the Adam optimizer ... The base learning rate is set as 1e-3, and is dropped to 1e-4 and
    1e-5 at the 170th and 200th epochs ... terminated within 210 epochs" (SimpleBaseline: 140 epochs, drops at 90,
    120). Under torchrun each rank takes its share of every epoch (DistributedSampler) and DDP averages gradients."""
    import torch.distributed as dist

    recipe = cfg["coco_models"][name]
    torch.manual_seed(seed)
    model = pose_model(name, cfg).to(device)
    distributed = dist.is_available() and dist.is_initialized()
    net = nn.parallel.DistributedDataParallel(model) if distributed else model
    data = CocoPeople(instances, cfg, train=True)
    gen = torch.Generator().manual_seed(seed)
    sampler = (torch.utils.data.DistributedSampler(data, seed=seed) if distributed
               else torch.utils.data.RandomSampler(data, generator=gen))
    world = dist.get_world_size() if distributed else 1
    loader = torch.utils.data.DataLoader(data, batch_size=cfg["coco_batch_size"] // world, sampler=sampler,
                                         num_workers=cfg["coco_workers"], drop_last=True, generator=gen,
                                         pin_memory=device != "cpu", persistent_workers=cfg["coco_workers"] > 0)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["coco_lr"])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, recipe["lr_steps"], gamma=0.1)
    for epoch in progress(range(recipe["epochs"]), desc=f"coco {name} seed {seed}", enabled=show):
        if distributed:
            sampler.set_epoch(epoch)
        net.train()
        for x, target, weight in loader:
            loss = joints_mse(net(x.to(device, non_blocking=True)), target.to(device), weight.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    return model


def save_coco_figure(instances: list[dict], results: list[dict], path: Path) -> None:
    """A few validation people with their predicted keypoints (score > 0.2)."""
    fig, axes = plt.subplots(1, 4, figsize=(10, 3.4))
    for ax, inst, res in zip(axes, instances, results):
        m = crop_transform(inst["center"], inst["size"], 0.0, (256, 192))
        ax.imshow(warp(read_rgb(inst["path"]), m, (256, 192)).permute(1, 2, 0).clamp(0, 1).numpy())
        kp = np.array(res["keypoints"]).reshape(17, 3)
        xy = apply_transform(m, kp[:, :2] + 0.5)[kp[:, 2] > 0.2]
        ax.plot(xy[:, 0], xy[:, 1], "o", ms=3, color="tab:red")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)


def measure_coco(cfg: dict, run) -> tuple[dict, dict]:
    root = coco_root(cfg)
    coco_train, train_images = coco_split(root, "train")
    coco_val, val_images = coco_split(root, "val")
    train = person_instances(coco_train, train_images, cfg)
    detections = root / "person_detection_results" / "COCO_val2017_detections_AP_H_56_person.json"
    val = (detected_instances(coco_val, val_images, detections, cfg) if detections.is_file()
           else person_instances(coco_val, val_images, cfg))
    seeds = run.seeds(cfg["coco_seeds"])
    h, w = cfg["coco_input_hw"]
    metrics, key, example = {}, {}, None
    for name in cfg["coco_models"]:
        aps = []
        for seed in seeds:
            model = train_pose(name, seed, cfg, train, run.device, run.show_progress)
            results = predict_people(model, val, cfg, run.device)  # in the order of `val`
            example = example or results[:4]
            if detections.is_file():
                results = oks_nms(results, cfg["coco_oks_nms"])
            aps.append(coco_keypoint_ap(coco_val, results))
        # Table 1 has HRNet-W32 both ways: 73.4 AP from scratch, 74.4 from an ImageNet-pretrained trunk
        label = "w32_imagenet" if name == "w32" and cfg.get("coco_hrnet_init") else name
        key[name] = f"coco_val_ap_{label}_{h}x{w}"
        metrics[key[name]] = aps
        log(f"  COCO val AP {label}: {aps}")
    if {"w32", "simplebaseline_r50"} <= set(key):
        metrics["coco_val_ap_w32_minus_simplebaseline_r50"] = [
            a - b for a, b in zip(metrics[key["w32"]], metrics[key["simplebaseline_r50"]])]
    save_coco_figure(val[:4], example or [], run.figures / "coco_keypoints.png")
    boxes = ("SimpleBaseline's person detections (human AP 56.4), OKS-NMS " + str(cfg["coco_oks_nms"])
             if detections.is_file() else "ground-truth person boxes (no detections file under "
             "person_detection_results/: the paper's boxes are detected, so AP here is not the paper's setting)")
    setting = {"coco": f"COCO 2017 keypoints under {root}: {len(train)} training people (train2017, not crowd, with "
                       f"keypoints) -> val2017, {len(val)} boxes: {boxes}; input {h}x{w}, box to 4:3, x"
                       f"{cfg['coco_box_padding']}; Gaussian targets sigma {cfg['coco_sigma']} heatmap px; "
                       f"augmentation: scale +/-{cfg['coco_scale_factor']}, rotation +/-{cfg['coco_rotation']} deg "
                       f"(p {cfg['coco_rotation_prob']}), flips, half-body (p {cfg['coco_half_body_prob']}); Adam lr "
                       f"{cfg['coco_lr']}, batch {cfg['coco_batch_size']}, recipes {cfg['coco_models']}; HRNet from "
                       f"{cfg.get('coco_hrnet_init') or 'scratch (no ImageNet-pretrained HRNet here)'}, SimpleBaseline "
                       f"from {'ImageNet ResNet-50 (torchvision)' if cfg['coco_simplebaseline_imagenet'] else 'scratch'}; "
                       f"flip test {cfg['coco_flip_test']}; OKS AP by pycocotools; seeds {seeds}"}
    return metrics, setting


def measure(cfg: dict, run) -> dict:
    # full: COCO first, so that missing data stops the stage before the small experiment runs
    coco_metrics, coco_setting = measure_coco(cfg, run) if run.profile == "full" else ({}, {})
    seeds = run.seeds(cfg["seeds"])
    arms = list(cfg["arms"])
    jobs = [(arm, s) for arm in arms for s in seeds]
    # the meta-device counts take a few seconds: they run as one more job beside the training runs
    outs = map_seeds(functools.partial(run_job, {**cfg, "device": run.device}),
                     (["structural"] if cfg["count_macs"] else []) + jobs, label="job")
    metrics = outs.pop(0) if cfg["count_macs"] else {
        f"param_count_w{w}_millions": count_params(on_meta(lambda: hrnet(width=w))) / 1e6 for w in (32, 48)}
    metrics["param_count_simplebaseline_r50_millions"] = count_params(on_meta(simple_baseline)) / 1e6
    res = {arm: [o for (a, _), o in zip(jobs, outs) if a == arm] for arm in arms}
    for arm in arms:
        metrics[f"pck_fusion_{arm}"] = [r["pck"] for r in res[arm]]
        metrics[f"param_count_mini_fusion_{arm}"] = res[arm][0]["params"]
    a, b = arms[0], arms[1]
    metrics[f"pck_fusion_{a}_minus_{b}"] = [x["pck"] - y["pck"] for x, y in zip(res[a], res[b])]
    save_figure(cfg, res, run.figures / "heatmaps.png")
    metrics.update(coco_metrics)
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": f"generated {cfg['image_size']}^2 stick figures: a chain of {cfg['joints']} keypoints (the first a larger "
                f"disc) joined by dimmer segments, 2 distractor segments, noise 0.1; Gaussian heatmaps (sigma 4 px) at "
                f"1/4 resolution; {cfg['train_images']} training images per seed, fixed {cfg['test_images']} test images",
        "model": f"mini-HRNet: width {cfg['width']}, stem {cfg['stem_width']}, exchange units per stage "
                 f"{cfg['modules_per_stage']}, {cfg['blocks']} basic block(s) per branch; arms (which exchange units "
                 f"fuse the resolutions): {arms}",
        "training": f"Adam, one-cycle lr peak {cfg['lr']}, {cfg['steps']} steps of batch {cfg['batch_size']} (equal "
                    f"steps per arm), MSE",
        "metric": f"PCK: decoded heatmap peak (quarter offset) within {cfg['pck_pixels']} px of the keypoint",
        **coco_setting}}
