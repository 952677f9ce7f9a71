"""Dropout (Srivastava et al. 2014) on sklearn's digits with few training examples: dropout vs none (Table 2, Fig. 4),
weight scaling vs Monte-Carlo averaging (Sec. 7.5), regularisers (Table 9), retain probability (Fig. 9), sparsity
(Fig. 8) and tiny data (Fig. 10). Full profile: MNIST, 784-1024-1024-1024-10 ReLU, dropout + max-norm (Table 2).
"""
from __future__ import annotations

import torch

from implementations.dropout import dropout_mlp, max_norm_, monte_carlo_probs, weight_scaled_probs
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.data import digits, to_tensors, torchvision_dataset
from pipelines.shared.train import fit, make_optimizer, seed_everything

CFG: dict = {}


def train(Xtr, ytr, seed: int, *, retain_input=1.0, retain_hidden=1.0, max_norm=None, weight_decay=0.0, cfg=None,
          device="cpu"):
    c = cfg or CFG
    seed_everything(seed)
    model = dropout_mlp(in_features=Xtr.shape[1], hidden=tuple(c["hidden"]), retain_input=retain_input,
                        retain_hidden=retain_hidden)
    opt = make_optimizer(model.parameters(), lr=c["lr"], momentum=c["momentum"], weight_decay=weight_decay)
    after = (lambda m: max_norm_(m, max_norm)) if max_norm else None  # noqa: E731
    fit(model, Xtr, ytr, epochs=c["epochs"], batch_size=c["batch_size"], seed=seed, optimizer=opt, after_step=after,
        device=device)
    return model.cpu()


def error(probs: torch.Tensor, y: torch.Tensor) -> float:
    return (probs.argmax(1) != y).float().mean().item()


@torch.no_grad()
def mean_hidden_activation(model, X) -> float:
    """Fig. 8: mean activation of the last hidden layer (everything but the output layer), test-time network."""
    return model.eval()[:-1](X).mean().item()


def data(n_train: int, seed: int):
    return digits(split_seed=seed, flatten=True, standardize=True, test_fraction=1 - n_train / 1797)


def arms(seed: int) -> dict:
    c = CFG
    (Xtr, ytr), (Xte, yte) = data(c["n_train"], seed)
    p_in, p_h = c["retain_input"], c["retain_hidden"]
    plain = train(Xtr, ytr, seed)
    drop = train(Xtr, ytr, seed, retain_input=p_in, retain_hidden=p_h)
    l2 = train(Xtr, ytr, seed, weight_decay=c["l2"])
    drop_mn = train(Xtr, ytr, seed, retain_input=p_in, retain_hidden=p_h, max_norm=c["max_norm"])
    ws = lambda m: error(weight_scaled_probs(m, Xte), yte)  # noqa: E731
    gen = torch.Generator().manual_seed(seed)
    out = {"plain": ws(plain), "dropout": ws(drop), "l2": ws(l2), "dropout_maxnorm": ws(drop_mn),
           "mc1": error(monte_carlo_probs(drop, Xte, 1, generator=gen), yte),
           "mc50": error(monte_carlo_probs(drop, Xte, 50, generator=gen), yte),
           "act_plain": mean_hidden_activation(plain, Xte), "act_dropout": mean_hidden_activation(drop, Xte)}
    (Xs, ys), (Xst, yst) = data(c["n_tiny"], seed)
    out["tiny_plain"] = error(weight_scaled_probs(train(Xs, ys, seed), Xst), yst)
    out["tiny_dropout"] = error(weight_scaled_probs(train(Xs, ys, seed, retain_input=p_in, retain_hidden=p_h), Xst), yst)
    if seed < c["sweep_seeds"]:  # Fig. 9: vary the hidden units' retain probability, inputs at p_in
        out["sweep"] = {p: (out["dropout"] if p == p_h else ws(train(Xtr, ytr, seed, retain_input=p_in, retain_hidden=p)))
                        for p in c["sweep"]}
    return out


