"""Rethinking-generalization stage: random-label memorisation and the corruption curve (trained), Theorem 1's
construction and minimum-norm interpolation (exact), and the paper's MLP sizes (meta device)."""
from __future__ import annotations

import torch

from implementations.rethinking_generalization import (TwoLayerInterpolant, gd_from_zero, min_norm_kernel_interpolant,
                                                        mlp, rbf_kernel)
from pipelines.shared import data
from pipelines.shared.common import map_seeds
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.train import accuracy, fit, make_optimizer

_CFG: dict = {}


def structural() -> dict:
    return {"param_count_mlp_1x512": count_params(on_meta(lambda: mlp(hidden=(512,)))),
            "param_count_mlp_3x512": count_params(on_meta(lambda: mlp(hidden=(512, 512, 512))))}


def exact(cfg: dict) -> dict:
    g = torch.Generator().manual_seed(0)
    n, d = cfg["expressivity_n"], cfg["expressivity_d"]
    x, y = torch.randn(n, d, dtype=torch.float64, generator=g), torch.randn(n, dtype=torch.float64, generator=g)
    net = TwoLayerInterpolant(d, n).fit(x, y, generator=g)
    (Xtr, ytr), (Xte, yte) = data.digits(flatten=True, split_seed=0)
    Xtr, Xte = Xtr.double(), Xte.double()
    gamma = 1.0 / (Xtr.shape[1] * Xtr.var().item())  # sklearn's gamma="scale"
    K = rbf_kernel(Xtr, Xtr, gamma)
    out = {"expressivity_param_count": count_params(net), "expressivity_param_count_minus_2n_plus_d": count_params(net) - (2 * n + d),
           "expressivity_max_abs_error": (net(x) - y).abs().max().item()}
    for name, labels in (("true", ytr), ("random", data.random_labels(ytr, 10, 1.0, seed=1))):
        Y = torch.nn.functional.one_hot(labels, 10).double()
        alpha = min_norm_kernel_interpolant(K, Y)
        out[f"kernel_{name}_labels_train_max_abs_error"] = (K @ alpha - Y).abs().max().item()
        out[f"kernel_{name}_labels_test_acc"] = ((rbf_kernel(Xte, Xtr, gamma) @ alpha).argmax(1) == yte).double().mean().item()
        out[f"kernel_{name}_labels_rkhs_norm"] = torch.sqrt(torch.einsum("ik,ij,jk->", alpha, K, alpha)).item()
    A = torch.randn(cfg["lsq_rows"], cfg["lsq_cols"], dtype=torch.float64, generator=g)
    b = torch.randn(cfg["lsq_rows"], dtype=torch.float64, generator=g)
    lr = 1.0 / torch.linalg.matrix_norm(A, 2).item() ** 2
    out["gd_from_zero_distance_to_pinv_solution"] = (gd_from_zero(A, b, steps=cfg["lsq_steps"], lr=lr) - torch.linalg.pinv(A) @ b).norm().item()
    return out


def _fit_corrupted(job: tuple[int, float]) -> dict:
    """Train the MLP until it fits the (partly) random labels; returns epochs needed and accuracies."""
    seed, p = job
    c = _CFG
    (Xtr, ytr), (Xte, yte) = c["_data"]
    ytr = data.random_labels(ytr, 10, p, seed=1000 + seed) if p > 0 else ytr
    torch.manual_seed(seed)
    model = mlp(in_features=Xtr.shape[1], hidden=tuple(c["hidden"]))
    opt = make_optimizer(model.parameters(), name="sgd", lr=c["lr"], momentum=0.9)
    hist = fit(model, Xtr, ytr, epochs=c["max_epochs"], batch_size=c["batch_size"], seed=seed, optimizer=opt,
               stop_at_train_acc=1.0)
    return {"epochs": len(hist.train_acc), "train_acc": accuracy(model, Xtr, ytr), "test_acc": accuracy(model, Xte, yte)}


def _load(cfg: dict, run):
    if run.profile != "full":
        (Xtr, ytr), test = data.digits(flatten=True, split_seed=0)
        return (Xtr[:cfg.get("train_limit")], ytr[:cfg.get("train_limit")]), test
    from torchvision import transforms as T

    tf = T.Compose([T.CenterCrop(28), T.ToTensor(), T.Normalize([0.5] * 3, [0.25] * 3)])  # 28x28x3 crops (Sec. 2)
    return tuple(data.to_tensors(data.torchvision_dataset("CIFAR10", train=t, transform=tf)) for t in (True, False))


def measure(cfg: dict, run) -> dict:
    metrics = {**structural(), **exact(cfg)}
    _CFG.update(cfg)
    _CFG["_data"] = _load(cfg, run)  # loaded once, inherited by the forked workers
    seeds = run.seeds(cfg["seeds"])
    levels = cfg["corruption_levels"]
    jobs = [(s, p) for p in levels for s in seeds]
    res = dict(zip(jobs, map_seeds(_fit_corrupted, jobs, label="(seed, corruption)")))
    for p in levels:
        tag = f"p{p:g}"
        metrics[f"train_acc_{tag}"] = [res[(s, p)]["train_acc"] for s in seeds]
        metrics[f"test_acc_{tag}"] = [res[(s, p)]["test_acc"] for s in seeds]
        metrics[f"epochs_to_fit_{tag}"] = [res[(s, p)]["epochs"] for s in seeds]
    lo, hi = min(levels), max(levels)
    metrics["epochs_ratio_random_over_true"] = [res[(s, hi)]["epochs"] / res[(s, lo)]["epochs"] for s in seeds]
    # per seed: how many steps up the corruption ladder fail to lower the test accuracy (0 = strictly decreasing)
    metrics["test_acc_non_decreasing_steps"] = [sum(res[(s, a)]["test_acc"] >= res[(s, b)]["test_acc"]
                                                    for a, b in zip(levels[1:], levels[:-1])) for s in seeds]
    (Xtr, _), (Xte, _) = _CFG.pop("_data")
    setting = {"data": "sklearn digits (64 pixels), 70/30 split" if run.profile != "full" else "CIFAR-10, 28x28 centre crops",
               "n_train": len(Xtr), "n_test": len(Xte),
               "model": f"MLP {cfg['hidden']} ReLU, no regularisation; SGD lr {cfg['lr']} momentum 0.9, batch "
                        f"{cfg['batch_size']}, until 100% training accuracy (at most {cfg['max_epochs']} epochs)",
               "corruption_levels": levels,
               "exact": f"Theorem 1 construction with n={cfg['expressivity_n']}, d={cfg['expressivity_d']}; RBF kernel "
                        "interpolation on digits (gamma = 1/(d Var X)); GD from 0 on a "
                        f"{cfg['lsq_rows']}x{cfg['lsq_cols']} least-squares problem"}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
