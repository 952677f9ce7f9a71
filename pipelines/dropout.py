"""Dropout (Srivastava et al. 2014) on sklearn's digits with few training examples: dropout vs none (Table 2, Fig. 4),
dropout + max-norm vs L2 (Table 9), weight scaling vs Monte-Carlo averaging (Sec. 7.5), sparsity (Fig. 8), tiny data
(Fig. 10) and the hidden units' retain probability (Fig. 9a), each p with its own learning rate picked on a validation
split and max-norm as the paper trains dropout nets (Sec. 5.1). Full profile: MNIST, 784-1024-1024-1024-10 ReLU,
dropout + max-norm vs the same net without (Table 2).

Every seed draws its own split of the 1,797 digits into n_train training, n_val validation and the rest test digits
(standardised with the training split's statistics); the same seed initialises every arm and orders its batches.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from implementations.dropout import dropout_mlp, max_norm_, monte_carlo_probs, weight_scaled_probs
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.data import to_tensors, torchvision_dataset
from pipelines.shared.train import fit, make_optimizer, seed_everything


def train(cfg: dict, Xtr, ytr, seed: int, *, retain_input=1.0, retain_hidden=1.0, max_norm=None, weight_decay=0.0,
          lr=None, device="cpu"):
    seed_everything(seed)
    model = dropout_mlp(in_features=Xtr.shape[1], hidden=tuple(cfg["hidden"]), retain_input=retain_input,
                        retain_hidden=retain_hidden)
    opt = make_optimizer(model.parameters(), lr=lr or cfg["lr"], momentum=cfg["momentum"], weight_decay=weight_decay)
    after = (lambda m: max_norm_(m, max_norm)) if max_norm else None  # noqa: E731
    fit(model, Xtr, ytr, epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=seed, optimizer=opt,
        after_step=after, device=device)
    return model.cpu()


def error(probs: torch.Tensor, y: torch.Tensor) -> float:
    return (probs.argmax(1) != y).float().mean().item()


@torch.no_grad()
def mean_hidden_activation(model, X) -> float:
    """Fig. 8: mean activation of the last hidden layer (everything but the output layer), test-time network."""
    return model.eval()[:-1](X).mean().item()


@torch.no_grad()
def rows_at_bound(model, c: float) -> float:
    """The fraction of units whose incoming weight vector sits on the max-norm ball (the constraint acts on them)."""
    norms = torch.cat([m.weight.norm(dim=1) for m in model if isinstance(m, torch.nn.Linear)])
    return (norms >= c * (1 - 1e-4)).float().mean().item()


def data(seed: int, n_train: int, n_val: int):
    """(Xtr, ytr), (Xval, yval), (Xte, yte): a seeded split of the 1,797 flattened digits, standardised with the
    training split's statistics. A pixel that barely varies among the training digits (the border is blank in most)
    is only centred: dividing by its near-zero spread would blow a test digit's stray ink up a million-fold."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.tensor(d.data, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    tr, va, te = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    mu, sd = X[tr].mean(0, keepdim=True), X[tr].std(0, keepdim=True).clamp_min(1.0)  # pixels are 0..16
    X = (X - mu) / sd
    return (X[tr], y[tr]), (X[va], y[va]), (X[te], y[te])


def main_arms(cfg: dict, device: str, seed: int) -> dict:
    """Table 2 / Fig. 4 (dropout vs none), Table 9 (dropout + max-norm vs L2), Sec. 7.5 (Monte Carlo), Fig. 8."""
    (Xtr, ytr), _, (Xte, yte) = data(seed, cfg["n_train"], cfg["n_val"])
    p_in, p_h = cfg["retain_input"], cfg["retain_hidden"]
    run = functools.partial(train, cfg, Xtr, ytr, seed, device=device)
    plain, drop = run(), run(retain_input=p_in, retain_hidden=p_h)
    l2, drop_mn = run(weight_decay=cfg["l2"]), run(retain_input=p_in, retain_hidden=p_h, max_norm=cfg["max_norm"])
    ws = lambda m: error(weight_scaled_probs(m, Xte), yte)  # noqa: E731
    gen = torch.Generator().manual_seed(seed)
    return {"plain": ws(plain), "dropout": ws(drop), "l2": ws(l2), "dropout_maxnorm": ws(drop_mn),
            "rows_at_max_norm": rows_at_bound(drop_mn, cfg["max_norm"]),
            "mc1": error(monte_carlo_probs(drop, Xte, 1, generator=gen), yte),
            "mc50": error(monte_carlo_probs(drop, Xte, 50, generator=gen), yte),
            "act_plain": mean_hidden_activation(plain, Xte), "act_dropout": mean_hidden_activation(drop, Xte)}


