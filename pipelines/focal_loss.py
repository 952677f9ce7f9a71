"""Focal loss (Lin et al. 2017): the down-weighting factors and the prior initialisation exactly, where the loss
concentrates (Fig. 4), and FL vs alpha-balanced CE on a small, heavily imbalanced dense detection task.

The dense task ("blobs"): noisy images with 0-3 bright 3x3 squares (objects) and 0-3 bright 1x3 / 3x1 bars
(distractors of the same brightness); the positive "anchors" are the squares' centre pixels (~1 in 250-600
positions), every other position is background. A small RetinaNet-style head (3x3 convs) classifies every pixel;
pixel-level average precision on held-out images. full: the same task, bigger and longer, on a GPU, and Table 1's
COCO comparison: RetinaNet ResNet-50-FPN at 600 px trained with FL (gamma 2, alpha .25) and with alpha-CE (.75).
"""
from __future__ import annotations

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
from pipelines.shared.coco import coco_ap, coco_root, load_coco
from pipelines.shared.common import DataUnavailable, log, map_seeds, progress
from pipelines.shared.data import digits
from pipelines.shared.train import seed_everything

_CFG: dict = {}  # the stage's settings and data, read by the forked seed workers


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
    n_anchors = _retinanet_anchors()
    ce_half, ce_prior = _initial_ce(0.5, anchors=n_anchors), _initial_ce(0.01, anchors=n_anchors)
    with torch.no_grad():
        p0 = torch.sigmoid(net(torch.randn(4, 1, 32, 32))).mean().item()
    return {
        "ce_over_fl_at_pt_0p9": _ce_over_fl(0.9),
        "pt_where_ce_over_fl_is_1000": _pt_for_ratio(1000.0),
        "max_ce_over_fl_for_pt_le_0p5": max(_ce_over_fl(p) for p in grid),
        "fl_gamma0_minus_ce_max_abs": (focal_loss(logits, targets, alpha=-1, gamma=0.0, reduction="none") - ce)
        .abs().max().item(),
        "prior_bias_pi_0p01": prior_bias(0.01),
        "sigmoid_of_prior_bias": 1 / (1 + math.exp(-prior_bias(0.01))),
        "initial_foreground_prob_prior_init": p0,
        "neg_share_of_focal_loss_at_p_0p5": neg_share(0.5),
        "neg_share_of_focal_loss_at_p_prior": neg_share(0.01),
        # Sec. 4.1 / 5.1: plain CE in the first iteration of a COCO-sized head, without (p = .5) and with the prior
        "retinanet_anchors_800px": n_anchors,
        "ce_init_loss_per_positive_p_0p5": ce_half[0],
        "ce_init_loss_per_positive_p_prior": ce_prior[0],
        "ce_init_loss_p_0p5_over_prior": ce_half[0] / ce_prior[0],
        "ce_init_background_share_p_0p5": ce_half[1],
        "ce_init_background_share_p_prior": ce_prior[1],
    }


def _retinanet_anchors(image: int = 800, strides=(8, 16, 32, 64, 128), per_position: int = 9) -> int:
    """Anchors of RetinaNet on an 800-px image: pyramid levels P3-P7 (strides 8-128), A = 9 anchors per position
    (Sec. 4): 120,087, the paper's "~100k anchors" (Sec. 4.1)."""
    return sum(math.ceil(image / s) ** 2 for s in strides) * per_position


def _initial_ce(p: float, *, anchors: int, classes: int = 80, positives: int = 100) -> tuple[float, float]:
    """Plain CE (gamma 0, no alpha) of one image in the first iteration, every anchor and class predicted p
    (a sigmoid per anchor and class, Sec. 3.3): (total loss / positives, the background terms' share of it).
    The loss of one term of each kind comes from the implementation; the counts multiply it."""
    logit = torch.full((2,), math.log(p / (1 - p)), dtype=torch.float64)
    pos_term, neg_term = focal_loss(logit, torch.tensor([1.0, 0.0], dtype=torch.float64), alpha=-1, gamma=0.0,
                                    reduction="none").tolist()
    background = (anchors * classes - positives) * neg_term
    total = background + positives * pos_term
    return total / positives, background / total


