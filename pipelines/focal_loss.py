"""Focal loss (Lin et al. 2017): the down-weighting factors exactly, where the loss concentrates (Fig. 4), the prior
initialisation and FL vs alpha-balanced CE on a small, heavily imbalanced dense detection task, and torchvision's
independent COCO re-training of RetinaNet R50-FPN (weights metadata).

The dense task ("blobs"): noisy images with 0-3 bright 3x3 squares (objects) and 0-3 bright 1x3 / 3x1 bars
(distractors of the same brightness); the positive "anchors" are the squares' centre pixels (~1 in 370 positions),
every other position is background. A small RetinaNet-style head (3x3 convs) classifies every pixel, trained with
SGD as in Sec. 4.1; each loss's hyper-parameter is picked per seed on validation images, pixel-level average precision
on held-out test images. full: the same task, bigger and longer, and Tables 1-2 on COCO: RetinaNet FPN per arm (FL at
several gamma, alpha-CE, CE with the prior, OHEM, ResNet-101 at 800 px), and torchvision's COCO_V1 weights re-scored.
"""
from __future__ import annotations

import functools
import itertools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from implementations.focal_loss import (
    dense_classifier,
    focal_loss,
    prior_bias,
    retinanet,
)
from pipelines.shared import torchvision_meta
from pipelines.shared.coco import coco_ap, coco_root, load_coco
from pipelines.shared.common import DataUnavailable, log, map_seeds, progress
from pipelines.shared.data import digits
from pipelines.shared.train import seed_everything


