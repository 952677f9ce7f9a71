"""Class imbalance (Buda et al. 2018): step imbalance hurts, oversampling beats undersampling, thresholding by the
class prior restores accuracy; multi-class ROC AUC (one-vs-rest, macro) on a balanced test set, as in the paper.

cpu: sklearn digits (60/40 split, ~107 training images per class), an MLP 64-128-10, SGD, the same number of
updates for every method (as in the paper, Sec. 3.4). full: CIFAR-10 with All-CNN-C (the paper's Sec. 3.3.2 set-up).
Every seed draws its own minority classes and minority examples.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from implementations.class_imbalance import (all_cnn_c, class_prior, imbalanced_subset, oversample,
                                             step_imbalance_counts, threshold_by_prior, undersample)
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.data import digits
from pipelines.shared.small_vision import cifar_data, mlp
from pipelines.shared.train import fit, make_optimizer, predict, seed_everything

def _train_predict(ctx: dict, seed: int, X: torch.Tensor, y: torch.Tensor, X_seen: torch.Tensor | None = None):
    """Train on (X, y) for cfg's number of updates; softmax probabilities on the balanced test set (and, when
    X_seen is given, also the predicted classes of X_seen). ctx: {cfg, device, progress, data}."""
    cfg, device = ctx["cfg"], ctx["device"]
    seed_everything(seed)
    model = all_cnn_c() if cfg["model"] == "all_cnn_c" else mlp(cfg["mlp_widths"])
    opt = make_optimizer(model.parameters(), lr=cfg["lr"], momentum=0.9, weight_decay=cfg["weight_decay"])
    per_epoch = -(-len(y) // cfg["batch_size"])
    fit(model, X, y, epochs=-(-cfg["updates"] // per_epoch), batch_size=cfg["batch_size"], seed=seed, optimizer=opt,
        device=device)
    test_probs = predict(model, ctx["data"][2], device=device).softmax(1)
    return test_probs if X_seen is None else (test_probs, predict(model, X_seen, device=device).argmax(1))


def macro_auc(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Multi-class ROC AUC: the mean over classes of the one-vs-rest AUC of that class's score (Sec. 3.5).

    Written out rather than sklearn's multi_class="ovr", which insists on rows summing to 1 (prior-divided
    scores do not). A diverged run's NaN scores count as 0."""
    scores, y = torch.nan_to_num(probs, nan=0.0).numpy(), y.numpy()
    return float(np.mean([roc_auc_score(y == k, scores[:, k]) for k in range(scores.shape[1])]))


def _seed(ctx: dict, seed: int) -> dict:
    cfg = ctx["cfg"]
    Xtr, ytr, Xte, yte = ctx["data"]
    gen = torch.Generator().manual_seed(seed)
    n_max = int(torch.bincount(ytr).min())  # every majority class gets n_max: the balanced reference is balanced
    balanced = imbalanced_subset(ytr, [n_max] * 10, gen)
    out = {"auc_balanced": macro_auc(_train_predict(ctx, seed, Xtr[balanced], ytr[balanced]), yte)}
    acc = lambda scores: float((scores.argmax(1) == yte).float().mean())  # noqa: E731
    for rho in cfg["rhos"]:
        counts = step_imbalance_counts(n_max, 10, mu=cfg["mu"], rho=rho)
        classes = torch.randperm(10, generator=gen).tolist()  # which classes are the minorities
        idx = imbalanced_subset(ytr, [counts[classes.index(c)] for c in range(10)], gen)
        X, y = Xtr[idx], ytr[idx]
        prior = class_prior(y, 10)  # of the imbalanced set; thresholding uses it for every method
        over, under = oversample(y, gen), undersample(y, gen)
        for name, sel in progress((("base", slice(None)), ("over", over), ("under", under)), total=3,
                                  desc=f"seed {seed} rho {rho}", enabled=ctx["progress"]):
            # train accuracy on the imbalanced set itself (every method's nets are scored on the same examples)
            p, seen_pred = _train_predict(ctx, seed, X[sel], y[sel], X)
            out[f"train_test_gap_{name}_rho{rho}"] = float((seen_pred == y).float().mean()) - acc(p)
            out[f"auc_{name}_rho{rho}"] = macro_auc(p, yte)
            out[f"acc_{name}_rho{rho}"] = acc(p)
            out[f"acc_{name}_thresholded_rho{rho}"] = acc(threshold_by_prior(p, prior))
        out[f"train_size_rho{rho}"] = {"base": len(y), "over": len(over), "under": len(under)}
    return out


