"""Konečný et al. 2016: unbiased quantizer, rotation vs quantization error, bit accounting, and FedAvg on
non-IID clients with full, sketched, random-mask and low-rank updates."""
from __future__ import annotations

import math

import numpy as np
import torch

from implementations import federated_learning as fl
from pipelines.shared.common import map_seeds
from pipelines.shared.data import digits, torchvision_dataset, to_tensors
from pipelines.shared.train import accuracy

CFG: dict = {}  # the stage's config, set before the forked workers start


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
    if cfg["data"] == "digits":
        (Xtr, ytr), (Xte, yte) = digits(flatten=True, test_fraction=0.3, split_seed=0)
        return Xtr, ytr, Xte, yte
    import torchvision.transforms as T

    tf = T.Compose([T.ToTensor(), T.Normalize((0.5,) * cfg["in_channels"], (0.5,) * cfg["in_channels"])])
    Xtr, ytr = to_tensors(torchvision_dataset(cfg["data"], train=True, transform=tf), cfg.get("train_limit"))
    Xte, yte = to_tensors(torchvision_dataset(cfg["data"], train=False, transform=tf), cfg.get("test_limit"))
    return Xtr, ytr, Xte, yte


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


def train_federated(args) -> dict:
    """One FedAvg run of `arm` at learning rate `lr` with `seed`: test accuracy and mean uplink bits per client update."""
    arm, lr, seed = args
    cfg = CFG
    Xtr, ytr, Xte, yte = load_data(cfg)
    torch.manual_seed(seed)
    model = build_model(cfg)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    clients = non_iid_clients(ytr, cfg["num_clients"], cfg["shards_per_client"], seed)
    g = torch.Generator().manual_seed(1000 + seed)
    structure, sketch_cfg = "full", None
    if arm in ("mask", "low_rank"):
        structure = arm
    elif arm == "sketch":
        sketch_cfg = {"fraction": cfg["sketch_fraction"], "bits": cfg["sketch_bits"], "rotation": True}
    bits = []
    for _ in range(cfg["rounds"]):
        chosen = torch.randperm(len(clients), generator=g)[:cfg["clients_per_round"]]
        updates = []
        for c in chosen.tolist():
            idx = clients[c]
            h, b = fl.client_update(model, params, Xtr[idx], ytr[idx], structure=structure,
                                    fraction=cfg["structured_fraction"], sketch_cfg=sketch_cfg,
                                    epochs=cfg["local_epochs"], lr=lr, batch_size=cfg["batch_size"], generator=g)
            updates.append(h)
            bits.append(b)
        params = fl.fedavg_step(params, updates)
    with torch.no_grad():
        for k, p in model.named_parameters():
            p.copy_(params[k])
    return {"acc": accuracy(model, Xte, yte), "bits": float(np.mean(bits))}


def measure(cfg: dict, run) -> dict:
    CFG.clear()
    CFG.update(cfg)
    seeds = run.seeds(cfg["seeds"])
    metrics: dict = {}
    d = cfg["quant_dim"]
    metrics["quantizer_1bit_max_abs_z"] = quantizer_unbiased_max_z(d, cfg["quant_draws"], seed=0)
    metrics["compression_1bit_over_float32"] = d * fl.FLOAT_BITS / fl.quantized_bits(d, 1)
    metrics["rotation_quant_error_ratio"] = rotation_error_ratio(d, cfg["sparse_nonzeros"], cfg["rotation_draws"], 0)
    # Sec. 4.1's "saving factor of 256": 16x from keeping 6.25 % of coordinates times 16x from 2-bit instead of 32-bit
    metrics["sketch_nominal_saving"] = (1 / cfg["sketch_fraction"]) * fl.FLOAT_BITS / cfg["sketch_bits"]

    jobs = [("full", cfg["lr"], s) for s in seeds] + [("sketch", cfg["lr"], s) for s in seeds]
    jobs += [(arm, lr, s) for arm in ("mask", "low_rank") for lr in cfg["structured_lrs"] for s in seeds]
    out = dict(zip(jobs, map_seeds(train_federated, jobs, label="arm/lr/seed")))
    acc = lambda arm, lr: [out[(arm, lr, s)]["acc"] for s in seeds]  # noqa: E731
    full, sk = acc("full", cfg["lr"]), acc("sketch", cfg["lr"])
    metrics["acc_full"] = full
    metrics["acc_sketched"] = sk
    metrics["acc_sketched_minus_full"] = [b - a for a, b in zip(full, sk)]
    full_bits = out[("full", cfg["lr"], 0)]["bits"]
    sketch_bits = out[("sketch", cfg["lr"], 0)]["bits"]
    metrics["uplink_bits_per_update_full"] = full_bits
    metrics["uplink_bits_per_update_sketched"] = sketch_bits
    metrics["uplink_saving_total"] = full_bits / sketch_bits
    weight_numel = sum(p.numel() for p in build_model(cfg).parameters() if p.dim() >= 2)
    bias_bits = (sum(p.numel() for p in build_model(cfg).parameters()) - weight_numel) * fl.FLOAT_BITS
    metrics["uplink_saving_weight_matrices"] = weight_numel * fl.FLOAT_BITS / (sketch_bits - bias_bits)
    # best learning rate per structure and seed (the paper reports the best of a learning-rate sweep, Sec. 4)
    best = {arm: [max(out[(arm, lr, s)]["acc"] for lr in cfg["structured_lrs"]) for s in seeds]
            for arm in ("mask", "low_rank")}
    metrics["acc_mask_best_lr"] = best["mask"]
    metrics["acc_low_rank_best_lr"] = best["low_rank"]
    metrics["acc_mask_minus_low_rank"] = [a - b for a, b in zip(best["mask"], best["low_rank"])]
    metrics["uplink_bits_per_update_mask"] = out[("mask", cfg["structured_lrs"][0], 0)]["bits"]
    metrics["uplink_bits_per_update_low_rank"] = out[("low_rank", cfg["structured_lrs"][0], 0)]["bits"]
    setting = {
        "data": f"{cfg['data']}, non-IID: sorted by label, {cfg['num_clients']} clients x {cfg['shards_per_client']} shards",
        "model": cfg["model"], "rounds": cfg["rounds"], "clients_per_round": cfg["clients_per_round"],
        "local": f"{cfg['local_epochs']} epochs plain SGD, batch {cfg['batch_size']}",
        "lr_full_and_sketch": cfg["lr"], "lr_sweep_structured": cfg["structured_lrs"],
        "sketch": f"Hadamard rotation, keep {cfg['sketch_fraction']} of coordinates, {cfg['sketch_bits']}-bit quantization "
                  "of weight matrices; biases raw; seed and h_min/h_max counted",
        "structured_fraction": cfg["structured_fraction"],
        "quantizer_checks": f"d={d}, {cfg['quant_draws']} draws; rotation: {cfg['sparse_nonzeros']}-sparse Gaussian, "
                            f"{cfg['rotation_draws']} draws, 1 bit",
    }
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