def measure(cfg: dict, run) -> dict:
    CFG.clear()
    CFG.update(cfg)
    if run.profile == "full":
        return measure_full(cfg, run)
    seeds = run.seeds(cfg["seeds"])
    res = map_seeds(arms, seeds)
    col = lambda k: [r[k] for r in res]  # noqa: E731
    diff = lambda a, b: [r[a] - r[b] for r in res]  # noqa: E731
    sweep = [r["sweep"] for r in res if "sweep" in r]
    metrics = {
        "test_error_plain": col("plain"), "test_error_dropout": col("dropout"), "test_error_l2": col("l2"),
        "test_error_dropout_maxnorm": col("dropout_maxnorm"),
        "test_error_dropout_minus_plain": diff("dropout", "plain"),
        "test_error_dropout_maxnorm_minus_l2": diff("dropout_maxnorm", "l2"),
        "test_error_mc50_minus_weight_scaling": diff("mc50", "dropout"),
        "test_error_mc1_minus_weight_scaling": diff("mc1", "dropout"),
        "mean_hidden_activation_dropout_minus_plain": diff("act_dropout", "act_plain"),
        "test_error_dropout_minus_plain_tiny_data": diff("tiny_dropout", "tiny_plain"),
        # Fig. 9: for each seed, how far the worst p in [0.4, 0.8] is from that seed's best p
        "plateau_worst_minus_best_error": [max(s[p] for p in s if 0.4 <= p <= 0.8) - min(s.values()) for s in sweep],
        "test_error_retain_0p1_minus_0p5": [s[0.1] - s[0.5] for s in sweep],
        **{f"test_error_retain_{p}".replace(".", "p"): [s[p] for s in sweep] for p in cfg["sweep"]},
    }
    setting = {
        "data": f"sklearn digits flattened (64 features, standardised), {cfg['n_train']} train / {1797 - cfg['n_train']} "
                f"test (and {cfg['n_tiny']} train for Fig. 10), split seeded by the seed",
        "model": f"MLP 64-{'-'.join(map(str, cfg['hidden']))}-10 ReLU; dropout retain p {cfg['retain_input']} (input) / "
                 f"{cfg['retain_hidden']} (hidden); max-norm c={cfg['max_norm']}; L2 weight decay {cfg['l2']}",
        "training": f"SGD lr {cfg['lr']} momentum {cfg['momentum']}, batch {cfg['batch_size']}, {cfg['epochs']} epochs",
        "evaluation": "weight scaling = eval mode (torch's inverted dropout); Monte-Carlo = mean softmax of k=1 / 50 "
                      "sampled thinned nets; hidden activation = mean of the last hidden layer on the test set",
        "sweep": f"hidden retain p in {cfg['sweep']} on seeds 0..{cfg['sweep_seeds'] - 1}",
    }
    return {"seeds": seeds, "metrics": metrics, "setting": setting}


def measure_full(cfg: dict, run) -> dict:
    """Table 2's MNIST rows: standard 3x1024 ReLU net vs dropout + max-norm, test error, over seeds."""
    from torchvision import transforms as T

    Xtr, ytr = to_tensors(torchvision_dataset("MNIST", train=True, transform=T.ToTensor()))
    Xte, yte = to_tensors(torchvision_dataset("MNIST", train=False, transform=T.ToTensor()))
    Xtr, Xte = Xtr.flatten(1), Xte.flatten(1)
    plain, drop = [], []
    for seed in progress(cfg["seeds_full"], desc="seeds", enabled=run.show_progress):
        plain.append(error(weight_scaled_probs(train(Xtr, ytr, seed, device=run.device), Xte), yte))
        model = train(Xtr, ytr, seed, retain_input=cfg["retain_input"], retain_hidden=cfg["retain_hidden"],
                      max_norm=cfg["max_norm"], device=run.device)
        drop.append(error(weight_scaled_probs(model, Xte), yte))
    metrics = {"mnist_test_error_plain": plain, "mnist_test_error_dropout_maxnorm": drop,
               "mnist_test_error_dropout_maxnorm_minus_plain": [d - p for d, p in zip(drop, plain)]}
    setting = {"data": "MNIST 60,000 train / 10,000 test (torchvision download), pixels in [0, 1]",
               "model": f"784-{'-'.join(map(str, cfg['hidden']))}-10 ReLU", "training": {k: cfg[k] for k in
               ("lr", "momentum", "batch_size", "epochs", "max_norm", "retain_input", "retain_hidden")}}
    return {"seeds": cfg["seeds_full"], "metrics": metrics, "setting": setting}
