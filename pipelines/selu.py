"""SELU stage: the constants and the contraction solved from the paper's equations, Monte-Carlo self-normalisation
and alpha dropout, and the deep SNN-vs-ReLU-FNN comparison on digits (paired seeds)."""
from __future__ import annotations

import functools

import numpy as np
import torch

from implementations.selu import (
    SELU_ALPHA,
    SELU_LAMBDA,
    alpha_dropout,
    jacobian,
    mlp,
    moments,
    solve_constants,
)
from pipelines.shared.common import map_seeds
from pipelines.shared.small_vision import digits_or_cifar_with_val
from pipelines.shared.train import accuracy, fit, make_optimizer


def analytic() -> dict:
    alpha, lam = solve_constants()
    J = jacobian(lam=lam, alpha=alpha)
    # attraction: iterate g (omega = 0, tau = 1) from far-off starting points; distance to (0, 1) after 20 layers
    worst = 0.0
    for mu, nu in ((0.3, 2.0), (-0.3, 0.5), (0.0, 3.0), (0.0, 0.3)):
        for _ in range(20):
            mu, nu = moments(mu, 0.0, nu, 1.0, lam, alpha)
        worst = max(worst, abs(mu), abs(nu - 1))
    return {"alpha01": alpha, "lambda01": lam,
            "torch_selu_constants_max_abs_diff": max(abs(alpha - SELU_ALPHA), abs(lam - SELU_LAMBDA)),
            "jacobian_spectral_norm": float(np.linalg.norm(J, 2)),
            "moment_map_distance_to_fixed_point_after_20_layers": worst}


