"""State of pruning (Blalock et al. 2020): global / layer-wise magnitude vs random pruning of a digits MLP at 90 % and
97 % sparsity, the initial-model confounder, pruning vs a better architecture, and the survey's FLOP-count spread."""
from __future__ import annotations

import copy
import functools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision
from torch import nn

from implementations import pruning as pr
from pipelines.shared import data
from pipelines.shared.common import map_seeds
from pipelines.shared.structural import count_macs, on_meta
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything

RESEED = 100_000  # the independent second seed of the same recipe (Sec. 7.3's "results vary across seeds")


def small_cnn(num_classes: int = 10) -> nn.Sequential:
    """The 'better architecture' for 8x8 images: two 3x3 convs (12, 24 channels), 2x2 max-pool, a linear classifier;
    6,540 weights, fewer than the MLP keeps at 90 % sparsity (8,448), dense (no pruning)."""
    return nn.Sequential(nn.Conv2d(1, 12, 3, padding=1), nn.ReLU(), nn.Conv2d(12, 24, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(24 * 4 * 4, num_classes))


def prune_and_finetune(c: dict, base: nn.Module, strategy: str, sparsity: float, X, y, Xte, yte, *,
                       seed: int) -> tuple[float, float]:
    """(accuracy right after one-shot pruning, accuracy after fine-tuning with the mask held fixed). Every base model,
    whatever trained it, is fine-tuned alike: SGD at c['finetune_lr']."""
    model = copy.deepcopy(base)
    torch.manual_seed(seed)  # the random baseline's masks
    pr.STRATEGIES[strategy](model, sparsity)
    before = accuracy(model, Xte, yte)
    opt = make_optimizer(model.parameters(), name="sgd", lr=c["finetune_lr"])
    fit(model, X, y, epochs=c["finetune_epochs"], batch_size=c["batch_size"], seed=seed, optimizer=opt)
    return before, accuracy(model, Xte, yte)


def seed_job(c: dict, seed: int) -> dict:
    """Every arm of one seed: the same split, and the same initialisation and batch order for every base model
    (paired), plus one base of the first Adam recipe from an independent seed (seed + RESEED)."""
    (X, y), (Xte, yte) = data.digits(flatten=True, split_seed=seed)
    out = {}
    first = f"adam_{c['confounder_adam_lrs'][0]:g}"
    bases = ({"sgd": ("sgd", c["lr"], seed)} | {f"adam_{lr:g}": ("adam", lr, seed) for lr in c["confounder_adam_lrs"]}
             | {f"{first}_reseed": ("adam", c["confounder_adam_lrs"][0], seed + RESEED)})
    for name, (opt_name, lr, base_seed) in bases.items():
        seed_everything(base_seed)
        base = pr.mlp(sizes=tuple(c["sizes"]))
        fit(base, X, y, epochs=c["epochs"], batch_size=c["batch_size"], seed=base_seed,
            optimizer=make_optimizer(base.parameters(), name=opt_name, lr=lr))
        out[f"dense_{name}"] = accuracy(base, Xte, yte)
        strategies = pr.STRATEGIES if name == "sgd" else ("global_magnitude", "layerwise_magnitude")
        sparsities = c["sparsities"] if name == "sgd" else [c["confounder_sparsity"]]
        for s in sparsities:
            for strategy in strategies:
                before, after = prune_and_finetune(c, base, strategy, s, X, y, Xte, yte, seed=base_seed)
                out[f"{name}_{strategy}_{round(s * 100)}_before"] = before
                out[f"{name}_{strategy}_{round(s * 100)}_after"] = after
    (Xi, yi), (Xite, yite) = data.digits(split_seed=seed)
    seed_everything(seed)
    cnn = small_cnn()
    fit(cnn, Xi, yi, epochs=c["epochs"], batch_size=c["batch_size"], seed=seed,
        optimizer=make_optimizer(cnn.parameters(), name="sgd", lr=c["lr"]))
    out["small_cnn"] = accuracy(cnn, Xite, yite)
    out["small_cnn_weights"] = sum(len(m.weight.flatten()) for m in cnn.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    return out


def measure(cfg: dict, run) -> dict:
    seeds = run.seeds(cfg["seeds"])
    rep = cfg["reported_alexnet_mflops"]  # Sec. 4.2's three published FLOP counts of AlexNet
    metrics = {"reported_alexnet_flops_max_over_min": max(rep) / min(rep),
               "alexnet_macs_torchvision_millions": count_macs(on_meta(torchvision.models.alexnet), (3, 224, 224)) / 1e6}
    runs = map_seeds(functools.partial(seed_job, cfg), seeds)
    per = lambda key: [r[key] for r in runs]
    for s in (round(v * 100) for v in cfg["sparsities"]):
        for strategy in pr.STRATEGIES:
            for when in ("before", "after"):
                metrics[f"top1_{strategy}_{s}_{when}_finetune"] = per(f"sgd_{strategy}_{s}_{when}")
        g, l, r = (per(f"sgd_{k}_{s}_after") for k in ("global_magnitude", "layerwise_magnitude", "random"))
        metrics[f"top1_global_minus_random_{s}"] = [a - b for a, b in zip(g, r)]
        metrics[f"top1_layerwise_minus_random_{s}"] = [a - b for a, b in zip(l, r)]
        metrics[f"top1_global_minus_layerwise_{s}"] = [a - b for a, b in zip(g, l)]
    metrics["top1_dense_mlp"] = per("dense_sgd")
    hi = round(cfg["confounder_sparsity"] * 100)
    # Sec. 7.3: does the initial model move the global-vs-layerwise comparison more than reseeding the same recipe?
    gaps = {}
    first = f"adam_{cfg['confounder_adam_lrs'][0]:g}"
    for name in [f"adam_{lr:g}" for lr in cfg["confounder_adam_lrs"]] + [f"{first}_reseed"]:
        gaps[name] = np.array([a - b for a, b in zip(per(f"{name}_global_magnitude_{hi}_after"),
                                                     per(f"{name}_layerwise_magnitude_{hi}_after"))])
        metrics[f"top1_global_minus_layerwise_{hi}_base_{name}"] = gaps[name].tolist()
        metrics[f"top1_dense_base_{name}"] = per(f"dense_{name}")
        for strategy in ("global_magnitude", "layerwise_magnitude"):
            metrics[f"top1_{strategy}_{hi}_after_finetune_base_{name}"] = per(f"{name}_{strategy}_{hi}_after")
    g1, g2 = (gaps[f"adam_{lr:g}"] for lr in cfg["confounder_adam_lrs"])
    g1_reseed = gaps[f"{first}_reseed"]  # same recipe as g1, independent seed: paired by i, never a neighbour's run
    metrics["confounder_recipe_shift"] = np.abs(g1 - g2).tolist()
    metrics["confounder_reseed_shift"] = np.abs(g1 - g1_reseed).tolist()
    metrics["confounder_recipe_shift_minus_reseed_shift"] = (np.abs(g1 - g2) - np.abs(g1 - g1_reseed)).tolist()
    lo = round(min(cfg["sparsities"]) * 100)
    metrics["top1_small_cnn_dense"] = per("small_cnn")
    metrics["top1_small_cnn_minus_dense_mlp"] = [a - b for a, b in zip(per("small_cnn"), per("dense_sgd"))]
    metrics[f"top1_small_cnn_minus_global_magnitude_{lo}"] = [a - b for a, b in zip(
        per("small_cnn"), per(f"sgd_global_magnitude_{lo}_after"))]
    n_weights = sum(a * b for a, b in zip(cfg["sizes"][:-1], cfg["sizes"][1:]))
    metrics["weights_small_cnn"] = runs[0]["small_cnn_weights"]
    metrics[f"weights_kept_mlp_{lo}"] = n_weights - round(min(cfg["sparsities"]) * n_weights)
    metrics[f"weights_small_cnn_over_pruned_mlp_{lo}"] = metrics["weights_small_cnn"] / metrics[f"weights_kept_mlp_{lo}"]
    metrics["compression_ratio_at_sparsities"] = [pr.compression_ratio(s) for s in cfg["sparsities"]]

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for strategy in pr.STRATEGIES:
        means = [np.mean(metrics[f"top1_{strategy}_{round(s * 100)}_after_finetune"]) for s in cfg["sparsities"]]
        ax.plot([pr.compression_ratio(s) for s in cfg["sparsities"]], means, "o-", label=strategy)
    ax.axhline(np.mean(metrics["top1_dense_mlp"]), color="k", ls="--", label="dense")
    ax.set(xscale="log", xlabel="compression ratio", ylabel="test accuracy (after fine-tuning)",
           title="digits MLP, one-shot pruning")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "accuracy_vs_compression.png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    setting = {"data": "sklearn digits (64 pixels in [0,1], 70/30 split by seed)",
               "model": f"MLP {cfg['sizes']}, SGD lr {cfg['lr']} momentum 0.9, {cfg['epochs']} epochs",
               "pruning": f"one-shot unstructured on all Linear weights (torch.nn.utils.prune) at {cfg['sparsities']}, "
                          f"then {cfg['finetune_epochs']} masked fine-tuning epochs (SGD lr {cfg['finetune_lr']})",
               "confounder": f"base models with Adam lr {cfg['confounder_adam_lrs']}, global vs layer-wise at {hi} %, "
                             f"fine-tuned like the SGD base; "
                             f"reseed shift = same recipe, independent seed (seed + {RESEED})",
               "architecture": "dense small CNN (conv 12, conv 24, max-pool 2, FC; 6,540 weights) on the 8x8 images, "
                               "same training as the MLP"}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
