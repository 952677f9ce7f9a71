"""DeepLab: atrous field of view and Table 1's parameter counts (exact), and the fully connected CRF on top of a
stride-8 score map on generated multi-class scenes (mean IoU before / after the CRF). full: also DeepLab-LargeFOV
and DeepLab-ASPP-L (VGG-16, ImageNet initialisation) trained on PASCAL VOC 2012 train and scored on VOC 2012 val
(mean IoU before the CRF, Table 3)."""
from __future__ import annotations

import functools
import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from implementations.deeplab import atrous_kernel_size, deeplab_vgg16, dense_crf  # noqa: E402
from pipelines.shared.common import map_seeds, progress  # noqa: E402
from pipelines.shared.structural import count_macs, count_params, on_meta  # noqa: E402
from pipelines.shared.data import DATA_ROOT, DataUnavailable, touching_discs  # noqa: E402

def impulse_support(k: int, rate: int) -> int:
    """Width of the response of a k x k all-ones atrous filter to a single impulse: the filter's true extent."""
    conv = nn.Conv2d(1, 1, k, dilation=rate, padding=rate * (k - 1) // 2, bias=False)
    nn.init.ones_(conv.weight)
    x = torch.zeros(1, 1, 101, 101)
    x[0, 0, 50, 50] = 1.0
    with torch.no_grad():
        row = conv(x)[0, 0, 50]
    hit = torch.nonzero(row).flatten()
    return int(hit.max() - hit.min() + 1)


TABLE1 = {"7x7_r4": dict(kernel=7, rate=4, width=4096), "4x4_r4": dict(kernel=4, rate=4, width=4096),
          "4x4_r8": dict(kernel=4, rate=8, width=4096), "largefov": dict(kernel=3, rate=12, width=1024)}
TABLE1_FOV = {"7x7_r4": 224, "4x4_r4": 128, "4x4_r8": 224, "largefov": 224}  # Table 1's FOV column


def receptive_field(model: nn.Module) -> int:
    """Side of the input window that one output unit sees, walked through the built layers in order: each
    convolution or pooling with effective extent k_e = dilation (k - 1) + 1 adds (k_e - 1) x the current jump (the
    product of the strides so far). Here: DeepLab's stride-8 backbone followed by the fc6 convolution."""
    rf, jump = 1, 1
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k, d, st = (getattr(m, a) for a in ("kernel_size", "dilation", "stride"))
            k, d, st = (v[0] if isinstance(v, tuple) else v for v in (k, d, st))
            rf += d * (k - 1) * jump
            jump *= st
    return rf


def structural(rates: list[int], side: int) -> dict:
    m = {f"atrous_support_minus_formula_r{r}": impulse_support(3, r) - atrous_kernel_size(3, r) for r in rates}
    m["atrous_support_max_abs_error"] = max(abs(v) for v in m.values())
    m["atrous_support_r12"] = impulse_support(3, 12)
    models = {name: on_meta(lambda kw=kw: deeplab_vgg16(**kw)) for name, kw in TABLE1.items()}
    for name, model in models.items():
        m[f"param_count_{name}_millions"] = count_params(model) / 1e6
        # Table 1's FOV column against the built network: fc6's output unit on the image (backbone + fc6)
        m[f"receptive_field_{name}"] = receptive_field(nn.Sequential(model.backbone, model.head[0]))
    m["param_count_aspp_l_millions"] = count_params(on_meta(lambda: deeplab_vgg16(head="aspp"))) / 1e6
    base = "4x4_r4"
    m["fov_difference_error_max"] = max(abs((m[f"receptive_field_{n}"] - m[f"receptive_field_{base}"])
                                            - (TABLE1_FOV[n] - TABLE1_FOV[base])) for n in TABLE1)
    # multiply-adds (torch's FLOP counter) of the built networks on a side x side image (TPAMI's 321 crop)
    macs = {name: count_macs(model, (3, side, side)) for name, model in models.items()}
    m["mac_ratio_7x7_r4_over_largefov"] = macs["7x7_r4"] / macs["largefov"]
    # "without increasing the number of parameters or the amount of computation" (Sec. 3.1): the built LargeFOV
    # network (fc6 3x3, rate 12) against the same network with rate 1, and Table 1's 4x4 fc6 at rate 8 vs rate 4
    plain = on_meta(lambda: deeplab_vgg16(rate=1))
    m["atrous_param_ratio_largefov_r12_over_r1"] = count_params(models["largefov"]) / count_params(plain)
    m["atrous_mac_ratio_largefov_r12_over_r1"] = macs["largefov"] / count_macs(plain, (3, side, side))
    m["atrous_mac_ratio_4x4_r8_over_r4"] = macs["4x4_r8"] / macs["4x4_r4"]
    return m


def scenes(cfg: dict, n: int, seed: int):
    X, _, y, _ = touching_discs(n, cfg["image_size"], discs=cfg["discs"], radius=tuple(cfg["radius"]),
                                noise=cfg["noise"], seed=seed, classes=cfg["classes"])
    return X, y


def mean_iou(pred: torch.Tensor, truth: torch.Tensor, classes: int) -> float:
    ious = []
    for c in range(classes + 1):
        union = ((pred == c) | (truth == c)).sum().item()
        if union:
            ious.append(((pred == c) & (truth == c)).sum().item() / union)
    return float(np.mean(ious))


def crf_all(logp: torch.Tensor, X: torch.Tensor, params: dict, iterations: int) -> torch.Tensor:
    # images are in [0, 1]: the CRF's colour scale (theta_beta) is in 0-255 units as in the paper
    return torch.stack([dense_crf(u, x * 255, iterations=iterations, **params).argmax(0) for u, x in zip(logp, X)])


def simulated_unaries(y: torch.Tensor, classes: int, noise: float, gen: torch.Generator) -> torch.Tensor:
    """A stride-8 score map like DeepLab's: the one-hot truth average-pooled to stride 8, log-probabilities plus
    Gaussian noise, bilinearly upsampled x8 (Sec. 3.1). Coarse and blurred at the boundaries, as the CNN's."""
    onehot = F.one_hot(y, classes + 1).permute(0, 3, 1, 2).float()
    coarse = F.avg_pool2d(onehot, 8).clamp_min(1e-3).log()
    coarse = coarse + noise * torch.randn(coarse.shape, generator=gen)
    return F.interpolate(coarse, scale_factor=8, mode="bilinear", align_corners=False).log_softmax(1)


def run_seed(cfg: dict, seed: int) -> dict:
    classes, its = cfg["classes"], cfg["crf_iterations"]
    gen = torch.Generator().manual_seed(seed)
    Xval, yval = scenes(cfg, cfg["val_images"], seed=4000 + seed)
    Xte, yte = scenes(cfg, cfg["test_images"], seed=5000 + seed)
    logp_val = simulated_unaries(yval, classes, cfg["unary_noise"], gen)
    logp_te = simulated_unaries(yte, classes, cfg["unary_noise"], gen)
    # Sec. 4.1.1: w1, theta_alpha, theta_beta cross-validated on held-out images (w2, theta_gamma too, see setting)
    keys = ("w_appearance", "theta_alpha", "theta_beta", "w_smooth")
    grid = [dict(zip(keys, v)) for v in itertools.product(cfg["grid_w1"], cfg["grid_theta_alpha"],
                                                         cfg["grid_theta_beta"], cfg["grid_w2"])]
    best = max(grid, key=lambda p: mean_iou(crf_all(logp_val, Xval, p, its), yval, classes))
    if cfg.get("ablate_pairwise"):  # broken-version switch: no pairwise term, the CRF is the unaries' soft-max
        best = {**best, "w_appearance": 0.0, "w_smooth": 0.0}
    cnn = logp_te.argmax(1)
    crf = crf_all(logp_te, Xte, best, its)
    per_image = [mean_iou(c, t, classes) - mean_iou(u, t, classes) for u, c, t in zip(cnn, crf, yte)]
    return {"miou_cnn": mean_iou(cnn, yte, classes), "miou_crf": mean_iou(crf, yte, classes),
            "improved_fraction": float(np.mean([d > 0 for d in per_image])), "best": best,
            "examples": (Xte[:3].numpy(), yte[:3].numpy(), cnn[:3].numpy(), crf[:3].numpy())}


def save_figure(example, path) -> None:
    X, y, cnn, crf = example
    fig, axes = plt.subplots(len(X), 4, figsize=(8, 2 * len(X)), squeeze=False)
    for r in range(len(X)):
        axes[r, 0].imshow(X[r].transpose(1, 2, 0).clip(0, 1))
        axes[0, 0].set_title("image", fontsize=8)
        for c, (img, title) in enumerate([(y[r], "truth"), (cnn[r], "stride-8 unaries"), (crf[r], "after CRF")], 1):
            axes[r, c].imshow(img, vmin=0, vmax=y.max())
            axes[0, c].set_title(title, fontsize=8)
        for c in range(4):
            axes[r, c].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)