def monte_carlo(c: dict, seed: int) -> dict:
    """Propagate N(0, v) inputs through `depth` random dense layers (LeCun-normal) and read the last layer's
    moments; alpha dropout on c["dropout_samples"] SELU outputs."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for act, v0 in (("selu", 1.0), ("selu_from_0.3", 0.3), ("selu_from_3", 3.0), ("relu", 1.0), ("tanh", 1.0)):
        x = torch.randn(c["mc_samples"], c["mc_width"], generator=g) * v0 ** 0.5
        f = {"relu": torch.relu, "tanh": torch.tanh}.get(act, torch.nn.functional.selu)
        depth = c["mc_depth"] if act in ("selu", "relu", "tanh") else c["mc_depth"] // 2
        for _ in range(depth):
            w = torch.randn(c["mc_width"], c["mc_width"], generator=g) / c["mc_width"] ** 0.5
            x = f(x @ w)
        out[act] = (x.mean().item(), x.var().item())
    z = torch.nn.functional.selu(torch.randn(c["dropout_samples"], generator=g))
    for q in (0.95, 0.9, 0.8):
        d = alpha_dropout(z, q, generator=g)
        out[f"dropout_{q}"] = (d.mean().item(), d.var().item())
        # positive control: the same dropped units set to alpha' without the affine correction a x + b
        keep = torch.rand(z.shape, generator=g) < q
        u = torch.where(keep, z, torch.full_like(z, -SELU_LAMBDA * SELU_ALPHA))
        out[f"uncorrected_{q}"] = (u.mean().item(), u.var().item())
    return out


def snn_vs_fnn(c: dict, seed: int, arms: tuple[str, str] = ("selu", "relu_bn")) -> dict:
    """Both nets from the same seed (same split, same batch order). Each arm is trained at every depth of
    c['depths'] and lr of c['lrs'] and the one with the best validation accuracy is kept (Sec. 4.1: every method's
    hyperparameters, the number of layers among them, were selected on validation sets); its test accuracy is the
    arm's. `arms` names the activation of the SNN arm and of the FNN arm (ReLU + He + batch norm, Sec. 4's BatchNorm
    FNN); ("relu_bn", "relu_bn") is the broken version used in the tests."""
    Xtr, ytr, Xva, yva, Xte, yte = digits_or_cifar_with_val({"data": "digits", "n_val": c["n_val"]})
    Xtr, ytr = Xtr[:c.get("train_limit")], ytr[:c.get("train_limit")]
    out = {}
    for role, act in zip(("snn", "fnn"), arms):
        best = None
        for depth in c["depths"]:
            for lr in c["lrs"]:
                torch.manual_seed(seed)
                model = mlp(in_features=64, num_classes=10, width=c["width"], depth=depth, activation=act)
                opt = make_optimizer(model.parameters(), name="sgd", lr=lr, momentum=0.9)
                fit(model, Xtr, ytr, epochs=c["epochs"], batch_size=c["batch_size"], seed=seed, optimizer=opt)
                val = accuracy(model, Xva, yva)
                if best is None or val > best[0]:
                    best = (val, lr, depth, accuracy(model, Xte, yte))
        out[role], out[f"{role}_val"], out[f"{role}_lr"], out[f"{role}_depth"] = best[3], best[0], best[1], best[2]
    return out


def measure(cfg: dict, run) -> dict:
    metrics = analytic()
    seeds = run.seeds(cfg["seeds"])
    mc = map_seeds(functools.partial(monte_carlo, cfg), run.seeds(cfg["mc_seeds"]), label="monte-carlo seed")
    for key, name in (("selu", "selu"), ("relu", "relu_lecun"), ("tanh", "tanh"), ("selu_from_0.3", "selu_from_var_0.3"),
                      ("selu_from_3", "selu_from_var_3")):
        metrics[f"{name}_mean_deep"] = [r[key][0] for r in mc]
        metrics[f"{name}_abs_mean_deep"] = [abs(r[key][0]) for r in mc]
        metrics[f"{name}_var_deep"] = [r[key][1] for r in mc]
    for q in (0.95, 0.9, 0.8):
        metrics[f"alpha_dropout_q{q}_mean"] = [r[f"dropout_{q}"][0] for r in mc]
        metrics[f"alpha_dropout_q{q}_abs_mean"] = [abs(r[f"dropout_{q}"][0]) for r in mc]
        metrics[f"uncorrected_dropout_q{q}_mean"] = [r[f"uncorrected_{q}"][0] for r in mc]
        metrics[f"uncorrected_dropout_q{q}_var"] = [r[f"uncorrected_{q}"][1] for r in mc]
        metrics[f"alpha_dropout_q{q}_var"] = [r[f"dropout_{q}"][1] for r in mc]
    runs = map_seeds(functools.partial(snn_vs_fnn, cfg), seeds)
    metrics["test_acc_snn"] = [r["snn"] for r in runs]
    metrics["test_acc_fnn_relu"] = [r["fnn"] for r in runs]
    metrics["val_acc_snn"], metrics["val_acc_fnn_relu"] = [r["snn_val"] for r in runs], [r["fnn_val"] for r in runs]
    metrics["picked_lr_snn"], metrics["picked_lr_fnn_relu"] = [r["snn_lr"] for r in runs], [r["fnn_lr"] for r in runs]
    metrics["picked_depth_snn"] = [r["snn_depth"] for r in runs]
    metrics["picked_depth_fnn_relu"] = [r["fnn_depth"] for r in runs]
    metrics["test_acc_snn_minus_fnn"] = [r["snn"] - r["fnn"] for r in runs]
    setting = {"analytic": "closed-form moment map g (Eq. 4-5), scipy fsolve for (alpha, lambda), central differences for the Jacobian",
               "monte_carlo": f"{cfg['mc_samples']} N(0, v) inputs through {cfg['mc_depth']} random dense layers of width "
                              f"{cfg['mc_width']} (LeCun-normal; half the depth from v = 0.3 and 3); alpha dropout on "
                              f"{cfg['dropout_samples']} SELU outputs",
               "snn_vs_fnn": f"sklearn digits standardised, 70/30 split, {cfg['n_val']} training digits held out for "
                             f"validation; {cfg['width']} units per layer, SELU + LeCun-normal (no normalisation) vs "
                             f"ReLU + He + batch norm; SGD momentum 0.9, depth and lr per arm and seed picked on "
                             f"validation from {cfg['depths']} x {cfg['lrs']}, batch {cfg['batch_size']}, {cfg['epochs']} epochs"}
    setting["seeds"] = f"{cfg['mc_seeds']} Monte-Carlo seeds, {cfg['seeds']} training seeds"
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