def tiny_arms(cfg: dict, device: str, seed: int) -> dict:
    """Fig. 10: the first n_tiny training digits of the seed's split, the same test digits, dropout vs none."""
    (Xtr, ytr), _, (Xte, yte) = data(seed, cfg["n_train"], cfg["n_val"])
    Xs, ys = Xtr[:cfg["n_tiny"]], ytr[:cfg["n_tiny"]]
    plain = train(cfg, Xs, ys, seed, device=device)
    drop = train(cfg, Xs, ys, seed, retain_input=cfg["retain_input"], retain_hidden=cfg["retain_hidden"], device=device)
    return {"plain": error(weight_scaled_probs(plain, Xte), yte), "dropout": error(weight_scaled_probs(drop, Xte), yte),
            "act_plain": mean_hidden_activation(plain, Xte), "act_dropout": mean_hidden_activation(drop, Xte)}


def sweep_arms(cfg: dict, device: str, seed: int) -> dict:
    """Fig. 9a: hidden retain p swept with n fixed, inputs at retain_input, max-norm on every net (Sec. 5.1). Each p
    gets the learning rate of cfg['sweep_lrs'] with the lowest validation error (torch's inverted dropout scales kept
    units by 1/p, so the step size that trains p = 0.1 is far smaller than the one for p = 0.8)."""
    (Xtr, ytr), (Xva, yva), (Xte, yte) = data(seed, cfg["n_train"], cfg["n_val"])
    out = {}
    for p in cfg["sweep"]:
        best = None
        for lr in cfg["sweep_lrs"]:
            m = train(cfg, Xtr, ytr, seed, retain_input=cfg["retain_input"], retain_hidden=p, max_norm=cfg["max_norm"],
                      lr=lr, device=device)
            val = error(weight_scaled_probs(m, Xva), yva)
            if best is None or val < best[0]:
                best = (val, lr, m)
        _, lr, m = best
        out[p] = {"test": error(weight_scaled_probs(m, Xte), yte), "train": error(weight_scaled_probs(m, Xtr), ytr),
                  "lr": lr}
    return out


def job(cfg: dict, device: str, item: tuple[str, int]):
    kind, seed = item
    return {"main": main_arms, "tiny": tiny_arms, "sweep": sweep_arms}[kind](cfg, device, seed)


def key(p: float) -> str:
    return f"{p:g}".replace(".", "p")


