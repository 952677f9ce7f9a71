"""HRNet: parameters and multiply-adds of the W32 / W48 pose networks (meta device), and the fusion ablation on a
mini-HRNet trained for keypoint heatmaps on generated stick figures (equal number of steps per arm).
full: stops with DataUnavailable, since the COCO keypoint APs of its full claims need pycocotools, the COCO data
and a COCO training pipeline."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from implementations.hrnet import hrnet  # noqa: E402
from pipelines.common import map_seeds  # noqa: E402
from pipelines.data import DataUnavailable  # noqa: E402
from pipelines.structural import count_macs, count_params, on_meta  # noqa: E402
from pipelines.train import seed_everything  # noqa: E402

_CFG: dict = {}


def stick_figures(n: int, size: int, joints: int, seed: int):
    """Images of a chain of `joints` keypoints joined by bright segments, plus distractor segments and noise;
    targets: one Gaussian heatmap per joint at 1/4 resolution (the HRNet output stride)."""
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
            img = np.maximum(img, np.clip(1.5 - dist, 0, 1))
        for p in pts:  # joints drawn as small blobs so each keypoint is visible
            img = np.maximum(img, np.exp(-((yy - p[0]) ** 2 + (xx - p[1]) ** 2) / 3.0))
        images.append(img + 0.1 * rng.standard_normal(img.shape))
        heatmaps.append(np.stack([np.exp(-((hy - p[0]) ** 2 + (hx - p[1]) ** 2) / (2 * 4.0 ** 2)) for p in pts]))
        coords.append(pts)
    as_t = lambda a: torch.tensor(np.stack(a), dtype=torch.float32)  # noqa: E731
    return as_t(images)[:, None], as_t(heatmaps), as_t(coords)


def pck(heatmaps: torch.Tensor, coords: torch.Tensor, threshold: float) -> float:
    """Fraction of joints whose heatmap arg-max (in input pixels, cell centres) is within `threshold` pixels."""
    n, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, j, -1).argmax(-1)
    pred = torch.stack([(flat // w).float() + 0.5, (flat % w).float() + 0.5], -1) * 4
    return ((pred - coords).norm(dim=-1) <= threshold).float().mean().item()


def train_and_score(job: tuple) -> dict:
    arm, seed = job
    cfg = _CFG
    X, H, _ = stick_figures(cfg["train_images"], cfg["image_size"], cfg["joints"], seed=1000 + seed)
    Xte, _, Cte = stick_figures(cfg["test_images"], cfg["image_size"], cfg["joints"], seed=5000)
    seed_everything(seed)
    model = hrnet(width=cfg["width"], num_joints=cfg["joints"], modules_per_stage=tuple(cfg["modules_per_stage"]),
                  blocks=cfg["blocks"], stem_width=cfg["stem_width"], stage1_blocks=1, fusion=arm == "fusion",
                  in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(cfg["steps"]):
        idx = torch.randint(0, len(X), (cfg["batch_size"],), generator=gen)
        loss = F.mse_loss(model(X[idx]), H[idx])  # Sec. 4.1: heatmap regression with the MSE loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(Xte)
    return {"pck": pck(out, Cte, cfg["pck_pixels"]), "params": count_params(model), "example": out[0].numpy()}


def structural() -> dict:
    m = {}
    for w in (32, 48):
        model = on_meta(lambda: hrnet(width=w))
        m[f"param_count_w{w}_millions"] = count_params(model) / 1e6
        for h, wd in ((256, 192), (384, 288)):
            m[f"gmacs_w{w}_{h}x{wd}"] = count_macs(model, (3, h, wd)) / 1e9
    m["gmacs_ratio_w48_over_w32_256x192"] = m["gmacs_w48_256x192"] / m["gmacs_w32_256x192"]
    m["gmacs_ratio_384x288_over_256x192_w32"] = m["gmacs_w32_384x288"] / m["gmacs_w32_256x192"]
    return m


def run_job(job):
    return structural() if job == "structural" else train_and_score(job)


def save_figure(cfg: dict, res: dict, path) -> None:
    X, H, _ = stick_figures(1, cfg["image_size"], cfg["joints"], seed=5000)
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.6))
    panels = [("image", X[0, 0]), ("target heatmaps (sum)", H[0].sum(0)),
              ("with fusion", res["fusion"][0]["example"].sum(0)), ("no fusion", res["nofusion"][0]["example"].sum(0))]
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(np.asarray(img), cmap="viridis")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    if run.profile == "full":  # the full claims are COCO keypoint APs, which this project cannot measure yet
        raise DataUnavailable(
            "hrnet's full profile checks COCO val2017 keypoint AP (HRNet-W32 74.4 vs SimpleBaseline ResNet-50 70.4 at "
            "256x192), which needs: pycocotools (not installed; its COCOeval computes the OKS-based AP), the COCO 2017 "
            "train/val images with person_keypoints_*.json annotations and the person detection boxes of the paper, "
            "and a 210-epoch COCO training pipeline that is not written yet. Run hrnet at the cpu profile instead.")
    seeds = list(range(cfg["seeds"]))
    jobs = [(arm, s) for arm in ("fusion", "nofusion") for s in seeds]
    _CFG.update(cfg)
    # the meta-device counts take a few seconds: they run as one more job beside the training runs
    outs = map_seeds(run_job, (["structural"] if cfg["count_macs"] else []) + jobs, label="job")
    metrics = outs.pop(0) if cfg["count_macs"] else {
        f"param_count_w{w}_millions": count_params(on_meta(lambda: hrnet(width=w))) / 1e6 for w in (32, 48)}
    res = {arm: [o for (a, _), o in zip(jobs, outs) if a == arm] for arm in ("fusion", "nofusion")}
    metrics["pck_fusion"] = [r["pck"] for r in res["fusion"]]
    metrics["pck_nofusion"] = [r["pck"] for r in res["nofusion"]]
    metrics["pck_fusion_minus_nofusion"] = [a["pck"] - b["pck"] for a, b in zip(res["fusion"], res["nofusion"])]
    metrics["param_count_mini_fusion"] = res["fusion"][0]["params"]
    metrics["param_count_mini_nofusion"] = res["nofusion"][0]["params"]
    save_figure(cfg, res, run.figures / "heatmaps.png")
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": f"generated {cfg['image_size']}^2 stick figures: {cfg['joints']} keypoints joined by segments, 2 distractor "
                f"segments, noise 0.1; Gaussian heatmaps (sigma 4 px) at 1/4 resolution; {cfg['train_images']} "
                f"training images per seed, fixed {cfg['test_images']} test images",
        "model": f"mini-HRNet: width {cfg['width']}, stem {cfg['stem_width']}, exchange units per stage "
                 f"{cfg['modules_per_stage']}, {cfg['blocks']} basic block(s) per branch; arms: with / without fusion",
        "training": f"Adam lr {cfg['lr']}, {cfg['steps']} steps of batch {cfg['batch_size']} (equal steps per arm), MSE",
        "metric": f"PCK: heatmap arg-max within {cfg['pck_pixels']} px of the keypoint"}}
