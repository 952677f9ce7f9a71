"""Bag of Tricks (He et al. 2019): ResNet-50 vs -D cost, zero-gamma identity, label smoothing's logit gap, the tricks'
effect on accuracy (digits at the cpu profile; ImageNet or CIFAR-10 at the full profile; the training loop is
pipelines.shared.imagenet.train_bag_of_tricks), and torchvision's own re-training of ResNet-50 with a refined recipe
(its weights' metadata: V1 original recipe, V2 new recipe), an independent paper-scale measurement of "a better
training recipe alone lifts ResNet-50's top-1 by about 4 points".
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from implementations import bag_of_tricks as bot
from pipelines.shared import data
from pipelines.shared.common import map_seeds
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.shared.torchvision_meta import params_gap, retraining
from pipelines.shared.train import accuracy, fit, predict, seed_everything


# ------------------------------------------------------------------------------------------ analytical parts
def optimised_logit_gap(eps: float, num_classes: int) -> float:
    """Minimise torch's smoothed cross-entropy over the logits of one example; return z_y - mean(z_i, i != y)."""
    z = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0])
    ls = bot.torch_label_smoothing(eps, num_classes)
    opt = torch.optim.LBFGS([z], lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z[None], y, label_smoothing=ls)
        loss.backward()
        return loss

    opt.step(closure)
    z = z.detach()
    return float(z[0] - z[1:].mean())


def resnet_costs() -> dict:
    out = {}
    for v in "ABCD":
        model = on_meta(lambda: bot.resnet50(variant=v))
        out[f"macs_resnet50_{v}"] = count_macs(model, (3, 224, 224))
        out[f"params_resnet50_{v}"] = count_params(model)
    out["macs_ratio_resnet50d_over_resnet50"] = out["macs_resnet50_D"] / out["macs_resnet50_A"]
    return out


@torch.no_grad()
def zero_gamma_block_error(seed: int = 0) -> tuple[float, float]:
    """Max |block(x) - x| over every non-downsampling Bottleneck of a full-size ResNet-50-D with zero gamma, and the
    same for the ordinary init (the control), on non-negative inputs (a block's input is a ReLU output)."""
    torch.manual_seed(seed)
    errors = {}
    for zero in (True, False):
        model = bot.resnet50(variant="D", zero_gamma=zero).eval()
        worst = 0.0
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            for block in stage:
                if block.downsample is None:
                    x = torch.rand(2, block.conv1.in_channels, 7, 7)
                    worst = max(worst, float((block(x) - x).abs().max()))
        errors[zero] = worst
    return errors[True], errors[False]


def torchvision_recipe_gain() -> dict:
    """torchvision's ResNet-50 weights trained with its original recipe (V1) and its 2021 recipe (V2), same
    architecture: ImageNet-1K top-1 (percent) from the weights' metadata, nothing downloaded."""
    v1, v2 = retraining("resnet50", "IMAGENET1K_V1"), retraining("resnet50", "IMAGENET1K_V2")
    return {"top1_resnet50_torchvision_v1_recipe": v1.metrics["acc@1"],
            "top1_resnet50_torchvision_v2_recipe": v2.metrics["acc@1"],
            "top1_gain_resnet50_torchvision_v2_minus_v1_recipe": v2.metrics["acc@1"] - v1.metrics["acc@1"],
            **{f"resnet50_torchvision_{v}_params_minus_ours": params_gap(r, lambda: bot.resnet50(variant="A"))
               for v, r in (("v1", v1), ("v2", v2))}}


# ------------------------------------------------------------------------------------------ cpu-profile training
def job(cfg: dict, device: str, item: tuple[str, tuple]):
    part, j = item
    return logit_gap_arm(cfg, device, j) if part == "gap" else tricks_arm(cfg, device, j)