# ------------------------------------------------------------------------------------------------ exact parts
def _ce_over_fl(p_t: float, gamma: float = 2.0) -> float:
    """CE / FL for one positive anchor predicted with probability p_t, both from the implementation (alpha off)."""
    logit = torch.tensor([math.log(p_t / (1 - p_t))], dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    return (focal_loss(logit, one, alpha=-1, gamma=0.0) / focal_loss(logit, one, alpha=-1, gamma=gamma)).item()


def _pt_for_ratio(ratio: float) -> float:
    """The p_t at which CE / FL reaches `ratio` (bisection on the measured ratio, which rises with p_t)."""
    lo, hi = 0.5, 1 - 1e-9
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _ce_over_fl(mid) < ratio else (lo, mid)
    return (lo + hi) / 2


def _exact() -> dict:
    torch.manual_seed(0)
    logits, targets = torch.randn(10000, dtype=torch.float64) * 4, (torch.rand(10000) < 0.3).double()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    grid = np.linspace(1e-4, 0.5, 5001)
    # 1000 negative anchors and 1 positive, every one predicted p (Sec. 4.1's "first iteration")
    anchors = torch.zeros(1001, dtype=torch.float64)
    anchors[0] = 1

    def neg_share(p: float) -> float:
        per = focal_loss(torch.full((1001,), math.log(p / (1 - p)), dtype=torch.float64), anchors, reduction="none")
        return (per[1:].sum() / per.sum()).item()

    net = dense_classifier(in_channels=1, width=8, depth=2, prior=0.01)
    with torch.no_grad():
        p0 = torch.sigmoid(net(torch.randn(4, 1, 32, 32))).mean().item()
    return {
        "ce_over_fl_at_pt_0p9": _ce_over_fl(0.9),
        "pt_where_ce_over_fl_is_1000": _pt_for_ratio(1000.0),
        "max_ce_over_fl_for_pt_le_0p5": max(_ce_over_fl(p) for p in grid),
        "fl_gamma0_minus_ce_max_abs": (focal_loss(logits, targets, alpha=-1, gamma=0.0, reduction="none") - ce)
        .abs().max().item(),
        "initial_foreground_prob_prior_init": p0,
        "neg_share_of_focal_loss_at_p_0p5": neg_share(0.5),
        "neg_share_of_focal_loss_at_p_prior": neg_share(0.01),
        "retinanet_anchors_800px": _retinanet_anchors(),
    }


def _retinanet_anchors(image: int = 800, strides=(8, 16, 32, 64, 128), per_position: int = 9) -> int:
    """Anchors of RetinaNet on an 800-px image: pyramid levels P3-P7 (strides 8-128), A = 9 anchors per position
    (Sec. 4): 120,087, the paper's "~100k anchors" (Sec. 4.1)."""
    return sum(math.ceil(image / s) ** 2 for s in strides) * per_position


# ----------------------------------------------------------------------------- loss concentration (Fig. 4)
def _fraction_for_half(losses: torch.Tensor) -> float:
    """The smallest fraction of the examples (the hardest first) that carries half of the summed loss."""
    s = losses.sort(descending=True).values.cumsum(0)
    return (int((s < 0.5 * s[-1]).sum()) + 1) / len(losses)


def concentration(cfg: dict, digits_data, seed: int) -> tuple[float, float, float]:
    """Digits "3 vs rest" with `positives` threes in training (~1:100), a logistic regression trained with FL
    (gamma 2, alpha .25, prior init) as the paper trains its model; on the held-out digits, the fraction of the
    hardest negatives (and positives) that carries half of their loss under gamma = 2 over that under gamma = 0, and
    the trained model's held-out average precision (that it learned the task)."""
    Xtr, ytr, Xte, yte = digits_data
    gen = seed_everything(seed)
    pos = (ytr == 3).nonzero().flatten()
    keep = torch.cat([(ytr != 3).nonzero().flatten(), pos[torch.randperm(len(pos), generator=gen)[:cfg["positives"]]]])
    X, y = Xtr[keep], (ytr[keep] == 3).float()
    lin = torch.nn.Linear(64, 1)
    torch.nn.init.constant_(lin.bias, prior_bias(0.01))
    opt = torch.optim.Adam(lin.parameters(), lr=0.01)
    for _ in range(cfg["logreg_steps"]):
        loss = focal_loss(lin(X).squeeze(1), y) / y.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        z, t = lin(Xte).squeeze(1), (yte == 3).float()
        frac = {g: {c: _fraction_for_half(focal_loss(z[t == c], t[t == c], alpha=-1, gamma=g, reduction="none"))
                    for c in (0, 1)} for g in (0.0, 2.0)}
    ap = float(average_precision_score(t.numpy(), z.numpy()))
    return frac[2.0][0] / frac[0.0][0], frac[2.0][1] / frac[0.0][1], ap


# ------------------------------------------------------------------------------------------ the dense task
def blobs(n: int, size: int, seed: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """n images (n, 1, size, size) and their per-pixel targets: 1 at each square's centre, 0 elsewhere."""
    g = torch.Generator().manual_seed(seed)
    X = noise * torch.randn(n, 1, size, size, generator=g)
    Y = torch.zeros(n, 1, size, size)
    for i in range(n):
        for kind in ("square", "bar"):
            for _ in range(int(torch.randint(0, 4, (1,), generator=g))):
                r, c = (int(v) for v in torch.randint(2, size - 2, (2,), generator=g))
                if kind == "square":
                    X[i, 0, r - 1:r + 2, c - 1:c + 2] += 1.0
                    Y[i, 0, r, c] = 1.0
                elif torch.rand(1, generator=g) < 0.5:
                    X[i, 0, r, c - 1:c + 2] += 1.0
                else:
                    X[i, 0, r - 1:r + 2, c] += 1.0
    return X, Y


def dense_arm(cfg: dict, blob_data, device: str, job: tuple[int, str]) -> dict:
    """Train the head of one arm (cfg["dense_arms"][name]: gamma, alpha, prior) from seed `seed` with SGD (Sec. 4.1:
    momentum 0.9, lr cfg["lr"]). Loss: sum over all anchors divided by the number of positive anchors (Sec. 4.1).
    Returns the first iteration's loss and its background share (from the built model on the first minibatch),
    whether the loss ever became non-finite, and the pixel AP on the validation and test images."""
    seed, name = job
    arm = cfg["dense_arms"][name]
    (Xtr, Ytr), (Xva, Yva), (Xte, Yte) = blob_data
    gen = seed_everything(seed)
    net = dense_classifier(in_channels=1, width=cfg["width"], depth=cfg["depth"], prior=arm["prior"],
                           hidden_std=None).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=cfg["lr"], momentum=0.9)
    out = {"diverged": 0.0}
    for it in range(cfg["iters"]):
        idx = torch.randint(len(Xtr), (cfg["batch_size"],), generator=gen)
        x, y = Xtr[idx].to(device), Ytr[idx].to(device)
        per = focal_loss(net(x), y, alpha=arm["alpha"], gamma=arm["gamma"], reduction="none")
        loss = per.sum() / y.sum().clamp_min(1)
        if it == 0:
            out["first_loss"] = loss.item()
            out["first_background_share"] = (per[y == 0].sum() / per.sum()).item()
        if not math.isfinite(loss.item()):
            out["diverged"] = 1.0
            break
        opt.zero_grad()
        loss.backward()
        opt.step()

    @torch.no_grad()
    def ap(X, Y):
        scores = torch.cat([torch.sigmoid(net(X[i:i + 64].to(device))).cpu() for i in range(0, len(X), 64)])
        return float(average_precision_score(Y.flatten().numpy(), torch.nan_to_num(scores, nan=0.0).flatten().numpy()))

    return out | {"ap_val": ap(Xva, Yva), "ap_test": ap(Xte, Yte)}


def pick_on_validation(runs: dict, names: list[str]) -> tuple[str, float]:
    """The arm among `names` with the best validation AP (ties: the first), and its test AP."""
    best = max(names, key=lambda n: runs[n]["ap_val"])
    return best, runs[best]["ap_test"]


# ------------------------------------------------------------------------- full profile: RetinaNet on COCO (Table 1)
def coco_instances(root: Path, split: str):
    """COCO's detection annotations of `split` and its image folder (train2017 plays the paper's trainval35k)."""
    return load_coco(root, "instances", split, paper="focal_loss")


class CocoBoxes(torch.utils.data.Dataset):
    """(image in [0, 1], {"boxes": x1 y1 x2 y2, "labels": 0..79}); crowd boxes are left out (torchvision's RetinaNet
    has no ignore regions). Training: images with at least one box, and Sec. 5.1's "Horizontal image flipping is the
    only data augmentation". RetinaNet's own transform resizes (shorter side `min_size`) and normalises."""

    def __init__(self, coco, images: Path, train: bool):
        self.coco, self.images, self.train = coco, images, train
        self.categories = sorted(coco.getCatIds())
        self.label = {c: i for i, c in enumerate(self.categories)}
        ids = sorted(coco.getImgIds())
        self.ids = [i for i in ids if self._annotations(i)] if train else ids

    def _annotations(self, image_id: int) -> list[dict]:
        return [a for a in self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id, iscrowd=False))
                if a["bbox"][2] >= 1 and a["bbox"][3] >= 1]

    def _boxes(self, image_id: int):
        anns = self._annotations(image_id)
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)],
                             dtype=torch.float32).reshape(-1, 4)
        return boxes, torch.tensor([self.label[a["category_id"]] for a in anns], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        from PIL import Image

        image_id = self.ids[i]
        with Image.open(self.images / self.coco.imgs[image_id]["file_name"]) as im:
            x = torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1).float() / 255
        boxes, labels = self._boxes(image_id)
        if self.train and torch.rand(()).item() < 0.5:
            x = x.flip(-1)
            boxes = torch.stack([x.shape[-1] - boxes[:, 2], boxes[:, 1], x.shape[-1] - boxes[:, 0], boxes[:, 3]], 1)
        return x, {"boxes": boxes, "labels": labels, "image_id": image_id}


