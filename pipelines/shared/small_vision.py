"""Small image classification held in memory: sklearn's digits or CIFAR as standardised tensors, a ReLU MLP, and
digits test accuracy of a small CNN.

Used by cyclical_lr, one_cycle and class_imbalance (data, MLP) and by vgg and mobilenet (`digits_accuracy`).
"""
from __future__ import annotations

import torch
from torch import nn

from pipelines.shared.data import digits, to_tensors, torchvision_dataset
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything


def cifar_data(name: str = "CIFAR10", limit: int | None = None):
    """CIFAR-10/100 as tensors, standardised per channel with the training set's statistics (full profile)."""
    import torchvision.transforms as T

    Xtr, ytr = to_tensors(torchvision_dataset(name, train=True, transform=T.ToTensor()), limit)
    Xte, yte = to_tensors(torchvision_dataset(name, train=False, transform=T.ToTensor()), limit)
    mu, sd = Xtr.mean((0, 2, 3), keepdim=True), Xtr.std((0, 2, 3), keepdim=True)
    return (Xtr - mu) / sd, ytr, (Xte - mu) / sd, yte


def digits_or_cifar(cfg: dict):
    """(Xtr, ytr, Xte, yte): cfg['dataset'] from torchvision when cfg['data'] is "torchvision", else standardised,
    flattened digits with a fixed 70/30 split (the seeds vary the initialisation and batch order)."""
    if cfg["data"] == "torchvision":
        return cifar_data(cfg["dataset"])
    (Xtr, ytr), (Xte, yte) = digits(split_seed=0, standardize=True, flatten=True)
    return Xtr, ytr, Xte, yte


def digits_or_cifar_with_val(cfg: dict):
    """(Xtr, ytr, Xval, yval, Xte, yte), made once before the seed workers fork. digits: the shared 70/30 split
    (split seed 0) with cfg['n_val'] training digits held out for validation, standardised with the remaining
    training digits' statistics (a pixel that barely varies there is only centred). CIFAR: the last n_val
    training images are the validation set."""
    if cfg["data"] == "torchvision":
        Xtr, ytr, Xte, yte = cifar_data(cfg["dataset"])
        n = cfg["n_val"]
        return Xtr[:-n], ytr[:-n], Xtr[-n:], ytr[-n:], Xte, yte
    (X, y), (Xte, yte) = digits(split_seed=0, flatten=True)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    va, tr = perm[:cfg["n_val"]], perm[cfg["n_val"]:]
    mu, sd = X[tr].mean(0, keepdim=True), X[tr].std(0, keepdim=True).clamp_min(1 / 16)  # pixels are in [0, 1]
    z = lambda a: (a - mu) / sd  # noqa: E731
    return z(X[tr]), y[tr], z(X[va]), y[va], z(Xte), yte


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers of the given widths with ReLUs between them (none after the last)."""
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def digits_accuracy(build, seed: int, cfg: dict, *, image_size: int | None = None) -> float:
    """Test accuracy on digits (seeded split) of the model `build()` makes, trained with SGD momentum 0.9."""
    (Xtr, ytr), (Xte, yte) = digits(split_seed=seed, image_size=image_size)
    seed_everything(seed)
    model = build()
    opt = make_optimizer(model.parameters(), lr=cfg["lr"], momentum=0.9, weight_decay=cfg.get("weight_decay", 0.0))
    fit(model, Xtr, ytr, epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=seed, optimizer=opt)
    return accuracy(model, Xte, yte)
