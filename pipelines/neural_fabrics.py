"""Neural fabrics: path counts and parameter cost of the trellis (exact), and a small fabric against a chain CNN
of about the same size on sklearn's 8x8 digits (scales 8/4/2/1). full: also the paper-size fabric (L = 16 layers,
6 scales 32..1) trained on CIFAR-10 with flips and crops, its test error per seed (Sec. 4)."""
from __future__ import annotations


from implementations.neural_fabrics import chain_cnn, count_paths, neural_fabric
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.data import digits, torchvision_dataset
from pipelines.shared.structural import count_params
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything, topk_accuracy

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


def cifar10_loaders(batch_size: int, workers: int):
    """CIFAR-10 (torchvision, downloaded on first use; DataUnavailable offline) as loaders: training images with
    random 32x32 crops of the 4-px padded image and horizontal flips (the 'with augmentation' setting)."""
    import torch
    import torchvision.transforms as T

    norm = T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # CIFAR-10 channel statistics
    train = torchvision_dataset("CIFAR10", train=True, transform=T.Compose(
        [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
    test = torchvision_dataset("CIFAR10", train=False, transform=T.Compose([T.ToTensor(), norm]))
    loader = lambda ds, shuffle: torch.utils.data.DataLoader(  # noqa: E731
        ds, batch_size=batch_size, shuffle=shuffle, num_workers=workers, pin_memory=True, drop_last=shuffle)
    return loader(train, True), loader(test, False)


def cifar10_error(cfg: dict, seed: int, device: str) -> tuple[float, int]:
    """Test error of a fabric of the paper's size trained on CIFAR-10 (SGD momentum, cosine schedule)."""
    import torch

    seed_everything(seed)
    train, test = cifar10_loaders(cfg["cifar_batch_size"], cfg["cifar_workers"])
    model = neural_fabric(in_channels=3, num_classes=10, layers=cfg["cifar_layers"], scales=cfg["cifar_scales"],
                          channels=cfg["cifar_channels"], doubling=cfg["cifar_doubling"])
    opt = make_optimizer(model.parameters(), name="sgd", lr=cfg["cifar_lr"], momentum=0.9,
                         weight_decay=cfg["cifar_weight_decay"])
    epochs = cfg["cifar_epochs"]
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(train))
    fit(model, train, None, epochs=epochs, seed=seed, optimizer=opt, scheduler=sched, device=device)
    return 1.0 - topk_accuracy(model, test, device=device)[0], count_params(model)


def measure_cifar10(cfg: dict, run) -> tuple[dict, dict]:
    """Sec. 4, Table 2: CIFAR-10 with augmentation, the paper-size fabric, cfg['cifar_seeds'] seeds."""
    cifar_seeds = run.seeds(cfg["cifar_seeds"])
    outs = [cifar10_error(cfg, s, run.device) for s in progress(cifar_seeds, desc="cifar10 seeds",
                                                                enabled=run.show_progress)]
    metrics = {"cifar10_error": [e for e, _ in outs], "param_count_fabric_cifar10": outs[0][1]}
    setting = {"cifar10": (
        f"torchvision CIFAR-10, 50,000 training images with 4-px padded random crops and flips, 10,000 test images; "
        f"fabric L = {cfg['cifar_layers']}, {cfg['cifar_scales']} scales, {cfg['cifar_channels']} channels "
        f"{'doubling per scale' if cfg['cifar_doubling'] else 'at every scale'} (the paper's sizes are unverified); "
        f"SGD momentum 0.9, lr {cfg['cifar_lr']} cosine to 0, weight decay {cfg['cifar_weight_decay']}, "
        f"batch {cfg['cifar_batch_size']}, {cfg['cifar_epochs']} epochs; seeds {cifar_seeds}")}
    return metrics, setting


def measure(cfg: dict, run) -> dict:
    # full: the real data first, so that a missing data set stops the stage before the small experiment runs
    cifar_metrics, cifar_setting = measure_cifar10(cfg, run) if run.profile == "full" else ({}, {})
    metrics = structural()
    seeds = run.seeds(cfg["seeds"])
    jobs = [(arm, s) for arm in ("fabric", "chain") for s in seeds]
    _CFG.update(cfg)
    outs = map_seeds(train_and_score, jobs, label="arm/seed")
    res = {arm: [o for (a, _), o in zip(jobs, outs) if a == arm] for arm in ("fabric", "chain")}
    metrics["acc_fabric"] = [r["acc"] for r in res["fabric"]]
    metrics["acc_chain"] = [r["acc"] for r in res["chain"]]
    metrics["acc_fabric_minus_chain"] = [a["acc"] - b["acc"] for a, b in zip(res["fabric"], res["chain"])]
    metrics["param_count_fabric"] = res["fabric"][0]["params"]
    metrics["param_count_chain"] = res["chain"][0]["params"]
    setting = {
        "data": "sklearn digits 8x8 (1,797 images), 70/30 split (split seed 0); fabric scales 8/4/2/1",
        "fabric": f"L = {cfg['layers']} layers, 4 scales, {cfg['fabric_channels']} channels doubling per scale, 3x3 convs, ReLU",
        "chain": f"chain CNN, 2 convs per scale, {cfg['chain_channels']} channels doubling per scale",
        "training": f"Adam lr {cfg['lr']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}"}
    metrics.update(cifar_metrics)
    setting.update(cifar_setting)
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
