"""SqueezeNet stage: structural claims on the full-size v1.0 (meta device) and the bypass ablation at small scale."""
from __future__ import annotations

import torch
import torchvision

from implementations.squeezenet import Bypass, squeezenet
from pipelines.shared import data
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.train import fit, make_optimizer, topk_accuracy

# Table 1 of the paper: (s1x1, e1x1, e3x3) of fire2 ... fire9, as printed
TABLE1_FIRE = [(16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
               (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]


def structural() -> dict:
    vanilla = on_meta(lambda: squeezenet())
    simple = on_meta(lambda: squeezenet(bypass="simple"))
    alexnet = on_meta(lambda: torchvision.models.alexnet())
    fires = [m.fire if isinstance(m, Bypass) else m for m in vanilla if hasattr(m, "squeeze") or isinstance(m, Bypass)]
    widths = [(f.squeeze.out_channels, f.expand1x1.out_channels, f.expand3x3.out_channels) for f in fires]
    n = count_params(vanilla)
    return {
        "param_count_squeezenet_v1_0": n,
        "model_size_mib_fp32": n * 4 / 2**20,
        "param_ratio_alexnet_over_squeezenet": count_params(alexnet) / n,
        "param_count_simple_bypass_minus_vanilla": count_params(simple) - n,
        "fire_modules_differing_from_table1": sum(w != t for w, t in zip(widths, TABLE1_FIRE)) + abs(len(widths) - 8),
    }


_CFG: dict = {}


def _small(bypass: str | None) -> torch.nn.Module:
    c = _CFG
    return squeezenet(num_classes=10, in_channels=1, bypass=bypass, base_e=c["base_e"], incr_e=c["incr_e"],
                      n_fire=c["n_fire"], stem_channels=c["stem_channels"], stem_kernel=3, stem_stride=1,
                      pool_after_fire=tuple(c["pool_after_fire"]), dropout=c["dropout"])


def _bypass_ablation(seed: int) -> dict:
    """Train the scaled-down SqueezeNet with and without simple bypass from the same seed; test accuracies."""
    c = _CFG
    (Xtr, ytr), (Xte, yte) = data.digits(image_size=c["image_size"], split_seed=0, standardize=True)
    Xtr, ytr = Xtr[:c.get("train_limit")], ytr[:c.get("train_limit")]  # smoke profile: a slice
    out = {}
    for arm in (None, "simple"):
        torch.manual_seed(seed)
        model = _small(arm)
        opt = make_optimizer(model.parameters(), name="sgd", lr=c["lr"], momentum=0.9, weight_decay=c["weight_decay"])
        steps = c["epochs"] * -(-len(ytr) // c["batch_size"])
        # the paper trains with a linearly decaying learning rate (Sec. 4 / its solver file)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
        fit(model, Xtr, ytr, epochs=c["epochs"], batch_size=c["batch_size"], seed=seed, optimizer=opt, scheduler=sched)
        out[arm or "vanilla"] = topk_accuracy(model, Xte, yte)[0]
    return out


def _imagenet(cfg: dict, run) -> dict:
    """Full profile: SqueezeNet v1.0 vanilla and with simple bypass on ImageNet (Sec. 4 recipe)."""
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train = data.image_folder(cfg["imagenet_train"], transform=T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
    val = data.image_folder(cfg["imagenet_val"], transform=T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm]))
    loader = DataLoader(train, batch_size=cfg["batch_size"], shuffle=True, num_workers=cfg["workers"], drop_last=True)
    val_loader = DataLoader(val, batch_size=256, num_workers=cfg["workers"])
    out = {}
    for arm in (None, "simple"):
        torch.manual_seed(cfg["seed"])
        model = squeezenet(bypass=arm)
        opt = make_optimizer(model.parameters(), name="sgd", lr=cfg["lr"], momentum=0.9, weight_decay=cfg["weight_decay"])
        steps = cfg["epochs"] * len(loader)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
        fit(model, progress(loader, desc=f"squeezenet {arm or 'vanilla'}", enabled=run.show_progress), None,
            epochs=cfg["epochs"], optimizer=opt, scheduler=sched, device=run.device)
        top1, top5 = topk_accuracy(model, val_loader, ks=(1, 5), device=run.device)
        out[f"imagenet_top1_{arm or 'vanilla'}"], out[f"imagenet_top5_{arm or 'vanilla'}"] = top1, top5
    return out


def measure(cfg: dict, run) -> dict:
    metrics = structural()
    if run.profile == "full":
        metrics.update(_imagenet(cfg, run))
        return {"seeds": [cfg["seed"]], "metrics": metrics,
                "setting": {"data": "ImageNet (ILSVRC-2012) from a local folder", "epochs": cfg["epochs"]}}
    _CFG.update(cfg)
    seeds = run.seeds(cfg["seeds"])
    runs = map_seeds(_bypass_ablation, seeds)
    metrics["test_acc_vanilla"] = [r["vanilla"] for r in runs]
    metrics["test_acc_simple_bypass"] = [r["simple"] for r in runs]
    metrics["test_acc_bypass_minus_vanilla"] = [r["simple"] - r["vanilla"] for r in runs]
    setting = {"structural": "full-size SqueezeNet v1.0 and torchvision AlexNet on the meta device",
               "data": f"sklearn digits, 8x8 upsampled to {cfg['image_size']}x{cfg['image_size']}, standardised, 70/30 split (seed 0)",
               "model": f"scaled-down SqueezeNet: {cfg['n_fire']} Fire modules, base_e={cfg['base_e']}, SR=0.125, pct3x3=0.5",
               "training": f"SGD momentum 0.9, lr {cfg['lr']} linearly decayed, {cfg['epochs']} epochs, batch {cfg['batch_size']}"}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
