"""SqueezeNet stage: structural claims on the full-size v1.0 and its variants (meta device), torchvision's re-trainings
of SqueezeNet 1.0 and AlexNet (offline metadata), and the simple-bypass ablation at small scale on sklearn's digits.
Full profile: ImageNet with vanilla SqueezeNet, simple bypass and squeeze ratio 0.75, and torchvision's weights
re-evaluated.
"""
from __future__ import annotations

import functools

import torch
import torchvision

from implementations.squeezenet import Bypass, Fire, squeezenet
from pipelines.shared import data
from pipelines.shared.common import map_arms, progress
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.torchvision_meta import evaluate_classification, params_gap, retraining
from pipelines.shared.train import fit, make_optimizer, seed_everything, topk_accuracy

# Table 1 of the paper: (s1x1, e1x1, e3x3) of fire2 ... fire9, as printed
TABLE1_FIRE = [(16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
               (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]
ARMS = ("vanilla", "simple")


def mib(params: int) -> float:
    """Model size with 32-bit weights in MiB: the unit of the paper's 4.8MB (1,248,424 x 4 B = 4.76 MiB)."""
    return params * 4 / 2**20


def structural() -> dict:
    vanilla = on_meta(lambda: squeezenet())
    simple = on_meta(lambda: squeezenet(bypass="simple"))
    complex_ = on_meta(lambda: squeezenet(bypass="complex"))
    alexnet = on_meta(lambda: torchvision.models.alexnet())
    fires = [m.fire if isinstance(m, Bypass) else m for m in vanilla if isinstance(m, (Fire, Bypass))]
    widths = [(f.squeeze.out_channels, f.expand1x1.out_channels, f.expand3x3.out_channels) for f in fires]
    n = count_params(vanilla)
    return {
        "param_count_squeezenet_v1_0": n,
        "model_size_mib_fp32": mib(n),
        "param_ratio_alexnet_over_squeezenet": count_params(alexnet) / n,
        "param_count_simple_bypass_minus_vanilla": count_params(simple) - n,
        "model_size_mib_complex_bypass": mib(count_params(complex_)),
        "model_size_mib_sr_0p5": mib(count_params(on_meta(lambda: squeezenet(sr=0.5)))),
        "model_size_mib_sr_0p75": mib(count_params(on_meta(lambda: squeezenet(sr=0.75)))),
        "fire_modules_differing_from_table1": sum(w != t for w, t in zip(widths, TABLE1_FIRE)) + abs(len(widths) - 8),
    }


def torchvision_evidence() -> dict:
    """torchvision's re-trainings of SqueezeNet 1.0 and AlexNet (offline metadata): ImageNet-1K val, one 224 crop."""
    sq, alex = retraining("squeezenet1_0"), retraining("alexnet")
    return {
        "torchvision_squeezenet1_0_top1_acc": sq.metrics["acc@1"] / 100,
        "torchvision_squeezenet1_0_top5_acc": sq.metrics["acc@5"] / 100,
        "torchvision_alexnet_top1_acc": alex.metrics["acc@1"] / 100,
        "torchvision_alexnet_top5_acc": alex.metrics["acc@5"] / 100,
        "torchvision_top1_acc_squeezenet_minus_alexnet": (sq.metrics["acc@1"] - alex.metrics["acc@1"]) / 100,
        "torchvision_top5_acc_squeezenet_minus_alexnet": (sq.metrics["acc@5"] - alex.metrics["acc@5"]) / 100,
        "torchvision_param_ratio_alexnet_over_squeezenet": alex.num_params / sq.num_params,
        "torchvision_squeezenet1_0_params_minus_ours": params_gap(sq, squeezenet),
    }


# ------------------------------------------------------------------------------------------- digits (cpu)
def small(cfg: dict, bypass: str | None) -> torch.nn.Module:
    """The scaled-down SqueezeNet of the cpu profile (both arms: the same Fire widths, BN, no ReLU on the class maps)."""
    return squeezenet(num_classes=10, in_channels=1, bypass=bypass, base_e=cfg["base_e"], incr_e=cfg["incr_e"],
                      n_fire=cfg["n_fire"], stem_channels=cfg["stem_channels"], stem_kernel=3, stem_stride=1,
                      pool_after_fire=tuple(cfg["pool_after_fire"]), dropout=cfg["dropout"],
                      batch_norm=cfg["batch_norm"], final_relu=cfg["final_relu"], init=cfg["init"])


@torch.no_grad()
def bypass_share(model: torch.nn.Module, X: torch.Tensor) -> float:
    """How much of the signal the bypasses carry in a trained net: the mean over its bypassed Fire modules of
    ||x|| / (||x|| + ||fire(x)||) on X (0 when the net has no bypass)."""
    shares, hooks = [], []
    for m in model.modules():
        if isinstance(m, Bypass):
            hooks.append(m.register_forward_hook(lambda mod, inp, out: shares.append(
                (inp[0].norm() / (inp[0].norm() + mod.fire(inp[0]).norm())).item())))
    model.eval()
    model(X)
    for h in hooks:
        h.remove()
    return sum(shares) / len(shares) if shares else 0.0


def train_arm(cfg: dict, job: tuple) -> dict:
    """One arm on digits (split seeded by the seed): SGD momentum 0.9 with the paper's linearly decaying lr."""
    arm, seed = job
    (Xtr, ytr), (Xte, yte) = data.digits(image_size=cfg["image_size"], split_seed=seed, standardize=True)
    Xtr, ytr = Xtr[:cfg.get("train_limit")], ytr[:cfg.get("train_limit")]  # smoke profile: a slice
    # the broken-bypass check (never at cpu) builds the "bypass" arm without its bypasses: identical arms
    bypass = "simple" if arm == "simple" and not cfg.get("bypass_broken") else None
    seed_everything(seed)
    model = small(cfg, bypass)
    opt = make_optimizer(model.parameters(), name="sgd", lr=cfg["lr"], momentum=0.9, weight_decay=cfg["weight_decay"])
    steps = cfg["epochs"] * -(-len(ytr) // cfg["batch_size"])
    # the paper trains with a linearly decaying learning rate (Sec. 4 / its solver file)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
    fit(model, Xtr, ytr, epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=seed, optimizer=opt, scheduler=sched)
    out = {"test_acc": topk_accuracy(model, Xte, yte)[0], "train_acc": topk_accuracy(model, Xtr, ytr)[0]}
    if arm == "simple":
        out["share"] = bypass_share(model, Xte)
    return out


def logistic_regression_baseline(seed: int) -> float:
    """A simple baseline on the same split: multinomial logistic regression on the standardised 8x8 pixels."""
    from sklearn.linear_model import LogisticRegression

    (Xtr, ytr), (Xte, yte) = data.digits(split_seed=seed, standardize=True, flatten=True)
    clf = LogisticRegression(max_iter=2000).fit(Xtr.numpy(), ytr.numpy())
    return float(clf.score(Xte.numpy(), yte.numpy()))


def measure(cfg: dict, run) -> dict:
    metrics = {**structural(), **torchvision_evidence()}
    if run.profile == "full":
        return measure_full(cfg, run, metrics)
    seeds = run.seeds(cfg["seeds"])
    res = map_arms(functools.partial(train_arm, cfg), ARMS, seeds)
    metrics["test_acc_vanilla"] = [r["test_acc"] for r in res["vanilla"]]
    metrics["test_acc_simple_bypass"] = [r["test_acc"] for r in res["simple"]]
    metrics["train_acc_vanilla"] = [r["train_acc"] for r in res["vanilla"]]
    metrics["train_acc_simple_bypass"] = [r["train_acc"] for r in res["simple"]]
    metrics["test_acc_bypass_minus_vanilla"] = [b["test_acc"] - a["test_acc"] for a, b in zip(res["vanilla"], res["simple"])]
    metrics["bypass_signal_share"] = [r["share"] for r in res["simple"]]
    metrics["test_acc_logistic_regression"] = [logistic_regression_baseline(s) for s in seeds]
    setting = {"structural": "full-size SqueezeNet v1.0 (and simple/complex bypass, SR 0.5/0.75) and torchvision AlexNet on the meta device",
               "torchvision": f"{retraining('squeezenet1_0').source}; {retraining('alexnet').source}",
               "data": f"sklearn digits, 8x8 upsampled to {cfg['image_size']}x{cfg['image_size']}, standardised, 70/30 split seeded by the seed",
               "model": f"scaled-down SqueezeNet: 3x3 stem ({cfg['stem_channels']}), {cfg['n_fire']} Fire modules, "
                        f"base_e={cfg['base_e']}, incr_e={cfg['incr_e']}, SR=0.125, pct3x3=0.5, batch norm "
                        f"{cfg['batch_norm']}, ReLU on the class maps {cfg['final_relu']}, init {cfg['init']}",
               "training": f"SGD momentum 0.9, lr {cfg['lr']} linearly decayed, weight decay {cfg['weight_decay']}, "
                           f"{cfg['epochs']} epochs, batch {cfg['batch_size']}",
               "bypass_broken": bool(cfg.get("bypass_broken"))}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}


# ------------------------------------------------------------------------------------------- full profile
FULL_ARMS = {"vanilla": {}, "simple": {"bypass": "simple"}, "sr_0p75": {"sr": 0.75}}


def _imagenet(cfg: dict, run) -> dict:
    """Full profile: SqueezeNet v1.0 vanilla, with simple bypass, and with squeeze ratio 0.75 (Fig. 3a) on ImageNet
    (Sec. 4 recipe: SGD, linearly decaying lr from 0.04)."""
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    train = data.image_folder(cfg["imagenet_train"], transform=T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
    val = data.image_folder(cfg["imagenet_val"], transform=T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm]))
    loader = DataLoader(train, batch_size=cfg["batch_size"], shuffle=True, num_workers=cfg["workers"], drop_last=True)
    val_loader = DataLoader(val, batch_size=256, num_workers=cfg["workers"])
    out = {}
    for arm, knobs in FULL_ARMS.items():
        seed_everything(cfg["seed"])
        model = squeezenet(**knobs)
        opt = make_optimizer(model.parameters(), name="sgd", lr=cfg["lr"], momentum=0.9, weight_decay=cfg["weight_decay"])
        steps = cfg["epochs"] * len(loader)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
        fit(model, progress(loader, desc=f"squeezenet {arm}", enabled=run.show_progress), None,
            epochs=cfg["epochs"], optimizer=opt, scheduler=sched, device=run.device)
        top1, top5 = topk_accuracy(model, val_loader, ks=(1, 5), device=run.device)
        out[f"imagenet_top1_{arm}"], out[f"imagenet_top5_{arm}"] = top1, top5
    return out


def reevaluate_torchvision(cfg: dict, run) -> dict:
    """torchvision's squeezenet1_0 and alexnet weights on the val folder with their own preprocessing: acc@1 / acc@5
    minus the published ones (points), and the largest deviation."""
    m = {}
    for name in ("squeezenet1_0", "alexnet"):
        r = retraining(name)
        got = evaluate_classification(name, None, cfg["imagenet_val"], run.device, workers=cfg["workers"])
        for k in ("acc@1", "acc@5"):
            m[f"torchvision_{name}_reeval_{k.replace('@', '')}_minus_published"] = got[k] - r.metrics[k]
    m["torchvision_reeval_max_abs_deviation"] = max(abs(v) for v in m.values())
    return m


def measure_full(cfg: dict, run, metrics: dict) -> dict:
    metrics.update(reevaluate_torchvision(cfg, run))
    metrics.update(_imagenet(cfg, run))
    metrics["imagenet_top1_bypass_minus_vanilla"] = metrics["imagenet_top1_simple"] - metrics["imagenet_top1_vanilla"]
    return {"seeds": [cfg["seed"]], "metrics": metrics,
            "setting": {"data": "ImageNet (ILSVRC-2012) from a local folder", "epochs": cfg["epochs"],
                        "arms": "vanilla SqueezeNet v1.0, simple bypass, SR = 0.75 (one seed each)",
                        "torchvision": f"{retraining('squeezenet1_0').source}; {retraining('alexnet').source}"}}
