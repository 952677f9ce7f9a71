"""Konečný et al. 2016: unbiased quantizer, rotation vs quantization error, bit accounting, and FedAvg on
non-IID clients with full, sketched, random-mask and low-rank updates."""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from implementations import federated_learning as fl
from pipelines.shared.common import map_seeds
from pipelines.shared.data import digits, torchvision_dataset, to_tensors
from pipelines.shared.train import accuracy


def quantizer_unbiased_max_z(d: int, draws: int, seed: int) -> float:
    """Monte Carlo check of E[Q(h)] = h: the largest |z-score| of the per-coordinate mean of `draws` 1-bit quantizations.

    The z-score uses the exact sd of a mean of two-level draws; h_min and h_max themselves are quantized
    deterministically (sd 0) and must come back exactly, else the score is infinite.
    """
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(d, generator=g)
    lower, upper, p = fl.quantize_levels(h, 1)
    total = torch.zeros(d, dtype=torch.float64)
    for chunk in torch.tensor_split(torch.arange(draws), max(1, draws // 500)):
        total += fl.stochastic_quantize(h.expand(len(chunk), d), 1, g).double().sum(0)
    err = total / draws - h.double()
    sd = ((upper - lower) * torch.sqrt(p * (1 - p))).double() / math.sqrt(draws)
    random_part = sd > 0
    if (err[~random_part].abs() > 1e-6).any():
        return math.inf
    return float((err[random_part] / sd[random_part]).abs().max())


def rotation_error_ratio(d: int, nonzeros: int, draws: int, seed: int, bits: int = 1) -> float:
    """MSE of b-bit quantization without / with the Hadamard rotation, for a sparse Gaussian update (Sec. 3)."""
    g = torch.Generator().manual_seed(seed)
    err_plain = err_rot = 0.0
    for _ in range(draws):
        h = torch.zeros(d)
        h[torch.randperm(d, generator=g)[:nonzeros]] = torch.randn(nonzeros, generator=g)
        err_plain += float(((fl.stochastic_quantize(h, bits, g) - h) ** 2).sum())
        est, _ = fl.sketch(h, fraction=1.0, bits=bits, rotation=True, generator=g)
        err_rot += float(((est - h) ** 2).sum())
    return err_plain / err_rot


def load_data(cfg: dict):
    """(train, validation, test) tensors. The validation split is held out of the training split (never given to a
    client): it picks the learning rate of the structured arms; the test split only scores."""
    if cfg["data"] == "digits":
        (Xtr, ytr), (Xte, yte) = digits(flatten=True, test_fraction=0.3, split_seed=0)
    else:
        import torchvision.transforms as T

        tf = T.Compose([T.ToTensor(), T.Normalize((0.5,) * cfg["in_channels"], (0.5,) * cfg["in_channels"])])
        Xtr, ytr = to_tensors(torchvision_dataset(cfg["data"], train=True, transform=tf), cfg.get("train_limit"))
        Xte, yte = to_tensors(torchvision_dataset(cfg["data"], train=False, transform=tf), cfg.get("test_limit"))
    perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(12345))
    n_val = int(round(cfg["val_fraction"] * len(ytr)))
    val, tr = perm[:n_val], perm[n_val:]
    return Xtr[tr], ytr[tr], Xtr[val], ytr[val], Xte, yte


def non_iid_clients(y: torch.Tensor, num_clients: int, shards_per_client: int, seed: int) -> list[torch.Tensor]:
    """McMahan et al.'s pathological non-IID split: sort by label, cut into shards, deal `shards_per_client` to each."""
    order = torch.argsort(y, stable=True)
    shards = torch.tensor_split(order, num_clients * shards_per_client)
    deal = np.random.default_rng(seed).permutation(len(shards)).reshape(num_clients, shards_per_client)
    return [torch.cat([shards[s] for s in row]) for row in deal]


def build_model(cfg: dict):
    if cfg["model"] == "mlp":
        return fl.mlp(sizes=tuple(cfg["sizes"]))
    return fl.cnn(num_classes=10, in_channels=cfg["in_channels"], width=cfg["width"])


def arm_config(cfg: dict, arm: str) -> dict:
    """Keyword arguments of client_update / decode_update for an arm."""
    if arm == "sketch":
        return {"structure": "full", "fraction": 1.0,
                "sketch_cfg": {"fraction": cfg["sketch_fraction"], "bits": cfg["sketch_bits"], "rotation": True}}
    return {"structure": arm, "fraction": cfg["structured_fraction"] if arm != "full" else 1.0, "sketch_cfg": None}


def train_federated(cfg: dict, job: tuple) -> dict:
    """One FedAvg run of `arm` at learning rate `lr` from `seed`: validation and test accuracy of the global model
    averaged over the last `eval_last_rounds` rounds (a smoother end point than one round), the mean bits of the
    messages the clients sent (all tensors, and weight matrices only), and how far the server's decoded update
    lies from the client's true one (relative L2 error over the weight matrices)."""
    arm, lr, seed = job
    device = cfg.get("device", "cpu")
    Xtr, ytr, Xval, yval, Xte, yte = (t.to(device) for t in load_data(cfg))
    torch.manual_seed(seed)
    model = build_model(cfg).to(device)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    shapes = {k: v.shape for k, v in params.items()}
    weights = [k for k, v in params.items() if v.dim() >= 2]
    clients = non_iid_clients(ytr.cpu(), cfg["num_clients"], cfg["shards_per_client"], seed)
    g = torch.Generator().manual_seed(1000 + seed)
    kw = arm_config(cfg, arm)
    bits, weight_bits, rel_err, acc_val, acc_test = [], [], [], [], []
    for r in range(cfg["rounds"]):
        chosen = torch.randperm(len(clients), generator=g)[:cfg["clients_per_round"]]
        updates = []
        for c in chosen.tolist():
            idx = clients[c].to(device)
            msg = fl.client_update(model, params, Xtr[idx], ytr[idx], epochs=cfg["local_epochs"], lr=lr,
                                   batch_size=cfg["batch_size"], generator=g, **kw)
            h = fl.decode_update(msg, shapes, **kw)  # the server sees the bytes only
            with torch.no_grad():  # the client's true update (model still holds its local weights), for the record
                true = torch.cat([(dict(model.named_parameters())[k] - params[k]).reshape(-1).cpu() for k in weights])
            got = torch.cat([h[k].reshape(-1) for k in weights])
            rel_err.append(float((got - true).norm() / true.norm().clamp_min(1e-12)))
            updates.append({k: v.to(device) for k, v in h.items()})
            bits.append(msg.bits())
            weight_bits.append(msg.bits(weights))
        params = fl.fedavg_step(params, updates)
        if r >= cfg["rounds"] - cfg["eval_last_rounds"]:  # the global model of each of the last rounds
            with torch.no_grad():
                for k, p in model.named_parameters():
                    p.copy_(params[k])
            acc_val.append(accuracy(model, Xval, yval))
            acc_test.append(accuracy(model, Xte, yte))
    return {"acc_val": float(np.mean(acc_val)), "acc_test": float(np.mean(acc_test)),
            "bits": float(np.mean(bits)), "weight_bits": float(np.mean(weight_bits)),
            "relative_error": float(np.mean(rel_err))}


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "device": run.device}
    seeds = run.seeds(cfg["seeds"])
    metrics: dict = {}
    d = cfg["quant_dim"]
    metrics["quantizer_1bit_max_abs_z"] = quantizer_unbiased_max_z(d, cfg["quant_draws"], seed=0)
    h = torch.randn(d, generator=torch.Generator().manual_seed(0))
    one_bit = fl.encode_quantized(h, 1, torch.Generator().manual_seed(1))
    metrics["compression_1bit_over_float32"] = len(fl.encode_floats(h)) / len(one_bit)  # bytes on the wire
    metrics["rotation_quant_error_ratio"] = rotation_error_ratio(d, cfg["sparse_nonzeros"], cfg["rotation_draws"], 0)

    jobs = [(arm, cfg["lr"], s) for arm in ("full", "sketch") for s in seeds]
    jobs += [(arm, lr, s) for arm in ("mask", "low_rank") for lr in cfg["structured_lrs"] for s in seeds]
    out = dict(zip(jobs, map_seeds(functools.partial(train_federated, cfg), jobs, label="arm/lr/seed")))
    acc = lambda arm, lr: [out[(arm, lr, s)]["acc_test"] for s in seeds]  # noqa: E731
    full, sk = acc("full", cfg["lr"]), acc("sketch", cfg["lr"])
    metrics["acc_full"] = full
    metrics["acc_sketched"] = sk
    metrics["acc_sketched_minus_full"] = [b - a for a, b in zip(full, sk)]
    metrics["sketch_update_relative_error"] = [out[("sketch", cfg["lr"], s)]["relative_error"] for s in seeds]
    first = seeds[0]  # message sizes do not depend on the seed
    full_run, sketch_run = out[("full", cfg["lr"], first)], out[("sketch", cfg["lr"], first)]
    metrics["uplink_bits_per_update_full"] = full_run["bits"]
    metrics["uplink_bits_per_update_sketched"] = sketch_run["bits"]
    metrics["uplink_saving_total"] = full_run["bits"] / sketch_run["bits"]
    metrics["uplink_saving_weight_matrices"] = full_run["weight_bits"] / sketch_run["weight_bits"]
    # the paper reports the best of a learning-rate sweep (Sec. 4): picked per arm and seed on the validation split,
    # then scored on the test split
    best_lr = {arm: [max(cfg["structured_lrs"], key=lambda lr: out[(arm, lr, s)]["acc_val"]) for s in seeds]
               for arm in ("mask", "low_rank")}
    best = {arm: [out[(arm, lr, s)]["acc_test"] for lr, s in zip(best_lr[arm], seeds)] for arm in best_lr}
    metrics["acc_mask_best_lr"] = best["mask"]
    metrics["acc_low_rank_best_lr"] = best["low_rank"]
    metrics["acc_mask_minus_low_rank"] = [a - b for a, b in zip(best["mask"], best["low_rank"])]
    metrics["uplink_bits_per_update_mask"] = out[("mask", cfg["structured_lrs"][0], first)]["bits"]
    metrics["uplink_bits_per_update_low_rank"] = out[("low_rank", cfg["structured_lrs"][0], first)]["bits"]
    setting = {
        "data": f"{cfg['data']}, non-IID: sorted by label, {cfg['num_clients']} clients x {cfg['shards_per_client']} "
                f"shards; {cfg['val_fraction']:.0%} of the training split held out for validation",
        "model": cfg["model"], "rounds": cfg["rounds"], "clients_per_round": cfg["clients_per_round"],
        "local": f"{cfg['local_epochs']} epochs plain SGD, batch {cfg['batch_size']}",
        "lr_full_and_sketch": cfg["lr"], "lr_sweep_structured": cfg["structured_lrs"],
        "best_lr_structured": best_lr,
        "sketch": f"Hadamard rotation, keep {cfg['sketch_fraction']} of coordinates, {cfg['sketch_bits']}-bit quantization "
                  "of weight matrices; biases raw; bits = bytes of the messages the server decodes, plus a 32-bit seed",
        "structured_fraction": cfg["structured_fraction"],
        "quantizer_checks": f"d={d}, {cfg['quant_draws']} draws; rotation: {cfg['sparse_nonzeros']}-sparse Gaussian, "
                            f"{cfg['rotation_draws']} draws, 1 bit",
    }
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
