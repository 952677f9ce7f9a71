"""VGG: Table 2's parameter counts of configurations A-E and Sec. 2.3's 3x3-stack argument (exact, meta device); on
sklearn's digits, LRN vs none (A-LRN vs A) and deep 3x3 pairs vs single 5x5 (B vs shallow B, Sec. 4.1); torchvision's
re-trainings of A, B, D, E (and their batch-normalised variants) from offline metadata.
Full profile: ImageNet top-1/top-5 of A, B, D, E at a single scale (Table 3's depth trend), D trained with scale
jittering and evaluated densely at three scales (Table 4), and a re-evaluation of torchvision's weights.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
import torchvision
from torch import nn

from implementations.vgg import conv_stack, fully_convolutional, vgg
from pipelines.shared.common import DataUnavailable, map_seeds
from pipelines.shared.data import digits, image_folder
from pipelines.shared.imagenet import TO_TENSOR, imagenet_top1_top5, loader, train
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.shared.torchvision_meta import evaluate_classification, params_gap, retraining
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything

ARMS = ("A", "A-LRN", "B", "B-shallow")
# torchvision's builders of Table 1's configurations A, B, D, E (no A-LRN, no C)
TORCHVISION = {"A": "vgg11", "B": "vgg13", "D": "vgg16", "E": "vgg19"}


# ------------------------------------------------------------------------------------------- structure
def receptive_field(stack: torch.nn.Module, channels: int, size: int = 31) -> int:
    """Side of the input region that can change the centre output: the support of d out[centre] / d input."""
    torch.manual_seed(0)
    x = torch.randn(1, channels, size, size, requires_grad=True)
    with torch.no_grad():  # positive weights: no cancellation can hide a connection
        for p in stack.parameters():
            p.abs_()
    stack(x)[0, :, size // 2, size // 2].sum().backward()
    rows = x.grad.abs().sum((0, 1)).ne(0).any(1)
    return int(rows.sum())


def structure() -> dict:
    m = {f"param_millions_vgg_{c}": count_params(on_meta(lambda: vgg(config=c))) / 1e6
         for c in ("A", "A-LRN", "B", "C", "D", "E")}
    m["param_count_vgg_D"] = count_params(on_meta(lambda: vgg(config="D")))
    m["param_count_torchvision_vgg16"] = count_params(on_meta(lambda: torchvision.models.vgg16(weights=None)))
    m["macs_vgg_D"] = count_macs(on_meta(lambda: vgg(config="D")), (3, 224, 224))
    m["conv_layers_vgg_A"] = sum(isinstance(x, torch.nn.Conv2d) for x in on_meta(lambda: vgg(config="A")).modules())
    m["weight_layers_vgg_E"] = sum(isinstance(x, (torch.nn.Conv2d, torch.nn.Linear)) for x in on_meta(lambda: vgg(config="E")).modules())
    C = 64
    three_3x3, one_7x7 = count_params(conv_stack(C, kernel=3, depth=3)), count_params(conv_stack(C, kernel=7, depth=1))
    m["params_three_3x3_over_C2"] = three_3x3 / C ** 2
    m["params_one_7x7_over_C2"] = one_7x7 / C ** 2
    m["extra_params_7x7_over_three_3x3"] = one_7x7 / three_3x3 - 1
    m["receptive_field_three_3x3"] = receptive_field(conv_stack(4, kernel=3, depth=3), 4)
    m["receptive_field_two_3x3"] = receptive_field(conv_stack(4, kernel=3, depth=2), 4)
    return m


def torchvision_evidence() -> dict:
    """torchvision's re-trainings of A, B, D, E, plain and with batch normalisation (offline metadata): top-1/top-5
    error on ImageNet-1K val (one 224 crop), and the depth trend of Table 3 in top-1 error (A-D, A-E, D-E)."""
    m = {}
    for bn in ("", "_bn"):
        for cfg, name in TORCHVISION.items():
            r = retraining(name + bn)
            m[f"torchvision_{name}{bn}_top1_error"] = 1 - r.metrics["acc@1"] / 100
            m[f"torchvision_{name}{bn}_top5_error"] = 1 - r.metrics["acc@5"] / 100
            m[f"torchvision_{name}{bn}_params_minus_ours"] = params_gap(r, lambda: vgg(config=cfg, batch_norm=bn == "_bn"))
        err = {c: m[f"torchvision_{n}{bn}_top1_error"] for c, n in TORCHVISION.items()}
        m.update(depth_trend(err, f"torchvision{bn}"))
    return m


def depth_trend(top1_error: dict, prefix: str) -> dict:
    """Table 3's trend: the error falls from A (11 layers) to D and E (16, 19), and saturates from D to E."""
    e = top1_error
    return {f"{prefix}_top1_error_A_minus_D": e["A"] - e["D"], f"{prefix}_top1_error_A_minus_E": e["A"] - e["E"],
            f"{prefix}_top1_error_D_minus_E": e["D"] - e["E"]}


