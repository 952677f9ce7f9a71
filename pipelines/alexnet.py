"""AlexNet: structure of the two-GPU network (Sec. 3.5) and, on sklearn's digits, ReLU vs tanh (Fig. 1) and
dropout against overfitting (Sec. 4.2). Full profile: ImageNet top-1/top-5 with the LRN (Sec. 3.3) and
overlapping-pooling (Sec. 3.4) ablations, and Fig. 1 on CIFAR-10.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision

from implementations.alexnet import alexnet, four_layer_cnn, neurons_per_layer
from pipelines.shared.common import map_seeds
from pipelines.shared.data import digits, to_tensors, torchvision_dataset
from pipelines.shared.imagenet import imagenet_top1_top5
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.train import accuracy, make_optimizer, seed_everything

CFG: dict = {}  # the stage's settings, set before forking so map_seeds' workers see them


# ------------------------------------------------------------------------------------------- Fig. 1, Sec. 4.2
def iterations_to_train_error(model, X, y, *, target: float, max_iters: int, batch_size: int, lr: float,
                              eval_every: int, seed: int, device: str = "cpu") -> int:
    """SGD (momentum 0.9, no regularisation, as Fig. 1) until the whole training set's error is <= target.

    Counted in iterations, evaluated every `eval_every` (an epoch is too coarse on a small data set).
    Returns max_iters + eval_every when the target is never reached (a censored value, reported as such).
    """
    gen = seed_everything(seed)
    opt = make_optimizer(model.parameters(), lr=lr, momentum=0.9)
    perm, pos = torch.randperm(len(y), generator=gen), 0
    for it in range(1, max_iters + 1):
        if pos + batch_size > len(y):
            perm, pos = torch.randperm(len(y), generator=gen), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        model.train()
        loss = F.cross_entropy(model(X[idx].to(device)), y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % eval_every == 0 and 1 - accuracy(model, X, y, device=device) <= target:
            return it
    return max_iters + eval_every


def relu_vs_tanh(seed: int) -> dict:
    c = CFG
    (Xtr, ytr), _ = digits(split_seed=seed)
    out = {}
    for act in ("relu", "tanh"):
        seed_everything(seed)
        model = four_layer_cnn(activation=act, width=c["width"], hidden=c["hidden"])
        out[act] = iterations_to_train_error(model, Xtr, ytr, target=c["target_error"], max_iters=c["max_iters"],
                                             batch_size=c["batch_size"], lr=c["lr"][act], eval_every=c["eval_every"],
                                             seed=seed)
    return out


def dropout_arms(seed: int) -> dict:
    """Sec. 4.2 on 300 training digits: train/test accuracy and iterations to fit the training set, +-dropout."""
    c = CFG
    (Xtr, ytr), (Xte, yte) = digits(split_seed=seed, test_fraction=1 - c["n_train"] / 1797)
    out = {}
    for name, p in (("plain", 0.0), ("dropout", 0.5)):
        seed_everything(seed)
        model = four_layer_cnn(width=c["width"], hidden=c["hidden"], dropout=p)
        iters = iterations_to_train_error(model, Xtr, ytr, target=0.0, max_iters=c["max_iters_fit"],
                                          batch_size=c["batch_size"], lr=c["lr"]["relu"], eval_every=c["eval_every"],
                                          seed=seed)
        out[name] = {"iters_to_fit": iters, "train_acc": accuracy(model, Xtr, ytr), "test_acc": accuracy(model, Xte, yte)}
    return out


def structure() -> dict:
    two_gpu = on_meta(alexnet)
    tv = on_meta(lambda: torchvision.models.alexnet(weights=None))
    neurons = neurons_per_layer(two_gpu)
    layers = list(two_gpu.modules())
    return {
        "param_count_alexnet_two_gpu": count_params(two_gpu),
        "param_count_torchvision_alexnet": count_params(tv),
        "conv_layers": sum(isinstance(m, torch.nn.Conv2d) for m in layers),
        "fc_layers": sum(isinstance(m, torch.nn.Linear) for m in layers),
        "neurons_total": sum(neurons),
        **{f"neurons_{name}": n for name, n in zip(("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"), neurons)},
    }


def measure(cfg: dict, run) -> dict:
    CFG.clear()
    CFG.update(cfg)
    metrics = structure()
    if run.profile == "full":
        return measure_full(cfg, run, metrics)
    seeds = run.seeds(cfg["seeds"])
    speed = map_seeds(relu_vs_tanh, seeds)
    fits = map_seeds(dropout_arms, seeds)
    gap = lambda r: r["train_acc"] - r["test_acc"]  # noqa: E731
    metrics.update({
        "iters_to_25pct_train_error_relu": [s["relu"] for s in speed],
        "iters_to_25pct_train_error_tanh": [s["tanh"] for s in speed],
        "speedup_relu_over_tanh": [s["tanh"] / s["relu"] for s in speed],
        "overfit_gap_plain": [gap(f["plain"]) for f in fits],
        "overfit_gap_dropout": [gap(f["dropout"]) for f in fits],
        "overfit_gap_plain_minus_dropout": [gap(f["plain"]) - gap(f["dropout"]) for f in fits],
        "test_acc_dropout_minus_plain": [f["dropout"]["test_acc"] - f["plain"]["test_acc"] for f in fits],
        "iters_to_fit_ratio_dropout_over_plain": [f["dropout"]["iters_to_fit"] / f["plain"]["iters_to_fit"] for f in fits],
    })
    setting = {
        "structure": "two-GPU AlexNet of Sec. 3.5 (groups=2) and torchvision's alexnet, built on the meta device, 227x227 input",
        "data": "sklearn digits 8x8 (1,258 train / 539 test for Fig. 1; 300 train / 1,497 test for dropout), split seeded by the seed",
        "model": f"four-layer CNN (2 conv + 2 FC), width {cfg['width']}, hidden {cfg['hidden']}",
        "fig1": f"SGD momentum 0.9, batch {cfg['batch_size']}, lr {cfg['lr']}, no regularisation; iterations until the "
                f"training-set error <= {cfg['target_error']} (checked every {cfg['eval_every']}, cap {cfg['max_iters']})",
        "dropout": f"dropout 0.5 before both FC layers vs none; iterations until 0 training error (cap {cfg['max_iters_fit']})",
    }
    return {"seeds": seeds, "metrics": metrics, "setting": setting}


# Secs. 3.3 / 3.4 ablations of the two-GPU network, each trained on ImageNet with the same recipe and seed
IMAGENET_ARMS = {"baseline": {}, "no_lrn": {"lrn": False}, "non_overlapping_pool": {"overlapping_pool": False}}


def imagenet_ablations(cfg: dict, run) -> dict:
    """Top-1/top-5 error of the two-GPU network and how much LRN and overlapping pooling lower them, per seed."""
    err = {arm: [] for arm in IMAGENET_ARMS}
    for seed in cfg["seeds_imagenet"]:
        for arm, knobs in IMAGENET_ARMS.items():
            seed_everything(seed)
            err[arm].append(imagenet_top1_top5(alexnet(**knobs), cfg["imagenet"], run, image_size=227))
    metrics = {}
    for k in ("top1_error", "top5_error"):
        metrics[f"imagenet_{k}"] = [r[k] for r in err["baseline"]]
        # "X reduces our top-1 and top-5 error rates by ...": the ablated net's error minus the paper's net's
        metrics[f"imagenet_{k}_reduction_by_lrn"] = [a[k] - b[k] for a, b in zip(err["no_lrn"], err["baseline"])]
        metrics[f"imagenet_{k}_reduction_by_overlapping_pool"] = [
            a[k] - b[k] for a, b in zip(err["non_overlapping_pool"], err["baseline"])]
    return metrics


def measure_full(cfg: dict, run, metrics: dict) -> dict:
    """ImageNet with the two-GPU network and its LRN / pooling ablations (paired by seed: days of GPU time each),
    and Fig. 1 on CIFAR-10 over seeds."""
    from torchvision import transforms as T

    metrics.update(imagenet_ablations(cfg, run))
    tf = T.Compose([T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    X, y = to_tensors(torchvision_dataset("CIFAR10", train=True, transform=tf))
    c = cfg["fig1"]
    ratios = []
    for seed in cfg["seeds_fig1"]:
        iters = {}
        for act in ("relu", "tanh"):
            seed_everything(seed)
            model = four_layer_cnn(activation=act, in_channels=3, image_size=32, width=c["width"], hidden=c["hidden"]).to(run.device)
            iters[act] = iterations_to_train_error(model, X, y, target=0.25, max_iters=c["max_iters"],
                                                   batch_size=c["batch_size"], lr=c["lr"][act],
                                                   eval_every=c["eval_every"], seed=seed, device=run.device)
        ratios.append(iters["tanh"] / iters["relu"])
    metrics["speedup_relu_over_tanh_cifar10"] = ratios
    setting = {"data": "ImageNet ILSVRC-2012 train/val folders; CIFAR-10 (torchvision download)",
               "imagenet": cfg["imagenet"], "imagenet_seeds": cfg["seeds_imagenet"],
               "imagenet_arms": "two-GPU AlexNet; without LRN (Sec. 3.3); with z=2, s=2 pooling (Sec. 3.4)", "fig1": c}
    return {"seeds": cfg["seeds_fig1"], "metrics": metrics, "setting": setting}