def _as_list(batch):
    return tuple(zip(*batch))


def train_retinanet(arm: dict, seed: int, cfg: dict, data: CocoBoxes, device: str, show: bool) -> torch.nn.Module:
    """Sec. 4.1 ("Optimization"): SGD, momentum 0.9, weight decay 1e-4, lr 0.01 on 16 images per minibatch for 90k
    iterations, divided by 10 at 60k and 80k (with Detectron's linear warm-up). `arm` sets the loss (gamma, alpha,
    or ohem), the backbone depth and, for Table 2, the scales and schedule (its keys override cfg's coco_*).
    Under torchrun each rank takes its share of the minibatch and DDP averages the gradients."""
    import torch.distributed as dist

    cfg = cfg | {f"coco_{k}": v for k, v in arm.items() if k not in ("gamma", "alpha", "depth", "ohem")}
    torch.manual_seed(seed)
    try:
        model = retinanet(gamma=arm.get("gamma", 2.0), alpha=arm.get("alpha", 0.25), num_classes=len(data.categories),
                          imagenet_backbone=cfg["coco_imagenet_backbone"], min_size=cfg["coco_min_size"],
                          max_size=cfg["coco_max_size"], depth=arm.get("depth", 50), ohem=arm.get("ohem")).to(device)
    except (OSError, RuntimeError) as e:  # the ImageNet weights could not be downloaded
        raise DataUnavailable(f"could not load torchvision's ImageNet ResNet-50 weights ({type(e).__name__}: {e}); "
                              f"the full profile downloads them once into torch's hub cache") from e
    distributed = dist.is_available() and dist.is_initialized()
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    world = dist.get_world_size() if distributed else 1
    gen = torch.Generator().manual_seed(seed)
    sampler = (torch.utils.data.DistributedSampler(data, seed=seed) if distributed
               else torch.utils.data.RandomSampler(data, generator=gen))
    loader = torch.utils.data.DataLoader(data, batch_size=cfg["coco_batch_size"] // world, sampler=sampler,
                                         num_workers=cfg["coco_workers"], collate_fn=_as_list, drop_last=True,
                                         generator=gen, persistent_workers=cfg["coco_workers"] > 0)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg["coco_lr"], momentum=0.9, weight_decay=1e-4)
    steps, warm = cfg["coco_lr_steps"], cfg["coco_warmup"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (min(1.0, 1 / 3 + (2 / 3) * it / warm) if warm else 1.0)
                                              * 0.1 ** sum(it >= s for s in steps))
    def epochs():  # the loader over and over (set_epoch reshuffles each rank's share)
        for epoch in itertools.count():
            if distributed:
                sampler.set_epoch(epoch)
            yield from loader

    net.train()
    steps_bar = progress(range(cfg["coco_iterations"]), desc=f"coco {arm} seed {seed}", enabled=show)
    for _, (images, targets) in zip(steps_bar, epochs()):
        losses = net([x.to(device) for x in images],
                     [{k: v.to(device) for k, v in t.items() if k != "image_id"} for t in targets])
        total = losses["classification"] + losses["bbox_regression"]
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        sched.step()
    return model