# ----------------------------------------------------------------------------------------- full profile: VOC 2012
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
VOC_IGNORE = 255  # VOC's label of object boundaries and "difficult" pixels, left out of loss and score


def voc2012(image_set: str, root=None):
    """torchvision's VOCSegmentation (2012, 21 classes), downloaded to data/ when its folder is not there yet."""
    import torchvision

    root = Path(root or DATA_ROOT)
    present = (root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation").is_dir()
    try:
        return torchvision.datasets.VOCSegmentation(str(root), year="2012", image_set=image_set, download=not present)
    except Exception as e:  # offline, proxy, checksum, a partial folder
        raise DataUnavailable(
            f"could not load PASCAL VOC 2012 segmentation ({image_set}) under {root} ({type(e).__name__}: {e}). The "
            f"full profile downloads VOCtrainval_11-May-2012.tar (2 GB) on first use: run it once with internet "
            f"access, or extract that archive there yourself so that {root}/VOCdevkit/VOC2012 exists "
            f"(PAPER_CLAIMS_DATA picks another folder).") from e


def voc_pair(image, target, crop: int | None, gen: torch.Generator | None):
    """A PIL (image, label map) pair as (3, H, W) normalised floats and (H, W) labels. Training (crop given):
    a random horizontal flip and a random crop x crop, padded with the ignore label where the image is smaller."""
    x = torch.tensor(np.asarray(image.convert("RGB")), dtype=torch.float32).permute(2, 0, 1) / 255.0
    x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    y = torch.tensor(np.asarray(target), dtype=torch.long)  # palette PNG: the class index (255 = ignore)
    if crop is None:
        return x, y
    if torch.rand(1, generator=gen).item() < 0.5:
        x, y = x.flip(-1), y.flip(-1)
    ph, pw = max(crop - x.shape[1], 0), max(crop - x.shape[2], 0)
    x = F.pad(x, (0, pw, 0, ph))  # zero = the mean colour after normalisation
    y = F.pad(y, (0, pw, 0, ph), value=VOC_IGNORE)
    top = int(torch.randint(0, x.shape[1] - crop + 1, (1,), generator=gen))
    left = int(torch.randint(0, x.shape[2] - crop + 1, (1,), generator=gen))
    return x[:, top:top + crop, left:left + crop], y[top:top + crop, left:left + crop]


def imagenet_vgg16_init(model: nn.Module) -> None:
    """Copy torchvision's ImageNet VGG-16 conv weights into the stride-8 backbone (same convs, same order)."""
    import torchvision

    try:
        features = torchvision.models.vgg16(weights=torchvision.models.VGG16_Weights.IMAGENET1K_V1).features
    except Exception as e:
        raise DataUnavailable(f"could not load torchvision's ImageNet VGG-16 weights ({type(e).__name__}: {e}); "
                              f"the full profile downloads them once into torch's hub cache") from e
    src = [m for m in features if isinstance(m, nn.Conv2d)]
    dst = [m for m in model.backbone if isinstance(m, nn.Conv2d)]
    for a, b in zip(src, dst, strict=True):
        b.load_state_dict(a.state_dict())


def confusion(pred: torch.Tensor, truth: torch.Tensor, classes: int) -> torch.Tensor:
    keep = truth != VOC_IGNORE
    return torch.bincount(truth[keep] * classes + pred[keep], minlength=classes * classes).reshape(classes, classes)


def miou_from_confusion(conf: torch.Tensor) -> float:
    """VOC's score: per-class IoU = TP / (TP + FP + FN) over the whole set, averaged over the classes present."""
    tp = conf.diag().double()
    union = conf.sum(0).double() + conf.sum(1).double() - tp
    return float((tp[union > 0] / union[union > 0]).mean())


def train_voc(head: str, seed: int, cfg: dict, train_set, val_set, device: str, pretrained: bool = True) -> float:
    """Train DeepLab-LargeFOV or -ASPP-L on VOC 2012 train; val mean IoU before the CRF (Sec. 4.1, Table 3)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = deeplab_vgg16(head=head, num_classes=21)
    if pretrained:
        imagenet_vgg16_init(model)
    model.to(device)
    # Sec. 4.1: SGD momentum 0.9, weight decay 5e-4, the new classifier at 10x the base lr, "poly" lr (power 0.9)
    opt = torch.optim.SGD([{"params": model.backbone.parameters(), "lr": cfg["voc_lr"]},
                           {"params": model.head.parameters(), "lr": 10 * cfg["voc_lr"]}],
                          momentum=0.9, weight_decay=5e-4)
    steps = cfg["voc_steps"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (1 - it / steps) ** 0.9)
    model.train()
    for _ in progress(range(steps), desc=f"voc {head} seed {seed}", enabled=cfg.get("show_progress", False)):
        idx = torch.randint(0, len(train_set), (cfg["voc_batch_size"],), generator=gen).tolist()
        xb, yb = zip(*(voc_pair(*train_set[i], cfg["voc_crop"], gen) for i in idx))
        out = model(torch.stack(xb).to(device))
        loss = F.cross_entropy(out, torch.stack(yb).to(device), ignore_index=VOC_IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    conf = torch.zeros(21, 21, dtype=torch.long)
    with torch.no_grad():
        for i in range(len(val_set)):  # whole images, one at a time (sizes differ)
            x, y = voc_pair(*val_set[i], None, None)
            conf += confusion(model(x[None].to(device))[0].argmax(0).cpu(), y, 21)
    return miou_from_confusion(conf)


def measure_voc(cfg: dict, run) -> tuple[dict, dict]:
    train_set, val_set = voc2012("train"), voc2012("val")
    cfg = {**cfg, "show_progress": run.show_progress}
    seeds = run.seeds(cfg["voc_seeds"])
    miou = {head: [train_voc(head, s, cfg, train_set, val_set, run.device) for s in seeds]
            for head in ("largefov", "aspp")}
    metrics = {"voc_val_miou_largefov": miou["largefov"], "voc_val_miou_aspp_l": miou["aspp"],
               "voc_miou_aspp_l_minus_largefov": [a - b for a, b in zip(miou["aspp"], miou["largefov"])]}
    setting = {"voc": f"PASCAL VOC 2012 segmentation via torchvision: train ({len(train_set)} images; not the SBD "
                      f"augmented 10,582) -> val ({len(val_set)} images, whole images, mean IoU over 21 classes, "
                      f"boundary label 255 ignored, no CRF); VGG-16 convs from torchvision's ImageNet weights, fc6-fc8 "
                      f"random; SGD momentum 0.9, wd 5e-4, lr {cfg['voc_lr']} (head x10), poly 0.9, "
                      f"{cfg['voc_steps']} steps of {cfg['voc_batch_size']} random {cfg['voc_crop']}^2 crops with flips; "
                      f"LargeFOV (fc6 3x3 rate 12, 1024) vs ASPP-L (rates 6, 12, 18, 24); seeds {seeds}"}
    return metrics, setting


def measure(cfg: dict, run) -> dict:
    # full: the real data first, so that a missing data set stops the stage before the small experiment runs
    voc_metrics, voc_setting = measure_voc(cfg, run) if run.profile == "full" else ({}, {})
    metrics = structural([1, 2, 4, 6, 12, 18, 24], cfg["mac_side"])
    seeds = run.seeds(cfg["seeds"])
    outs = map_seeds(functools.partial(run_seed, cfg), seeds)
    metrics["miou_cnn"] = [o["miou_cnn"] for o in outs]
    metrics["miou_crf"] = [o["miou_crf"] for o in outs]
    metrics["miou_crf_minus_cnn"] = [o["miou_crf"] - o["miou_cnn"] for o in outs]
    metrics["fraction_images_improved_by_crf"] = [o["improved_fraction"] for o in outs]
    save_figure(outs[0]["examples"], run.figures / "crf_before_after.png")
    setting = {
        "data": f"generated {cfg['image_size']}^2 scenes of {cfg['discs']} overlapping discs of {cfg['classes']} "
                f"colour-coded classes on background, noise {cfg['noise']}; per seed {cfg['val_images']} validation "
                f"(CRF cross-validation) and {cfg['test_images']} test scenes",
        "unaries": f"simulated stride-8 DCNN output: one-hot truth average-pooled x8, log, + N(0, {cfg['unary_noise']}^2), "
                   f"bilinear x8 (no CNN is trained: the check is about the CRF)",
        "crf": f"dense mean field, {cfg['crf_iterations']} iterations, theta_gamma = 3 (paper); w1, theta_alpha, "
               f"theta_beta, w2 chosen on the validation scenes from {cfg['grid_w1']} x {cfg['grid_theta_alpha']} x "
               f"{cfg['grid_theta_beta']} x {cfg['grid_w2']} (w2 = 3 is the paper's default); chosen per seed: {[o['best'] for o in outs]}"
               + ("; ABLATED: pairwise weights set to 0 (broken-version run)" if cfg.get("ablate_pairwise") else ""),
        "structure": f"Table 1's networks built on the meta device; multiply-adds by torch's FLOP counter on a "
                     f"{cfg['mac_side']}^2 image; receptive fields walked through the built backbone + fc6"}
    metrics.update(voc_metrics)
    setting.update(voc_setting)
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
