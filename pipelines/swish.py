"""Swish (Ramachandran et al. 2017): its limits and derivative (exact); Swish vs ReLU in shallow and deep MLPs on
digits (cpu: does Swish's advantage grow with depth?); the paper's CIFAR-10/100 models (preactivation ResNet-164,
WRN-28-10, DenseNet-100-12) and a torchvision ImageNet model with ReLU vs Swish at the full profile."""
from __future__ import annotations

import functools

import numpy as np
import torch
from scipy.optimize import brentq

from implementations import swish as sw
from pipelines.shared import data
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.train import accuracy, fit, make_optimizer, predict, seed_everything, topk_accuracy


def analytical(figures) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = torch.linspace(-6, 6, 12001, dtype=torch.float64)
    relu = x.clamp_min(0)
    out = {"max_abs_swish_beta0_minus_half_x": float((sw.swish(x, 0.0) - x / 2).abs().max())}
    betas = [1.0, 10.0, 100.0, 1000.0]
    errs = [float((sw.swish(x, b) - relu).abs().max()) for b in betas]
    out["max_abs_swish_beta1000_minus_relu"] = errs[-1]
    out["swish_relu_error_decreases_with_beta"] = float(all(a > b for a, b in zip(errs, errs[1:])))
    xg = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(sw.swish(xg, 1.0).sum(), xg)
    out["max_abs_closed_form_minus_autograd_derivative"] = float((sw.swish_derivative(x, 1.0) - auto).abs().max())
    # Sec. 4: "the derivative has magnitude less than 1 for inputs that are less than around 1.25"
    d = lambda v: float(sw.swish_derivative(torch.tensor(v, dtype=torch.float64), 1.0))  # noqa: E731
    out["x_where_swish_derivative_is_one"] = brentq(lambda v: d(v) - 1.0, 0.5, 3.0, xtol=1e-12)
    x_min = brentq(d, -3.0, -0.5, xtol=1e-12)  # the bump's bottom: f'(x*) = 0
    f_min = float(sw.swish(torch.tensor(x_min, dtype=torch.float64), 1.0))
    out["swish_minimum_x"], out["swish_minimum_value"] = x_min, f_min
    out["swish_min_identity_residual"] = abs(f_min - (x_min + 1))  # f(x*) = x* + 1 follows from f'(x*) = 0
    out["derivative_symmetry_residual"] = float((sw.swish_derivative(-x, 1.0) - (1 - sw.swish_derivative(x, 1.0)))
                                                .abs().max())  # f'(-x) = 1 - f'(x), since sigma(-x) = 1 - sigma(x)

    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    xs = np.linspace(-5, 5, 400)
    for b in (0.1, 1.0, 10.0):
        t = torch.tensor(xs)
        axes[0].plot(xs, sw.swish(t, b).numpy(), label=f"beta={b}")
        axes[1].plot(xs, sw.swish_derivative(t, b).numpy(), label=f"beta={b}")
    axes[0].set_title("Swish (Fig. 4 analogue)")
    axes[1].set_title("first derivative")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(figures / "swish_and_derivative.png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return out


# ------------------------------------------------------------------------------------------ cpu: depth
def deep_mlp_arm(cfg: dict, device: str, job: tuple[int, str, int]) -> float:
    """Test accuracy of one (seed, activation, depth) MLP: `depth` hidden Linear-BN-activation layers on digits."""
    seed, act, depth = job
    c = cfg["deep_mlp"]
    (Xtr, ytr), (Xte, yte) = data.digits(flatten=True, standardize=True, split_seed=seed)
    seed_everything(seed)
    model = sw.deep_mlp(depth=depth, width=c["width"], activation_name=act)
    opt = make_optimizer(model.parameters(), name="adam", lr=c["lr"])
    fit(model, Xtr, ytr, epochs=c["epochs"], batch_size=c["batch_size"], seed=seed, optimizer=opt, device=device)
    return accuracy(model, Xte, yte, device=device)


def depth_metrics(cfg: dict, accs: dict, seeds: list[int]) -> dict:
    """Per depth and activation the test accuracies, Swish minus ReLU per depth, and how that difference grows from
    the shallowest to the deepest net (the arms are named by cfg['compare'], normally ["relu", "swish"])."""
    relu, swish = cfg["compare"]
    depths = cfg["deep_mlp"]["depths"]
    out = {}
    for d in depths:
        out[f"top1_relu_depth{d}_digits"] = [accs[(s, relu, d)] for s in seeds]
        out[f"top1_swish_depth{d}_digits"] = [accs[(s, swish, d)] for s in seeds]
        out[f"top1_swish_minus_relu_depth{d}_digits"] = [accs[(s, swish, d)] - accs[(s, relu, d)] for s in seeds]
    lo, hi = min(depths), max(depths)
    out["top1_swish_gain_deep_minus_shallow_digits"] = [
        b - a for a, b in zip(out[f"top1_swish_minus_relu_depth{lo}_digits"], out[f"top1_swish_minus_relu_depth{hi}_digits"])]
    return out


# ------------------------------------------------------------------------------------------ full: CIFAR, ImageNet
def cifar_loaders(name: str, cfg: dict, batch_size: int, seed: int):
    """CIFAR-10/100 (downloaded once) with the standard augmentation of the three models' papers: 4-pixel padded
    random crop + horizontal flip, per-channel standardisation."""
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    mean, std = ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]) if name == "CIFAR10" else \
        ([0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762])
    norm = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    train = data.torchvision_dataset(name, train=True,
                                     transform=v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(), *norm]))
    test = data.torchvision_dataset(name, train=False, transform=v2.Compose(norm))
    workers = cfg.get("workers", 8)
    gen = torch.Generator().manual_seed(seed)
    return (DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=True, generator=gen, num_workers=workers,
                       persistent_workers=workers > 0),
            DataLoader(test, batch_size=256, num_workers=workers))


