"""Swish (Ramachandran et al. 2017): its limits and derivative (exact), Swish vs ReLU in a deep MLP on digits (cpu),
and Swish vs ReLU in a torchvision ImageNet / CIFAR-10 model with the full profile."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.optimize import brentq

from implementations import swish as sw
from pipelines.shared import data
from pipelines.shared.common import map_seeds
from pipelines.shared.imagenet import cifar_stem, imagenet_or_cifar10, top1, train_bag_of_tricks
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything

CFG: dict = {}


def analytical(figures) -> dict:
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


def deep_mlp_arm(job: tuple[int, str]) -> float:
    seed, act = job
    c = CFG["deep_mlp"]
    (Xtr, ytr), (Xte, yte) = data.digits(flatten=True, standardize=True, split_seed=seed)
    seed_everything(seed)
    model = sw.deep_mlp(depth=c["depth"], width=c["width"], activation_name=act)
    opt = make_optimizer(model.parameters(), name="adam", lr=c["lr"])
    fit(model, Xtr, ytr, epochs=c["epochs"], batch_size=c["batch_size"], seed=seed, optimizer=opt)
    return accuracy(model, Xte, yte)


def measure_full(cfg: dict, run) -> dict:
    """Sec. 5: the same torchvision model with its ReLUs replaced by Swish, same recipe, several seeds."""
    import torchvision

    train, test, k, size = imagenet_or_cifar10(cfg)
    diffs = []
    for seed in cfg["seeds"]:
        accs = {}
        for act in ("relu", "swish"):
            seed_everything(seed)
            model = getattr(torchvision.models, cfg["arch"])(weights=None, num_classes=k)
            model = cifar_stem(model) if size == 32 else model
            model = sw.replace_relu(model) if act == "swish" else model
            model = train_bag_of_tricks(model, train, cfg, run, seed=seed, tricks=False, num_classes=k)
            accs[act] = top1(model, test, cfg, run)
        diffs.append(accs["swish"] - accs["relu"])
    return {f"top1_swish_minus_relu_{cfg['dataset'].lower()}": diffs}


def measure(cfg: dict, run) -> dict:
    CFG.update(cfg)
    seeds = run.seeds(cfg["seeds"])
    metrics = analytical(run.figures)
    setting = {"analytical": "x on a 12,001-point grid over [-6, 6] in float64; roots by Brent's method"}
    if run.profile == "full":
        metrics.update(measure_full(cfg, run))
        setting.update(data=cfg["dataset"], arch=cfg["arch"], epochs=cfg["epochs"], batch_size=cfg["batch_size"])
        return {"seeds": seeds, "metrics": metrics, "setting": setting}
    jobs = [(s, a) for s in seeds for a in ("relu", "swish")]
    accs = dict(zip(jobs, map_seeds(deep_mlp_arm, jobs, label="(seed, activation)")))
    metrics["top1_relu_deep_mlp_digits"] = [accs[(s, "relu")] for s in seeds]
    metrics["top1_swish_deep_mlp_digits"] = [accs[(s, "swish")] for s in seeds]
    metrics["top1_swish_minus_relu_deep_mlp_digits"] = [accs[(s, "swish")] - accs[(s, "relu")] for s in seeds]
    c = cfg["deep_mlp"]
    setting["deep_mlp"] = (f"sklearn digits (64 standardized pixels, 70/30 split by seed), {c['depth']} hidden "
                           f"Linear-BN-activation layers of {c['width']} units, Adam {c['lr']}, {c['epochs']} epochs, "
                           "same lr for both activations (the paper tuned per activation); Swish with trainable beta")
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
