"""Neural fabrics: path counts and parameter cost of the trellis (exact), and a small fabric against a chain CNN
of about the same size on sklearn's 8x8 digits (scales 8/4/2/1)."""
from __future__ import annotations


from implementations.neural_fabrics import chain_cnn, count_paths, neural_fabric
from pipelines.common import map_seeds
from pipelines.data import digits
from pipelines.structural import count_params
from pipelines.train import accuracy, fit, make_optimizer, seed_everything

_CFG: dict = {}


def structural() -> dict:
    m = {f"paths_L{L}_S6": float(count_paths(L, 6)) for L in (8, 12, 16, 24, 32)}
    m["paths_growth_ratio_L31_to_L32"] = count_paths(32, 6) / count_paths(31, 6)
    # "at a cost that scales linearly in the fabric size": parameters as a function of the number of layers
    params = {L: count_params(neural_fabric(layers=L, scales=4, channels=8, in_channels=1)) for L in (4, 8, 12, 16)}
    per_layer = [(params[b] - params[a]) / (b - a) for a, b in ((4, 8), (8, 12), (12, 16))]
    m["fabric_params_per_layer_spread"] = max(per_layer) - min(per_layer)
    m["fabric_params_per_layer"] = per_layer[0]
    widths = [8, 16, 32, 64]  # one interior layer = same + down + up 3x3 convs of the doubling widths
    edge_params = (sum(9 * w * w + w for w in widths) + sum(9 * a * b + b for a, b in zip(widths, widths[1:]))
                   + sum(9 * b * a + a for a, b in zip(widths, widths[1:])))
    m["fabric_params_per_layer_minus_edge_formula"] = per_layer[0] - edge_params
    return m


def train_and_score(job: tuple) -> dict:
    arm, seed = job
    cfg = _CFG
    (Xtr, ytr), (Xte, yte) = digits(split_seed=0, test_fraction=0.3)
    seed_everything(seed)
    model = (neural_fabric(in_channels=1, layers=cfg["layers"], scales=4, channels=cfg["fabric_channels"])
             if arm == "fabric" else chain_cnn(in_channels=1, scales=4, channels=cfg["chain_channels"]))
    fit(model, Xtr, ytr, epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=seed,
        optimizer=make_optimizer(model.parameters(), name="adam", lr=cfg["lr"]))
    return {"acc": accuracy(model, Xte, yte), "params": count_params(model)}


def measure(cfg: dict, run) -> dict:
    metrics = structural()
    seeds = list(range(cfg["seeds"]))
    jobs = [(arm, s) for arm in ("fabric", "chain") for s in seeds]
    _CFG.update(cfg)
    outs = map_seeds(train_and_score, jobs, label="arm/seed")
    res = {arm: [o for (a, _), o in zip(jobs, outs) if a == arm] for arm in ("fabric", "chain")}
    metrics["acc_fabric"] = [r["acc"] for r in res["fabric"]]
    metrics["acc_chain"] = [r["acc"] for r in res["chain"]]
    metrics["acc_fabric_minus_chain"] = [a["acc"] - b["acc"] for a, b in zip(res["fabric"], res["chain"])]
    metrics["param_count_fabric"] = res["fabric"][0]["params"]
    metrics["param_count_chain"] = res["chain"][0]["params"]
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": "sklearn digits 8x8 (1,797 images), 70/30 split (split seed 0); fabric scales 8/4/2/1",
        "fabric": f"L = {cfg['layers']} layers, 4 scales, {cfg['fabric_channels']} channels doubling per scale, 3x3 convs, ReLU",
        "chain": f"chain CNN, 2 convs per scale, {cfg['chain_channels']} channels doubling per scale",
        "training": f"Adam lr {cfg['lr']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}"}}