def train_cifar(model_name: str, act: str, dataset: str, seed: int, cfg: dict, device: str):
    """One CIFAR run with the recipe of the model's own paper (Sec. 5.2: "the same hyperparameters described in each
    work"): SGD momentum 0.9, the model's batch, weight decay, epochs and step schedule. Returns the test accuracy
    and the test-set predictions."""
    r = cfg["cifar_recipes"][model_name]
    k = 100 if dataset == "CIFAR100" else 10
    seed_everything(seed)
    model = sw.CIFAR_MODELS[model_name](num_classes=k, act=act, **r.get("model", {})).to(device)
    train_dl, test_dl = cifar_loaders(dataset, cfg, r["batch_size"], seed)
    opt = torch.optim.SGD(model.parameters(), lr=r["lr"], momentum=0.9, nesterov=r.get("nesterov", False),
                          weight_decay=r["weight_decay"])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(f * r["epochs"]) for f in r["milestones"]], r["gamma"])
    fit(model, train_dl, None, epochs=r["epochs"], optimizer=opt, scheduler=sched, scheduler_per="epoch", device=device)
    top, = topk_accuracy(model, test_dl, device=device)
    preds = torch.cat([predict(model, xb, device=device).argmax(1) for xb, _ in test_dl])
    return top, preds


def measure_cifar(cfg: dict, run, seeds: list[int]) -> dict:
    """Sec. 5.2: every model of cfg['cifar_models'] on every data set of cfg['cifar_datasets'], ReLU vs Swish (trainable
    beta), paired by seed (the paper reports the median of 5 runs)."""
    metrics = {}
    for dataset in cfg["cifar_datasets"]:
        for name in cfg["cifar_models"]:
            diffs, disagree = [], []
            for seed in progress(seeds, desc=f"{dataset} {name}", enabled=run.show_progress):
                (a_relu, p_relu), (a_swish, p_swish) = (train_cifar(name, act, dataset, seed, cfg, run.device)
                                                        for act in cfg["compare"])
                diffs.append(a_swish - a_relu)
                disagree.append((p_relu != p_swish).float().mean().item())
            tag = f"{dataset.lower()}_{name}"
            metrics[f"top1_swish_minus_relu_{tag}"] = diffs
            metrics[f"prediction_disagreement_swish_vs_relu_{tag}"] = disagree
    return metrics


def measure_imagenet(cfg: dict, run, seeds: list[int]) -> dict:
    """Sec. 5.3: the same torchvision model with its ReLUs replaced by Swish, same recipe, several seeds."""
    import torchvision

    from pipelines.shared.imagenet import cifar_stem, imagenet_or_cifar10, top1, train_bag_of_tricks

    im = cfg["imagenet"]
    train, test, k, size = imagenet_or_cifar10(im)
    diffs = []
    for seed in seeds:
        accs = {}
        for act in cfg["compare"]:
            seed_everything(seed)
            model = getattr(torchvision.models, im["arch"])(weights=None, num_classes=k)
            model = cifar_stem(model) if size == 32 else model
            model = sw.replace_relu(model) if act == "swish" else model
            model = train_bag_of_tricks(model, train, im, run, seed=seed, tricks=False, num_classes=k)
            accs[act] = top1(model, test, im, run)
        diffs.append(accs[cfg["compare"][1]] - accs[cfg["compare"][0]])
    return {f"top1_swish_minus_relu_{im['dataset'].lower()}": diffs}


def measure(cfg: dict, run) -> dict:
    seeds = run.seeds(cfg["seeds"])
    metrics = analytical(run.figures)
    setting = {"analytical": "x on a 12,001-point grid over [-6, 6] in float64; roots by Brent's method",
               "compare": cfg["compare"]}
    if run.profile == "full":
        if cfg.get("cifar_models"):
            metrics.update(measure_cifar(cfg, run, seeds))
        if cfg.get("imagenet"):
            metrics.update(measure_imagenet(cfg, run, seeds))
        setting.update(cifar={k: cfg[k] for k in ("cifar_datasets", "cifar_models", "cifar_recipes")},
                       imagenet=cfg.get("imagenet"))
        return {"seeds": seeds, "metrics": metrics, "setting": setting}
    c = cfg["deep_mlp"]
    jobs = [(s, a, d) for s in seeds for d in sorted(c["depths"], reverse=True) for a in cfg["compare"]]
    accs = dict(zip(jobs, map_seeds(functools.partial(deep_mlp_arm, cfg, run.device), jobs,
                                    label="(seed, activation, depth)")))
    metrics.update(depth_metrics(cfg, accs, seeds))
    setting["deep_mlp"] = (f"sklearn digits (64 standardized pixels, 70/30 split by seed), {c['depths']} hidden "
                           f"Linear-BN-activation layers of {c['width']} units, Adam {c['lr']}, {c['epochs']} epochs, "
                           f"batch {c['batch_size']}, the same lr for both activations; Swish with trainable beta")
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