# ------------------------------------------------------------------------------------------- digits (cpu)
def paper_preprocessing(Xtr: torch.Tensor, Xte: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sec. 2.1: "The only pre-processing we do is subtracting the mean RGB value, computed on the training set, from
    each pixel", on the 0-255 pixel scale the paper's images have (digits' [0, 1] pixels times 255; one channel)."""
    Xtr, Xte = Xtr * 255, Xte * 255
    mean = Xtr.mean()
    return Xtr - mean, Xte - mean


def mini(cfg: dict, config: str) -> nn.Module:
    """The first `stages` stages of a Table 1 configuration, channels scaled, FC fc_width-fc_width-10 (Glorot init)."""
    alpha = 1e-4 * cfg.get("lrn_alpha_scale", 1.0)  # != 1 only for the broken-LRN check (never at cpu)
    return vgg(config=config, num_classes=10, in_channels=1, width=cfg["width"], stages=cfg["stages"],
               fc_width=cfg["fc_width"], pool_size=1, lrn_alpha=alpha)


@torch.no_grad()
def lrn_divisive_excess(model: nn.Module, X: torch.Tensor) -> float:
    """How far the trained net's LRN is from a constant scaling: the mean, over positive inputs a of the LRN, of
    divisor / k^beta - 1, where divisor = (k + alpha/n sum a^2)^beta = a / LRN(a). 0 when LRN only rescales by k^-beta
    (inputs too small for the normalisation term to matter): then LRN cannot act, and "does not help" says nothing."""
    lrn = next(m for m in model.modules() if isinstance(m, nn.LocalResponseNorm))
    seen = []
    hook = lrn.register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out)))
    model.eval()
    model(X)
    hook.remove()
    a, b = seen[0]
    pos = a > 1e-6
    return float(((a[pos] / b[pos]) / lrn.k ** lrn.beta - 1).mean())


def train_arm(cfg: dict, job: tuple) -> dict:
    """One arm on digits (split seeded by the seed), the paper's recipe scaled down: SGD momentum 0.9, weight decay
    5e-4, dropout 0.5 in the FC layers, Glorot initialisation. The LRN pair (A, A-LRN) sees the paper's
    mean-subtracted 0-255 pixels (LRN's normalisation term needs activations of that scale to act); the depth pair (B,
    B-shallow) sees standardised pixels (unnormalised 5x5 layers on 0-255 pixels got stuck on some seeds)."""
    config, seed = job
    exp = "lrn" if config in ("A", "A-LRN") else "depth"
    (Xtr, ytr), (Xte, yte) = digits(split_seed=seed, standardize=exp == "depth")
    if exp == "lrn":
        Xtr, Xte = paper_preprocessing(Xtr, Xte)
    seed_everything(seed)
    model = mini(cfg, config)
    opt = make_optimizer(model.parameters(), lr=cfg[f"lr_{exp}"], momentum=0.9, weight_decay=cfg["weight_decay"])
    fit(model, Xtr, ytr, epochs=cfg[f"epochs_{exp}"], batch_size=cfg["batch_size"], seed=seed, optimizer=opt)
    out = {"test_acc": accuracy(model, Xte, yte), "train_acc": accuracy(model, Xtr, ytr)}
    if config == "A-LRN":
        out["lrn_excess"] = lrn_divisive_excess(model, Xte)
    return out