def test_gaps(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Fig. 4's quantity on each test example: z_y - mean of the other logits."""
    z = predict(model, X)
    zy = z.gather(1, y[:, None])[:, 0]
    others = (z.sum(1) - zy) / (z.shape[1] - 1)
    return (zy - others).numpy()


def logit_gap_arm(cfg: dict, device: str, job: tuple[int, str]) -> tuple[np.ndarray, float]:
    """One (seed, "ls" | "ce") MLP on digits: the test-set logit gaps (Fig. 4) and the test accuracy."""
    seed, arm = job
    c = cfg["logit_gap"]
    (Xtr, ytr), (Xte, yte) = data.digits(flatten=True, standardize=True, split_seed=seed)
    eps = c["eps"] if arm == "ls" else 0.0
    seed_everything(seed)
    model = nn.Sequential(nn.Linear(64, c["hidden"]), nn.ReLU(), nn.Linear(c["hidden"], 10))
    opt = torch.optim.Adam(model.parameters(), lr=c["lr"])
    loss = nn.CrossEntropyLoss(label_smoothing=bot.torch_label_smoothing(eps, 10) if eps else 0.0)
    fit(model, Xtr, ytr, epochs=c["epochs"], batch_size=c["batch_size"], seed=seed, optimizer=opt, loss_fn=loss,
        device=device)
    model.cpu()
    return test_gaps(model, Xte, yte), accuracy(model, Xte, yte)


def tricks_arm(cfg: dict, device: str, job: tuple[int, bool]) -> float:
    """Test accuracy of the small residual CNN on digits trained with the baseline recipe (tricks=False) or with
    zero-gamma + no bias decay + warm-up and cosine + label smoothing (tricks=True)."""
    seed, tricks = job
    c = cfg["tricks"]
    (Xtr, ytr), (Xte, yte) = data.digits(split_seed=seed, test_fraction=c["test_fraction"])
    seed_everything(seed)
    model = bot.small_resnet(widths=tuple(c["widths"]), zero_gamma=tricks)
    steps_per_epoch = -(-len(ytr) // c["batch_size"])
    total = steps_per_epoch * c["epochs"]
    if tricks:  # Sec. 3.1 no bias decay + warm-up, Sec. 5.1 cosine, Sec. 5.2 label smoothing
        params = bot.no_bias_decay_groups(model, c["weight_decay"])
        opt = torch.optim.SGD(params, lr=c["lr"], momentum=0.9, nesterov=True)
        sched = bot.cosine_with_warmup(opt, warmup_steps=steps_per_epoch * c["warmup_epochs"], total_steps=total)
        loss = nn.CrossEntropyLoss(label_smoothing=bot.torch_label_smoothing(c["eps"], 10))
    else:  # Sec. 2 baseline: NAG, weight decay on everything, lr / 10 at fixed fractions of training
        opt = torch.optim.SGD(model.parameters(), lr=c["lr"], momentum=0.9, nesterov=True,
                              weight_decay=c["weight_decay"])
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(total * f) for f in c["step_fractions"]], 0.1)
        loss = nn.CrossEntropyLoss()
    fit(model, Xtr, ytr, epochs=c["epochs"], batch_size=c["batch_size"], seed=seed, optimizer=opt, loss_fn=loss,
        scheduler=sched, device=device)
    return accuracy(model, Xte, yte, device=device)


# ------------------------------------------------------------------------------------------ full profile
def measure_full(cfg: dict, run) -> dict:
    from pipelines.shared.imagenet import cifar_stem, imagenet_or_cifar10, top1, train_bag_of_tricks

    train, test, k, size = imagenet_or_cifar10(cfg)
    base, tricked = [], []
    for seed in run.seeds(cfg["seeds"]):
        models = {"base": bot.resnet50(variant="A", num_classes=k),
                  "tricks": bot.resnet50(variant="D", num_classes=k, zero_gamma=True)}
        if size == 32:
            models = {a: cifar_stem(m) for a, m in models.items()}
        base.append(top1(train_bag_of_tricks(models["base"], train, cfg, run, seed=seed, tricks=False,
                                             num_classes=k), test, cfg, run))
        tricked.append(top1(train_bag_of_tricks(models["tricks"], train, cfg, run, seed=seed, tricks=True,
                                                num_classes=k), test, cfg, run))
    name = cfg["dataset"].lower()
    return {f"top1_resnet50_baseline_{name}": base, f"top1_resnet50d_tricks_{name}": tricked,
            f"top1_tricks_minus_baseline_{name}": [t - b for t, b in zip(tricked, base)]}


