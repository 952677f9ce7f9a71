"""1cycle (Smith 2018): 1cycle vs a step schedule at fewer epochs, cyclical vs constant momentum, weight decay at a
large LR, and the schedule's shape (Sec. 4.1, 4.3).

cpu: sklearn digits, an MLP 64-128-128-10 (as cyclical_lr), SGD, batch 64 (20 iterations per epoch).
full: CIFAR-10 resnet-56, the super-convergence comparison (Fig. 5a: 1cycle LR 0.1-3 for ~10k iterations vs
step LR 0.1 for 80k) and the momentum / weight-decay arms at the same scale.
"""
from __future__ import annotations

import torch

from implementations.one_cycle import one_cycle, resnet56, schedule_trace, step_schedule
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.small_vision import digits_or_cifar, mlp
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything

_CFG: dict = {}  # the stage's settings and data, read by the forked seed workers


def _model(cfg: dict) -> torch.nn.Module:
    return resnet56(num_classes=10) if cfg["model"] == "resnet56" else mlp(cfg["mlp_widths"])


def _train(seed: int, *, epochs: int, policy: str, max_lr: float, weight_decay: float,
           momentum: float | None = None) -> float:
    """Test accuracy after `epochs` of one policy: "1cycle" (momentum None: cyclical 0.95-0.85, else constant)
    or "step" (LR max_lr, x0.1 at 50 % and 75 % of training, momentum 0.9)."""
    cfg, device = _CFG["cfg"], _CFG["device"]
    Xtr, ytr, Xte, yte = _CFG["data"]
    seed_everything(seed)
    model = _model(cfg)
    opt = make_optimizer(model.parameters(), lr=max_lr, momentum=0.9 if momentum is None else momentum,
                         weight_decay=weight_decay)
    total = epochs * -(-len(ytr) // cfg["batch_size"])
    if policy == "1cycle":
        sched = one_cycle(opt, max_lr=max_lr, total_steps=total, div_factor=cfg["div_factor"],
                          final_div_factor=cfg["final_div_factor"], pct_start=cfg["pct_start"],
                          cycle_momentum=momentum is None, base_momentum=cfg["base_momentum"],
                          max_momentum=cfg["max_momentum"])
    else:
        sched = step_schedule(opt, total_steps=total)
    hist = fit(model, Xtr, ytr, epochs=epochs, batch_size=cfg["batch_size"], seed=seed, optimizer=opt,
               scheduler=sched, device=device)
    return 0.1 if hist.stopped_early else accuracy(model, Xte, yte, device=device)  # diverged: chance


def _seed(seed: int) -> dict:
    c = _CFG["cfg"]
    short, long, longer, equal = c["epochs_1cycle"], c["epochs_step"], c["epochs_step_long"], c["epochs_equal"]
    lr, wd = c["max_lr"], c["weight_decay"]
    arms = {
        "1cycle_short": dict(epochs=short, policy="1cycle", max_lr=lr, weight_decay=wd),
        "step_long": dict(epochs=long, policy="step", max_lr=c["step_lr"], weight_decay=wd),
        "step_longer": dict(epochs=longer, policy="step", max_lr=c["step_lr"], weight_decay=wd),
        "1cycle_equal": dict(epochs=equal, policy="1cycle", max_lr=lr, weight_decay=wd),
        "step_equal": dict(epochs=equal, policy="step", max_lr=c["step_lr"], weight_decay=wd),
        "const_mom_high": dict(epochs=short, policy="1cycle", max_lr=lr, weight_decay=wd, momentum=c["max_momentum"]),
        "const_mom_low": dict(epochs=short, policy="1cycle", max_lr=lr, weight_decay=wd, momentum=c["base_momentum"]),
        "large_lr_low_wd": dict(epochs=short, policy="1cycle", max_lr=c["large_lr"], weight_decay=c["wd_low"]),
        "large_lr_high_wd": dict(epochs=short, policy="1cycle", max_lr=c["large_lr"], weight_decay=c["wd_high"]),
    }
    return {name: _train(seed, **arm) for name, arm in progress(arms.items(), total=len(arms), desc=f"seed {seed}",
                                                                enabled=_CFG["progress"])}


def _shape(cfg: dict, total: int = 1000) -> dict:
    """The schedule's LR and momentum over `total` steps, as torch runs them."""
    lrs, moms = schedule_trace(total_steps=total, max_lr=cfg["max_lr"], div_factor=cfg["div_factor"],
                               final_div_factor=cfg["final_div_factor"], pct_start=cfg["pct_start"],
                               base_momentum=cfg["base_momentum"], max_momentum=cfg["max_momentum"])
    peak = max(range(total), key=lrs.__getitem__)
    back = next(t for t in range(peak, total) if lrs[t] <= lrs[0] * (1 + 1e-9))  # the cycle is over
    return {"lrs": lrs, "moms": moms, "peak_lr_over_max_lr": lrs[peak] / cfg["max_lr"],
            "final_lr_over_initial_lr": lrs[-1] / lrs[0], "cycle_length_over_training": (back + 1) / total,
            "momentum_at_lr_peak": moms[peak], "momentum_at_start": moms[0], "momentum_at_end": moms[-1]}


def _figure(shape: dict, run) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, a = plt.subplots(figsize=(6, 3.2))
    a.plot(shape["lrs"], color="tab:blue")
    a.set(xlabel="iteration", ylabel="learning rate", title="1cycle as run (torch OneCycleLR, three phases)")
    b = a.twinx()
    b.plot(shape["moms"], color="tab:orange")
    b.set_ylabel("momentum")
    fig.tight_layout()
    fig.savefig(run.figures / "one_cycle_schedule.png", dpi=90, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    _CFG.update(cfg=cfg, device=run.device, progress=run.show_progress, data=digits_or_cifar(cfg))
    shape = _shape(cfg)  # also imports what torch.optim imports lazily, once before the fork
    _figure(shape, run)
    res = map_seeds(_seed, cfg["seeds"])
    diff = lambda a, b: [r[a] - r[b] for r in res]  # noqa: E731
    metrics = {k: v for k, v in shape.items() if k not in ("lrs", "moms")}
    metrics |= {
        "acc_1cycle_short": [r["1cycle_short"] for r in res],
        "acc_step_long": [r["step_long"] for r in res],
        "acc_1cycle_short_minus_step_long": diff("1cycle_short", "step_long"),
        "acc_1cycle_short_minus_step_longer": diff("1cycle_short", "step_longer"),
        "acc_1cycle_minus_step_equal_epochs": diff("1cycle_equal", "step_equal"),
        "acc_cyclical_momentum_minus_best_constant": [
            r["1cycle_short"] - max(r["const_mom_high"], r["const_mom_low"]) for r in res],
        "acc_large_lr_low_wd_minus_high_wd": diff("large_lr_low_wd", "large_lr_high_wd"),
    }
    keys = ("batch_size", "max_lr", "div_factor", "final_div_factor", "pct_start", "base_momentum", "max_momentum",
            "weight_decay", "step_lr", "epochs_1cycle", "epochs_step", "epochs_step_long", "epochs_equal", "large_lr",
            "wd_low", "wd_high")
    setting = {k: cfg[k] for k in keys} | {
        "data": cfg["dataset"] if cfg["data"] == "torchvision" else "sklearn digits, 70/30 split, standardised",
        "model": cfg["model"] if cfg["model"] == "resnet56" else f"MLP {cfg['mlp_widths']}",
        "step_policy": "LR x0.1 at 50 % and 75 % of training, momentum 0.9"}
    return {"seeds": cfg["seeds"], "metrics": metrics, "setting": setting}