# ----------------------------------------------------------------------------- loss concentration (Fig. 4)
def _fraction_for_half(losses: torch.Tensor) -> float:
    """The smallest fraction of the examples (the hardest first) that carries half of the summed loss."""
    s = losses.sort(descending=True).values.cumsum(0)
    return (int((s < 0.5 * s[-1]).sum()) + 1) / len(losses)


def _concentration(seed: int) -> tuple[float, float]:
    """Digits "3 vs rest" with `positives` threes in training (~1:100), a logistic regression trained with FL
    (gamma 2, alpha .25, prior init) as the paper trains its model; on the held-out digits, the fraction of the
    hardest negatives (and positives) that carries half of their loss under gamma = 2 over that under gamma = 0."""
    cfg = _CFG["cfg"]
    Xtr, ytr, Xte, yte = _CFG["digits"]
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
    return frac[2.0][0] / frac[0.0][0], frac[2.0][1] / frac[0.0][1]


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


def _dense(arm: tuple[int, str, float, float]) -> float:
    """Train the head with one loss (gamma, alpha); pixel AP on the test images. Loss: sum over all anchors
    divided by the number of positive anchors (Sec. 4.1); prior init for every loss, as for CE in Table 1."""
    seed, _, gamma, alpha = arm
    cfg, device = _CFG["cfg"], _CFG["device"]
    (Xtr, Ytr), (Xte, Yte) = _CFG["blobs"]
    gen = seed_everything(seed)
    net = dense_classifier(in_channels=1, width=cfg["width"], depth=cfg["depth"], prior=0.01, hidden_std=None).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    for _ in range(cfg["iters"]):
        idx = torch.randint(len(Xtr), (cfg["batch_size"],), generator=gen)
        x, y = Xtr[idx].to(device), Ytr[idx].to(device)
        loss = focal_loss(net(x), y, alpha=alpha, gamma=gamma) / y.sum().clamp_min(1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        scores = torch.cat([torch.sigmoid(net(Xte[i:i + 64].to(device))).cpu() for i in range(0, len(Xte), 64)])
    scores = torch.nan_to_num(scores, nan=0.0)
    return float(average_precision_score(Yte.flatten().numpy(), scores.flatten().numpy()))


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


def train_retinanet(loss: dict, seed: int, cfg: dict, data: CocoBoxes, device: str, show: bool) -> torch.nn.Module:
    """Sec. 4.1 ("Optimization"): SGD, momentum 0.9, weight decay 1e-4, lr 0.01 on 16 images per minibatch for 90k
    iterations, divided by 10 at 60k and 80k (with Detectron's linear warm-up). Under torchrun each rank takes its
    share of the minibatch and DDP averages the gradients."""
    import torch.distributed as dist

    torch.manual_seed(seed)
    try:
        model = retinanet(gamma=loss["gamma"], alpha=loss["alpha"], num_classes=len(data.categories),
                          imagenet_backbone=cfg["coco_imagenet_backbone"], min_size=cfg["coco_min_size"],
                          max_size=cfg["coco_max_size"]).to(device)
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
    steps_bar = progress(range(cfg["coco_iterations"]), desc=f"coco {loss} seed {seed}", enabled=show)
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
def coco_box_ap(model: torch.nn.Module, data: CocoBoxes, cfg: dict, device: str) -> float:
    """COCO's box AP (the mean over IoU 0.50:0.05:0.95) of the model's detections, by pycocotools (Sec. 5)."""
    model.eval()
    loader = torch.utils.data.DataLoader(data, batch_size=max(1, cfg["coco_batch_size"] // 2),
                                         num_workers=cfg["coco_workers"], collate_fn=_as_list)
    results = []
    for images, targets in loader:
        for out, t in zip(model([x.to(device) for x in images]), targets):
            for (x1, y1, x2, y2), s, c in zip(out["boxes"].tolist(), out["scores"].tolist(), out["labels"].tolist()):
                results.append({"image_id": t["image_id"], "category_id": data.categories[c], "score": round(s, 4),
                                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]})
    return coco_ap(data.coco, results, "bbox")


def measure_coco(cfg: dict, run) -> tuple[dict, dict]:
    root = coco_root(cfg)
    train = CocoBoxes(*coco_instances(root, "train"), train=True)
    val = CocoBoxes(*coco_instances(root, "val"), train=False)
    seeds = run.seeds(cfg["coco_seeds"])
    ap = {name: [coco_box_ap(train_retinanet(loss, s, cfg, train, run.device, run.show_progress), val, cfg, run.device)
                 for s in seeds] for name, loss in cfg["coco_losses"].items()}
    for name, v in ap.items():
        log(f"  COCO val box AP {name}: {v}")
    metrics = {f"coco_ap_{name}": v for name, v in ap.items()}
    if {"focal", "alpha_ce"} <= set(ap):
        metrics["coco_ap_focal_minus_alpha_ce"] = [f - c for f, c in zip(ap["focal"], ap["alpha_ce"])]
    setting = {"coco": f"COCO 2017 under {root}: RetinaNet ResNet-50-FPN (torchvision's, classification loss "
                       f"FL(gamma, alpha) per arm {cfg['coco_losses']}), backbone "
                       f"{'ImageNet (torchvision)' if cfg['coco_imagenet_backbone'] else 'from scratch'}; "
                       f"train2017 ({len(train)} images with boxes, crowds left out, horizontal flips) -> val2017 "
                       f"({len(val)} images), shorter side {cfg['coco_min_size']} (max {cfg['coco_max_size']}); SGD "
                       f"lr {cfg['coco_lr']}, momentum 0.9, wd 1e-4, batch {cfg['coco_batch_size']}, "
                       f"{cfg['coco_iterations']} iterations, lr /10 at {cfg['coco_lr_steps']}, warm-up "
                       f"{cfg['coco_warmup']}; box AP by pycocotools; seeds {seeds}"}
    return metrics, setting


def measure(cfg: dict, run) -> dict:
    # full: COCO first, so that missing data stops the stage before the small experiments run
    coco_metrics, coco_setting = measure_coco(cfg, run) if run.profile == "full" else ({}, {})
    (Xtr, ytr), (Xte, yte) = digits(test_fraction=0.4, split_seed=0, standardize=True, flatten=True)
    blob_data = (blobs(cfg["train_images"], cfg["image_size"], 10_000, cfg["noise"]),
                 blobs(cfg["test_images"], cfg["image_size"], 20_000, cfg["noise"]))
    _CFG.update(cfg=cfg, device=run.device, digits=(Xtr, ytr, Xte, yte), blobs=blob_data)
    metrics = _exact()
    seeds = run.seeds(cfg["seeds"])
    conc = map_seeds(_concentration, seeds)
    losses = {f"alpha_ce_{a:g}": (0.0, a) for a in cfg["ce_alphas"]} | {"focal": (cfg["gamma"], cfg["alpha"])}
    arms = [(s, name, g, a) for s in seeds for name, (g, a) in losses.items()]
    aps = dict(zip(arms, map_seeds(_dense, progress(arms, total=len(arms), desc="dense", enabled=run.show_progress),
                                   label="arm")))
    ap = {name: [aps[(s, name, *losses[name])] for s in seeds] for name in losses}
    best_ce = [max(ap[f"alpha_ce_{a:g}"][i] for a in cfg["ce_alphas"]) for i in range(len(seeds))]
    fg = float(blob_data[1][1].mean())
    metrics |= {
        "neg_frac_half_loss_gamma2_over_gamma0": [c[0] for c in conc],
        "pos_frac_half_loss_gamma2_over_gamma0": [c[1] for c in conc],
        "pos_ratio_minus_neg_ratio": [c[1] - c[0] for c in conc],
        **{f"ap_{name}": v for name, v in ap.items()},
        "ap_focal_minus_best_alpha_ce": [f - b for f, b in zip(ap["focal"], best_ce)],
        "foreground_fraction_test": fg,
    }
    setting = {k: cfg[k] for k in ("image_size", "noise", "train_images", "test_images", "width", "depth", "iters",
                                   "batch_size", "lr", "ce_alphas", "gamma", "alpha", "positives", "logreg_steps")} | {
        "dense_task": f"blobs: 3x3 squares (positives: their centres) vs 1x3 bars, foreground 1:{1 / fg:.0f}",
        "dense_model": "dense_classifier (RetinaNet cls subnet), prior init pi=0.01, Adam",
        "concentration": "sklearn digits 3-vs-rest, 60/40 split, logistic regression trained with FL"} | coco_setting
    return {"seeds": seeds, "metrics": metrics | coco_metrics, "setting": setting}