# ------------------------------------------------------------------------------------------ the stage
def measure(cfg: dict, run) -> dict:
    seeds = run.seeds(cfg["seeds"])
    metrics = resnet_costs() | torchvision_recipe_gain()
    metrics["ls_gap_k1000_optimised"] = optimised_logit_gap(0.1, 1000)
    metrics["ls_gap_k1000_optimised_minus_formula"] = metrics["ls_gap_k1000_optimised"] - bot.optimal_logit_gap(0.1, 1000)
    metrics["zero_gamma_block_max_abs_error"], metrics["default_init_block_max_abs_error"] = zero_gamma_block_error()
    setting = {"structural": "full-size ResNet-50 variants on the meta device, 1x3x224x224, MACs = FLOPs / 2",
               "seeds": seeds, "logit_gap_seeds": cfg.get("logit_gap_seeds")}
    if run.profile == "full":
        metrics.update(measure_full(cfg, run))
        setting.update(data=cfg["dataset"], epochs=cfg["epochs"], batch_size=cfg["batch_size"])
        return {"seeds": seeds, "metrics": metrics, "setting": setting}

    gap_seeds = run.seeds(cfg["logit_gap_seeds"])
    gap_jobs = [(s, arm) for s in gap_seeds for arm in ("ls", "ce")]
    tricks_jobs = [(s, t) for s in seeds for t in cfg["tricks_arms"]]
    outs = map_seeds(functools.partial(job, cfg, run.device), [("tricks", j) for j in tricks_jobs] +
                     [("gap", j) for j in gap_jobs], label="(part, job)")  # the longer jobs first
    accs = dict(zip(tricks_jobs, outs[:len(tricks_jobs)]))
    gap = dict(zip(gap_jobs, outs[len(tricks_jobs):]))
    gaps = [{arm: gap[(s, arm)][0] for arm in ("ls", "ce")} for s in gap_seeds]
    theory = bot.optimal_logit_gap(cfg["logit_gap"]["eps"], 10)
    metrics["ls_median_test_gap_digits"] = [float(np.median(g["ls"])) for g in gaps]
    metrics["ce_median_test_gap_digits"] = [float(np.median(g["ce"])) for g in gaps]
    metrics["top1_ls_mlp_digits"] = [gap[(s, "ls")][1] for s in gap_seeds]
    metrics["top1_ce_mlp_digits"] = [gap[(s, "ce")][1] for s in gap_seeds]
    metrics["ls_gap_theory_k10"] = theory
    base, tricked = cfg["tricks_arms"]
    metrics["top1_small_resnet_baseline_digits"] = [accs[(s, base)] for s in seeds]
    metrics["top1_small_resnet_tricks_digits"] = [accs[(s, tricked)] for s in seeds]
    metrics["top1_tricks_minus_baseline_digits"] = [accs[(s, tricked)] - accs[(s, base)] for s in seeds]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    bins = np.linspace(0, max(float(np.percentile(gaps[0]["ce"], 99)), theory * 2), 60)
    ax.hist(gaps[0]["ce"], bins, alpha=0.6, label="cross-entropy")
    ax.hist(gaps[0]["ls"], bins, alpha=0.6, label="label smoothing eps=0.1")
    ax.axvline(theory, color="k", ls="--", label=f"theory {theory:.2f}")
    ax.set(xlabel="z_y - mean(z_i), test set (seed 0)", ylabel="count", title="Fig. 4 analogue: digits MLP")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "logit_gap.png", dpi=90, metadata={"Software": None})
    plt.close(fig)

    c = cfg["tricks"]
    setting.update(
        logit_gap=f"sklearn digits (64 standardized pixels, 70/30 split by seed), MLP 64-{cfg['logit_gap']['hidden']}-10,"
                  f" Adam {cfg['logit_gap']['lr']}, {cfg['logit_gap']['epochs']} epochs; eps=0.1 in the paper's"
                  " convention (torch label_smoothing = eps K/(K-1))",
        tricks=f"sklearn digits 8x8, {1 - c['test_fraction']:.0%} train / {c['test_fraction']:.0%} test split by seed, "
               f"residual CNN of torchvision BasicBlocks widths {c['widths']}, {c['epochs']} epochs, batch "
               f"{c['batch_size']}, NAG lr {c['lr']}, wd {c['weight_decay']}; baseline: lr/10 at {c['step_fractions']} "
               "of training, wd on all; tricks: zero-gamma + no-bias-decay + warm-up/cosine + label smoothing (no "
               f"ResNet-D, mixup or distillation at this scale); arms {cfg['tricks_arms']}",
        torchvision_recipes="ResNet50_Weights.IMAGENET1K_V1 / IMAGENET1K_V2 metadata (torchvision's re-trainings)")
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