@torch.no_grad()
def coco_box_ap(model: torch.nn.Module, data: CocoBoxes, cfg: dict, device: str, *, labels_are_coco_ids: bool = False
                ) -> float:
    """COCO's box AP (the mean over IoU 0.50:0.05:0.95) of the model's detections, by pycocotools (Sec. 5).
    labels_are_coco_ids: the model's labels are COCO's category ids (torchvision's COCO weights), not 0..79."""
    model.eval()
    loader = torch.utils.data.DataLoader(data, batch_size=max(1, cfg["coco_batch_size"] // 2),
                                         num_workers=cfg["coco_workers"], collate_fn=_as_list)
    results = []
    for images, targets in loader:
        for out, t in zip(model([x.to(device) for x in images]), targets):
            for (x1, y1, x2, y2), s, c in zip(out["boxes"].tolist(), out["scores"].tolist(), out["labels"].tolist()):
                results.append({"image_id": t["image_id"], "score": round(s, 4),
                                "category_id": c if labels_are_coco_ids else data.categories[c],
                                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]})
    return coco_ap(data.coco, results, "bbox")


def measure_coco(cfg: dict, run) -> tuple[dict, dict]:
    root = coco_root(cfg)
    val = CocoBoxes(*coco_instances(root, "val"), train=False)
    train = CocoBoxes(*coco_instances(root, "train"), train=True)
    seeds = run.seeds(cfg["coco_seeds"])
    ap = {name: [coco_box_ap(train_retinanet(arm, s, cfg, train, run.device, run.show_progress), val, cfg, run.device)
                 for s in seeds] for name, arm in cfg["coco_arms"].items()}
    for name, v in ap.items():
        log(f"  COCO val box AP {name}: {v}")
    metrics = {f"coco_ap_{name}": v for name, v in ap.items()}
    diff = lambda a, b: [x - y for x, y in zip(ap[a], ap[b])]
    if {"focal", "alpha_ce"} <= set(ap):
        metrics["coco_ap_focal_minus_alpha_ce"] = diff("focal", "alpha_ce")
    gammas = [n for n in ap if n == "focal" or n.startswith("focal_gamma")]
    if "alpha_ce" in ap and gammas:  # Table 1b: every gamma in [0.5, 5] against the best alpha-CE
        metrics["coco_ap_worst_gamma_minus_alpha_ce"] = [min(ap[g][i] for g in gammas) - ap["alpha_ce"][i]
                                                         for i in range(len(seeds))]
    if {"r101_focal", "r101_ohem"} <= set(ap):
        metrics["coco_ap_r101_focal_minus_ohem"] = diff("r101_focal", "r101_ohem")
    if cfg.get("coco_reeval_torchvision", True):
        metrics |= reeval_torchvision_retinanet(cfg, val, run.device)
    setting = {"coco": f"COCO 2017 under {root}: RetinaNet FPN (torchvision's, classification loss per arm "
                       f"{cfg['coco_arms']}), backbone "
                       f"{'ImageNet (torchvision)' if cfg['coco_imagenet_backbone'] else 'from scratch'}; "
                       f"train2017 ({len(train)} images with boxes, crowds left out, horizontal flips) -> val2017 "
                       f"({len(val)} images), shorter side {cfg['coco_min_size']} (max {cfg['coco_max_size']}) unless "
                       f"the arm says; SGD lr {cfg['coco_lr']}, momentum 0.9, wd 1e-4, batch {cfg['coco_batch_size']}, "
                       f"{cfg['coco_iterations']} iterations, lr /10 at {cfg['coco_lr_steps']}, warm-up "
                       f"{cfg['coco_warmup']}; box AP by pycocotools; seeds {seeds}"}
    return metrics, setting