def measure(cfg: dict, run) -> dict:
    if cfg["data"] == "torchvision":
        data = cifar_data(cfg["dataset"])
    else:
        (Xtr, ytr), (Xte, yte) = digits(test_fraction=cfg["test_fraction"], split_seed=0, standardize=True,
                                        flatten=True)
        n_test = int(torch.bincount(yte).min())  # a balanced test set, as in the paper
        gen = torch.Generator().manual_seed(0)
        keep = imbalanced_subset(yte, [n_test] * 10, gen)
        data = (Xtr, ytr, Xte[keep], yte[keep])
    ctx = {"cfg": cfg, "device": run.device, "progress": run.show_progress, "data": data}
    seeds = run.seeds(cfg["seeds"])
    res = map_seeds(functools.partial(_seed, ctx), seeds)
    col = lambda k: [r[k] for r in res]  # noqa: E731
    diff = lambda a, b: [r[a] - r[b] for r in res]  # noqa: E731
    metrics = {"auc_balanced": col("auc_balanced")}
    for rho in cfg["rhos"]:
        metrics |= {
            f"auc_base_rho{rho}": col(f"auc_base_rho{rho}"),
            f"auc_over_rho{rho}": col(f"auc_over_rho{rho}"),
            f"auc_under_rho{rho}": col(f"auc_under_rho{rho}"),
            f"auc_balanced_minus_base_rho{rho}": [r["auc_balanced"] - r[f"auc_base_rho{rho}"] for r in res],
            f"auc_over_minus_base_rho{rho}": diff(f"auc_over_rho{rho}", f"auc_base_rho{rho}"),
            f"auc_over_minus_under_rho{rho}": diff(f"auc_over_rho{rho}", f"auc_under_rho{rho}"),
            f"acc_base_rho{rho}": col(f"acc_base_rho{rho}"),
            f"acc_thresholding_gain_base_rho{rho}": diff(f"acc_base_thresholded_rho{rho}", f"acc_base_rho{rho}"),
            f"acc_thresholding_gain_over_rho{rho}": diff(f"acc_over_thresholded_rho{rho}", f"acc_over_rho{rho}"),
            f"train_test_gap_base_rho{rho}": col(f"train_test_gap_base_rho{rho}"),
            f"train_test_gap_over_rho{rho}": col(f"train_test_gap_over_rho{rho}"),
            f"train_test_gap_over_minus_base_rho{rho}": diff(f"train_test_gap_over_rho{rho}",
                                                             f"train_test_gap_base_rho{rho}"),
        }
    lo, hi = min(cfg["rhos"]), max(cfg["rhos"])
    metrics[f"auc_drop_rho{hi}_minus_rho{lo}"] = diff(f"auc_base_rho{lo}", f"auc_base_rho{hi}")
    setting = {k: cfg[k] for k in ("mu", "rhos", "updates", "batch_size", "lr", "weight_decay")} | {
        "data": cfg["dataset"] if cfg["data"] == "torchvision" else
        f"sklearn digits, {1 - cfg['test_fraction']:.0%} train, test set cut to balanced ({len(data[3])} images)",
        "model": cfg["model"] if cfg["model"] == "all_cnn_c" else f"MLP {cfg['mlp_widths']}",
        "imbalance": "step, minority classes and examples drawn per seed; n_max = smallest class of the train split",
        "train_sizes_seed0": {str(rho): res[0][f"train_size_rho{rho}"] for rho in cfg["rhos"]},
        "train_test_gap": "accuracy on the imbalanced training set (before over/undersampling) minus balanced "
                          "test accuracy, no thresholding",
        "thresholding": "argmax of p / prior, prior = class frequencies of the imbalanced set (for oversampling too)",
        "optimizer": "SGD momentum 0.9"}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