def measure(cfg: dict, run) -> dict:
    if run.profile == "full":
        return measure_full(cfg, run)
    seeds, tiny_seeds, sweep_seeds = run.seeds(cfg["seeds"]), run.seeds(cfg["tiny_seeds"]), run.seeds(cfg["sweep_seeds"])
    jobs = [("sweep", s) for s in sweep_seeds] + [("main", s) for s in seeds] + [("tiny", s) for s in tiny_seeds]
    out = dict(zip(jobs, map_seeds(functools.partial(job, cfg, run.device), jobs, label="(arms, seed)")))
    res = [out[("main", s)] for s in seeds]
    tiny = [out[("tiny", s)] for s in tiny_seeds]
    sweep = [out[("sweep", s)] for s in sweep_seeds]
    col = lambda rs, k: [r[k] for r in rs]  # noqa: E731
    diff = lambda rs, a, b: [r[a] - r[b] for r in rs]  # noqa: E731
    p_h, lo, hi, small = cfg["retain_hidden"], min(cfg["plateau"]), max(cfg["plateau"]), min(cfg["sweep"])
    metrics = {
        "test_error_plain": col(res, "plain"), "test_error_dropout": col(res, "dropout"),
        "test_error_l2": col(res, "l2"), "test_error_dropout_maxnorm": col(res, "dropout_maxnorm"),
        "test_error_dropout_minus_plain": diff(res, "dropout", "plain"),
        "test_error_dropout_maxnorm_minus_l2": diff(res, "dropout_maxnorm", "l2"),
        "fraction_of_units_at_max_norm": col(res, "rows_at_max_norm"),
        "test_error_mc50_minus_weight_scaling": diff(res, "mc50", "dropout"),
        "test_error_mc1_minus_weight_scaling": diff(res, "mc1", "dropout"),
        "mean_hidden_activation_dropout_minus_plain": diff(res, "act_dropout", "act_plain"),
        "test_error_plain_tiny_data": col(tiny, "plain"), "test_error_dropout_tiny_data": col(tiny, "dropout"),
        "test_error_dropout_minus_plain_tiny_data": diff(tiny, "dropout", "plain"),
        "mean_hidden_activation_dropout_minus_plain_tiny_data": diff(tiny, "act_dropout", "act_plain"),
        # Fig. 9a, each p at its validation-picked learning rate
        f"test_error_retain_{key(hi)}_minus_{key(lo)}": [s[hi]["test"] - s[lo]["test"] for s in sweep],
        f"test_error_retain_{key(small)}_minus_{key(p_h)}": [s[small]["test"] - s[p_h]["test"] for s in sweep],
        f"train_error_retain_{key(small)}_minus_{key(p_h)}": [s[small]["train"] - s[p_h]["train"] for s in sweep],
        "test_accuracy_worst_retain_p": [min(1 - s[p]["test"] for p in s) for s in sweep],
        **{f"test_error_retain_{key(p)}": [s[p]["test"] for s in sweep] for p in cfg["sweep"]},
        **{f"train_error_retain_{key(p)}": [s[p]["train"] for s in sweep] for p in cfg["sweep"]},
    }
    n_test = 1797 - cfg["n_train"] - cfg["n_val"]
    setting = {
        "data": f"sklearn digits flattened (64 features, standardised), per seed {cfg['n_train']} train / "
                f"{cfg['n_val']} validation / {n_test} test (Fig. 10: the first {cfg['n_tiny']} training digits)",
        "model": f"MLP 64-{'-'.join(map(str, cfg['hidden']))}-10 ReLU; dropout retain p {cfg['retain_input']} (input) / "
                 f"{cfg['retain_hidden']} (hidden); max-norm c={cfg['max_norm']}; L2 weight decay {cfg['l2']}",
        "training": f"SGD lr {cfg['lr']} momentum {cfg['momentum']}, batch {cfg['batch_size']}, {cfg['epochs']} epochs",
        "evaluation": "weight scaling = eval mode (torch's inverted dropout); Monte-Carlo = mean softmax of k=1 / 50 "
                      "sampled thinned nets; hidden activation = mean of the last hidden layer on the test set",
        "sweep": f"hidden retain p in {cfg['sweep']} (inputs {cfg['retain_input']}), max-norm c={cfg['max_norm']}, lr "
                 f"per p and seed picked on validation from {cfg['sweep_lrs']}",
        "sweep_lr_picked": {key(p): [s[p]["lr"] for s in sweep] for p in cfg["sweep"]},
        "seeds": {"main": seeds, "tiny": tiny_seeds, "sweep": sweep_seeds},
    }
    return {"seeds": seeds, "metrics": metrics, "setting": setting}


def measure_full(cfg: dict, run) -> dict:
    """Table 2's MNIST rows: standard 3x1024 ReLU net vs dropout + max-norm, test error, over seeds."""
    from torchvision import transforms as T

    Xtr, ytr = to_tensors(torchvision_dataset("MNIST", train=True, transform=T.ToTensor()))
    Xte, yte = to_tensors(torchvision_dataset("MNIST", train=False, transform=T.ToTensor()))
    Xtr, Xte = Xtr.flatten(1), Xte.flatten(1)
    seeds = run.seeds(cfg["seeds_full"])
    plain, drop = [], []
    for seed in progress(seeds, desc="seeds", enabled=run.show_progress):
        plain.append(error(weight_scaled_probs(train(cfg, Xtr, ytr, seed, device=run.device), Xte), yte))
        model = train(cfg, Xtr, ytr, seed, retain_input=cfg["retain_input"], retain_hidden=cfg["retain_hidden"],
                      max_norm=cfg["max_norm"], device=run.device)
        drop.append(error(weight_scaled_probs(model, Xte), yte))
    metrics = {"mnist_test_error_plain": plain, "mnist_test_error_dropout_maxnorm": drop,
               "mnist_test_error_dropout_maxnorm_minus_plain": [d - p for d, p in zip(drop, plain)]}
    setting = {"data": "MNIST 60,000 train / 10,000 test (torchvision download), pixels in [0, 1]",
               "model": f"784-{'-'.join(map(str, cfg['hidden']))}-10 ReLU", "training": {k: cfg[k] for k in
               ("lr", "momentum", "batch_size", "epochs", "max_norm", "retain_input", "retain_hidden")}}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