def torchvision_retinanet_metrics() -> dict:
    """torchvision's own re-training of RetinaNet R50-FPN (COCO_V1 weights): its published COCO val2017 box AP, read
    from the weights' metadata (nothing downloaded)."""
    r = torchvision_meta.retraining("retinanet_resnet50_fpn")
    return {"torchvision_retinanet_r50_fpn_box_ap": r.metrics["box_map"] / 100}


def reeval_torchvision_retinanet(cfg: dict, val: CocoBoxes, device: str, net: torch.nn.Module | None = None) -> dict:
    """Full profile: torchvision's COCO_V1 RetinaNet weights scored on val2017 by pycocotools, minus their own
    published box AP, so the metadata the cpu claim rests on is checked. The weights are downloaded once into torch's
    hub cache; `net` replaces them in tests."""
    from torchvision.models.detection import (
        RetinaNet_ResNet50_FPN_Weights,
        retinanet_resnet50_fpn,
    )

    weights = RetinaNet_ResNet50_FPN_Weights.COCO_V1
    if net is None:
        try:
            net = retinanet_resnet50_fpn(weights=weights)
        except Exception as e:
            raise DataUnavailable(f"could not load torchvision weights RetinaNet_ResNet50_FPN_Weights.COCO_V1 "
                                  f"({type(e).__name__}: {e}); the full profile downloads them once into torch's hub "
                                  f"cache") from e
    ap = coco_box_ap(net.to(device), val, cfg, device, labels_are_coco_ids=True)
    return {"coco_torchvision_retinanet_reeval_ap": ap,
            "coco_torchvision_retinanet_reeval_minus_published": ap - weights.meta["_metrics"]["COCO-val2017"]["box_map"] / 100}