def measure(cfg: dict, run) -> dict:
    metrics = {**structure(), **torchvision_evidence()}
    if run.profile == "full":
        return measure_full(cfg, run, metrics)
    seeds, depth_seeds = run.seeds(cfg["seeds"]), run.seeds(cfg["seeds_depth"])
    jobs = [(a, s) for a in ("A", "A-LRN") for s in seeds] + [(a, s) for a in ("B", "B-shallow") for s in depth_seeds]
    out = dict(zip(jobs, map_seeds(functools.partial(train_arm, cfg), jobs, label="arm/seed")))
    res = {a: [out[(a, s)] for s in (seeds if a in ("A", "A-LRN") else depth_seeds)] for a in ARMS}
    for arm in ARMS:
        metrics[f"test_acc_{arm}"] = [r["test_acc"] for r in res[arm]]
        metrics[f"train_acc_{arm}"] = [r["train_acc"] for r in res[arm]]
    metrics["test_acc_lrn_minus_plain"] = [a["test_acc"] - b["test_acc"] for a, b in zip(res["A-LRN"], res["A"])]
    metrics["lrn_divisive_excess"] = [r["lrn_excess"] for r in res["A-LRN"]]
    metrics["test_acc_deep_3x3_minus_shallow_5x5"] = [
        a["test_acc"] - b["test_acc"] for a, b in zip(res["B"], res["B-shallow"])]
    setting = {
        "structure": "Table 1 configurations built on the meta device at 224x224 (FC 4096-4096-1000)",
        "torchvision": "; ".join(retraining(n + bn).source for bn in ("", "_bn") for n in TORCHVISION.values()),
        "data": "sklearn digits 8x8, 1,258 train / 539 test, split seeded by the seed",
        "models": f"first {cfg['stages']} stages of A, A-LRN (k=2, n=5, alpha=1e-4 x {cfg.get('lrn_alpha_scale', 1.0)}, "
                  f"beta=0.75), B and B-shallow (each 3x3 pair -> one 5x5), channels x{cfg['width']}, FC "
                  f"{cfg['fc_width']}-{cfg['fc_width']}-10, dropout 0.5, Glorot init",
        "lrn": f"A vs A-LRN on 0-255 pixels minus the training mean (Sec. 2.1); SGD momentum 0.9, lr {cfg['lr_lrn']}, "
               f"weight decay {cfg['weight_decay']}, batch {cfg['batch_size']}, {cfg['epochs_lrn']} epochs; seeds {seeds}",
        "depth": f"B vs B-shallow on standardised pixels; SGD momentum 0.9, lr {cfg['lr_depth']}, weight decay "
                 f"{cfg['weight_decay']}, batch {cfg['batch_size']}, {cfg['epochs_depth']} epochs; seeds {depth_seeds}",
    }
    return {"seeds": depth_seeds if len(depth_seeds) > len(seeds) else seeds, "metrics": metrics, "setting": setting}


# ------------------------------------------------------------------------------------------- full profile
def _imagenet_root(cfg: dict) -> Path:
    root = cfg.get("data_dir") or os.environ.get("IMAGENET_DIR")
    if not root:
        raise DataUnavailable("no ImageNet folder: set IMAGENET_DIR (or vgg's `data_dir` in params.yaml) to a folder "
                              "holding train/<class>/<image> and val/<class>/<image>")
    return Path(root)


def train_scale_jittered(model: nn.Module, cfg: dict, run) -> nn.Module:
    """Sec. 3.1 multi-scale training: each image rescaled so that its smallest side S is drawn from [S_min, S_max],
    a random 224x224 crop, random horizontal flip; SGD with the step schedule of the single-scale runs."""
    from torchvision.transforms import v2

    lo, hi = cfg["jitter"]
    tf = v2.Compose([v2.RandomShortestSize(list(range(lo, hi + 1))), v2.RandomCrop(224), v2.RandomHorizontalFlip(),
                     *TO_TENSOR])
    data = image_folder(_imagenet_root(cfg) / "train", transform=tf)
    model.to(run.device)
    opt = make_optimizer(model.parameters(), lr=cfg["lr"], momentum=cfg.get("momentum", 0.9),
                         weight_decay=cfg.get("weight_decay", 5e-4))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg["lr_step_epochs"], gamma=cfg.get("lr_gamma", 0.1))
    train(model, loader(data, cfg, run, train=True), run, epochs=cfg["epochs"], optimizer=opt, scheduler=sched,
          scheduler_per="epoch", loss_fn=nn.functional.cross_entropy)
    return model