def measure(cfg: dict, run) -> dict:
    # full: COCO first, so that missing data stops the stage before the small experiments run
    coco_metrics, coco_setting = measure_coco(cfg, run) if run.profile == "full" else ({}, {})
    (Xtr, ytr), (Xte, yte) = digits(test_fraction=0.4, split_seed=0, standardize=True, flatten=True)
    blob_data = tuple(blobs(n, cfg["image_size"], data_seed, cfg["noise"]) for n, data_seed in
                      ((cfg["train_images"], 10_000), (cfg["val_images"], 30_000), (cfg["test_images"], 20_000)))
    metrics = _exact() | torchvision_retinanet_metrics()
    seeds = run.seeds(cfg["seeds"])
    conc = map_seeds(functools.partial(concentration, cfg, (Xtr, ytr, Xte, yte)), seeds)
    names = list(cfg["dense_arms"])
    jobs = [(s, n) for s in seeds for n in names]
    outs = map_seeds(functools.partial(dense_arm, cfg, blob_data, run.device),
                     progress(jobs, total=len(jobs), desc="dense", enabled=run.show_progress), label="seed/arm")
    runs = [{n: o for (s2, n), o in zip(jobs, outs) if s2 == s} for s in seeds]
    ce = [n for n in names if n.startswith("alpha_ce")]
    fl = [n for n in names if n.startswith("focal")]
    picked = [(pick_on_validation(r, ce), pick_on_validation(r, fl)) for r in runs]
    fg = float(blob_data[2][1].mean())
    metrics |= {
        "neg_frac_half_loss_gamma2_over_gamma0": [c[0] for c in conc],
        "pos_frac_half_loss_gamma2_over_gamma0": [c[1] for c in conc],
        "pos_ratio_minus_neg_ratio": [c[1] - c[0] for c in conc],
        "concentration_model_ap_test": [c[2] for c in conc],
        **{f"ap_test_{n}": [r[n]["ap_test"] for r in runs] for n in names},
        **{f"ap_val_{n}": [r[n]["ap_val"] for r in runs] for n in names},
        **{f"diverged_{n}": [r[n]["diverged"] for r in runs] for n in names},
        "ap_test_best_alpha_ce_on_val": [c[1] for c, _ in picked],
        "ap_test_best_focal_on_val": [f[1] for _, f in picked],
        "ap_focal_minus_best_alpha_ce": [f[1] - c[1] for c, f in picked],
        "picked_alpha_ce_index": [float(ce.index(c[0])) for c, _ in picked],
        "picked_focal_index": [float(fl.index(f[0])) for _, f in picked],
        "foreground_fraction_test": fg,
        # Sec. 4.1 / 5.1: plain (alpha .5) CE from bias 0 (every anchor starts at p = .5) vs from the prior pi = .01
        "ce_bias0_first_iter_background_share": [r["ce_bias0"]["first_background_share"] for r in runs],
        "ce_first_iter_loss_bias0_over_prior": [r["ce_bias0"]["first_loss"] / r["alpha_ce_0.5"]["first_loss"]
                                                for r in runs],
        "ap_test_ce_prior_minus_bias0": [r["alpha_ce_0.5"]["ap_test"] - r["ce_bias0"]["ap_test"] for r in runs],
        "ce_bias0_failed": [float(r["ce_bias0"]["diverged"] or r["ce_bias0"]["ap_test"] < 10 * fg) for r in runs],
    }
    setting = {k: cfg[k] for k in ("image_size", "noise", "train_images", "val_images", "test_images", "width",
                                   "depth", "iters", "batch_size", "lr", "dense_arms", "positives", "logreg_steps")} | {
        "dense_task": f"blobs: 3x3 squares (positives: their centres) vs 1x3 bars, foreground 1:{1 / fg:.0f}",
        "dense_model": "dense_classifier (RetinaNet cls subnet), SGD momentum 0.9, loss / number of positives",
        "selection": "alpha-CE's alpha and FL's (gamma, alpha) picked per seed on the validation images, scored on test",
        "concentration": "sklearn digits 3-vs-rest, 60/40 split, logistic regression trained with FL",
        "torchvision": torchvision_meta.retraining("retinanet_resnet50_fpn").source} | coco_setting
    return {"seeds": seeds, "metrics": metrics | coco_metrics, "setting": setting}