@torch.no_grad()
def dense_multiscale_errors(model: nn.Module, cfg: dict, run, scales: list[int]) -> dict:
    """Sec. 3.2 / 4.2: the fully-convolutional net on each whole val image rescaled to smallest side Q, and on its
    horizontal flip; the class posteriors averaged over flips and scales Q (Table 4). Top-1/top-5 error."""
    from torchvision.transforms import v2

    net = fully_convolutional(model).to(run.device).eval()
    total, labels = None, None
    for q in scales:
        data = image_folder(_imagenet_root(cfg) / "val", transform=v2.Compose([v2.Resize(q), *TO_TENSOR]))
        batches = torch.utils.data.DataLoader(data, batch_size=1, num_workers=cfg.get("workers", 8))  # sizes differ
        probs, ys = [], []
        for x, y in batches:
            x = x.to(run.device)
            probs.append((net(x).softmax(1) + net(x.flip(-1)).softmax(1)).cpu())
            ys.append(y)
        probs, labels = torch.cat(probs), torch.cat(ys)
        total = probs if total is None else total + probs
    top = total.topk(min(5, total.shape[1]), dim=1).indices
    return {"top1_error": 1 - (top[:, 0] == labels).float().mean().item(),
            "top5_error": 1 - (top == labels[:, None]).any(1).float().mean().item()}


def reevaluate_torchvision(cfg: dict, run, names: list[str]) -> dict:
    """torchvision's weights on the val folder with their own preprocessing: acc@1 / acc@5 minus the published ones
    (points), per weights and the largest deviation."""
    val = cfg.get("torchvision_val_dir") or str(_imagenet_root(cfg["imagenet"]) / "val")
    m = {}
    for name in names:
        r = retraining(name)
        got = evaluate_classification(name, None, val, run.device, batch_size=cfg["imagenet"].get("batch_size", 128),
                                      workers=cfg["imagenet"].get("workers", 8))
        for k in ("acc@1", "acc@5"):
            m[f"torchvision_{name}_reeval_{k.replace('@', '')}_minus_published"] = got[k] - r.metrics[k]
    for k in ("acc1", "acc5"):
        m[f"torchvision_vgg_reeval_{k}_max_abs_deviation"] = max(abs(v) for n, v in m.items() if n.endswith(f"_{k}_minus_published"))
    return m


def measure_full(cfg: dict, run, metrics: dict) -> dict:
    """ImageNet: A, B, D, E and B-shallow with the single-scale recipe (one seed each; weeks of GPU time each), D with
    scale jittering and dense multi-scale evaluation, and torchvision's eight weights re-evaluated."""
    metrics.update(reevaluate_torchvision(cfg, run, [n + bn for bn in ("", "_bn") for n in TORCHVISION.values()]))
    seed = cfg["seed_imagenet"]
    err = {}
    for config in cfg["configs_imagenet"]:
        seed_everything(seed)
        res = imagenet_top1_top5(vgg(config=config), cfg["imagenet"], run)
        err[config] = res
        metrics.update({f"imagenet_{k}_vgg_{config}": v for k, v in res.items()})
    metrics.update(depth_trend({c: r["top1_error"] for c, r in err.items()}, "imagenet"))
    if "B" in err and "B-shallow" in err:  # Sec. 4.1: each pair of 3x3 layers of B replaced by one 5x5
        metrics["imagenet_top1_error_shallow_minus_B"] = err["B-shallow"]["top1_error"] - err["B"]["top1_error"]
    seed_everything(seed)
    model = train_scale_jittered(vgg(config="D"), cfg["imagenet_jitter"], run)
    res = dense_multiscale_errors(model, cfg["imagenet_jitter"], run, cfg["test_scales"])
    metrics.update({f"imagenet_multiscale_{k}_vgg_D": v for k, v in res.items()})
    setting = {"data": "ImageNet ILSVRC-2012 train/val folders", "recipe": cfg["imagenet"],
               "models": f"configurations {cfg['configs_imagenet']}, seed {seed}; D trained with S in "
                         f"{cfg['imagenet_jitter']['jitter']}, dense evaluation at Q in {cfg['test_scales']} + flips",
               "torchvision": "; ".join(retraining(n + bn).source for bn in ("", "_bn") for n in TORCHVISION.values())}
    return {"seeds": [seed], "metrics": metrics, "setting": setting}
