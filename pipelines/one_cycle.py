"""1cycle (Smith 2018): 1cycle vs a step schedule at fewer epochs, cyclical vs constant momentum, weight decay at a
large LR, and the schedule's shape (Sec. 4.1, 4.3).

cpu: sklearn digits (a fixed split: 958 training, 300 validation, 539 test digits), an MLP 64-128-128-10 (as
cyclical_lr), SGD, batch 64 (15 iterations per epoch); the seeds vary the initialisation and batch order. A comparator
chosen among arms (the better constant momentum) is chosen on the validation digits and scored on the test digits.
full: CIFAR-10 resnet-56, the super-convergence comparison (Fig. 5a: 1cycle LR 0.1-3 for ~10k iterations vs
step LR 0.1 for 80k) and the momentum / weight-decay arms at the same scale.
"""
from __future__ import annotations

import functools

import torch

from implementations.one_cycle import one_cycle, resnet56, schedule_trace, step_schedule
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.small_vision import digits_or_cifar_with_val, mlp
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything


def _model(cfg: dict) -> torch.nn.Module:
    return resnet56(num_classes=10) if cfg["model"] == "resnet56" else mlp(cfg["mlp_widths"])


def _train(ctx: dict, seed: int, *, epochs: int, policy: str, max_lr: float, weight_decay: float,
           momentum: float | None = None) -> dict:
    """Validation and test accuracy after `epochs` of one policy: "1cycle" (momentum None: cyclical 0.95-0.85, else
    constant) or "step" (LR max_lr, x0.1 at 50 % and 75 % of training, momentum 0.9)."""
    cfg, device = ctx["cfg"], ctx["device"]
    Xtr, ytr, Xval, yval, Xte, yte = ctx["data"]
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
    if hist.stopped_early:  # diverged: chance
        return {"val": 0.1, "test": 0.1}
    return {"val": accuracy(model, Xval, yval, device=device), "test": accuracy(model, Xte, yte, device=device)}


FEWER_EPOCHS_ARMS = ("1cycle_short", "step_short", "step_long")


def _seed(ctx: dict, job: tuple[str, int]) -> dict:
    """Every arm for a ("main", seed) job; only the three arms of the fewer-epochs comparison for ("fewer", seed)."""
    kind, seed = job
    c = ctx["cfg"]
    short, long, longer, equal = c["epochs_1cycle"], c["epochs_step"], c["epochs_step_long"], c["epochs_equal"]
    lr, wd = c["max_lr"], c["weight_decay"]
    arms = {
        "1cycle_short": dict(epochs=short, policy="1cycle", max_lr=lr, weight_decay=wd),
        "step_short": dict(epochs=short, policy="step", max_lr=c["step_lr"], weight_decay=wd),
        "step_long": dict(epochs=long, policy="step", max_lr=c["step_lr"], weight_decay=wd),
        "step_longer": dict(epochs=longer, policy="step", max_lr=c["step_lr"], weight_decay=wd),
        "1cycle_equal": dict(epochs=equal, policy="1cycle", max_lr=lr, weight_decay=wd),
        "step_equal": dict(epochs=equal, policy="step", max_lr=c["step_lr"], weight_decay=wd),
        "const_mom_high": dict(epochs=short, policy="1cycle", max_lr=lr, weight_decay=wd, momentum=c["max_momentum"]),
        "const_mom_low": dict(epochs=short, policy="1cycle", max_lr=lr, weight_decay=wd, momentum=c["base_momentum"]),
        "large_lr_low_wd": dict(epochs=short, policy="1cycle", max_lr=c["large_lr"], weight_decay=c["wd_low"]),
        "large_lr_high_wd": dict(epochs=short, policy="1cycle", max_lr=c["large_lr"], weight_decay=c["wd_high"]),
    }
    if kind == "fewer":
        arms = {k: arms[k] for k in FEWER_EPOCHS_ARMS}
    return {name: _train(ctx, seed, **arm) for name, arm in progress(arms.items(), total=len(arms),
                                                                     desc=f"seed {seed}", enabled=ctx["progress"])}


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
    ctx = {"cfg": cfg, "device": run.device, "progress": run.show_progress, "data": digits_or_cifar_with_val(cfg)}
    shape = _shape(cfg)  # also imports what torch.optim imports lazily, once before the fork
    _figure(shape, run)
    seeds = run.seeds(cfg["seeds"])
    # the fewer-epochs comparison runs on more seeds (its three arms are cheap): the main seeds and more
    fewer_seeds = run.seeds(cfg["fewer_epochs_seeds"])
    extra = [s for s in fewer_seeds if s not in seeds]
    jobs = [("main", s) for s in seeds] + [("fewer", s) for s in extra]
    out = map_seeds(functools.partial(_seed, ctx), jobs, label="(arms, seed)")
    res = out[:len(seeds)]
    fewer = [r for s, r in zip(seeds + extra, out) if s in fewer_seeds]
    fdiff = lambda a, b: [r[a]["test"] - r[b]["test"] for r in fewer]  # noqa: E731
    acc = lambda name: [r[name]["test"] for r in res]  # noqa: E731
    diff = lambda a, b: [r[a]["test"] - r[b]["test"] for r in res]  # noqa: E731
    # the better constant momentum, picked on the validation digits, scored on the test digits
    const = [max(("const_mom_high", "const_mom_low"), key=lambda k: r[k]["val"]) for r in res]
    metrics = {k: v for k, v in shape.items() if k not in ("lrs", "moms")}
    metrics |= {
        "acc_1cycle_short": acc("1cycle_short"), "acc_step_short": acc("step_short"),
        "acc_step_long": acc("step_long"), "acc_step_longer": acc("step_longer"),
        "acc_1cycle_equal": acc("1cycle_equal"), "acc_step_equal": acc("step_equal"),
        "acc_1cycle_short_minus_step_long": fdiff("1cycle_short", "step_long"),
        "acc_1cycle_short_minus_step_longer": diff("1cycle_short", "step_longer"),
        "acc_1cycle_equal_minus_step_longer": diff("1cycle_equal", "step_longer"),
        "acc_step_longer_minus_step_equal": diff("step_longer", "step_equal"),
        "acc_step_long_minus_step_short": fdiff("step_long", "step_short"),
        "acc_step_long_fewer_epochs_seeds": [r["step_long"]["test"] for r in fewer],
        "acc_1cycle_short_fewer_epochs_seeds": [r["1cycle_short"]["test"] for r in fewer],
        "acc_step_longer_minus_step_short": diff("step_longer", "step_short"),
        "acc_1cycle_minus_step_equal_epochs": diff("1cycle_equal", "step_equal"),
        "acc_cyclical_momentum_minus_val_picked_constant": [r["1cycle_short"]["test"] - r[k]["test"]
                                                            for r, k in zip(res, const)],
        "acc_constant_momentum_low_minus_high": diff("const_mom_low", "const_mom_high"),
        "momentum_val_picked_constant": [cfg["max_momentum"] if k == "const_mom_high" else cfg["base_momentum"]
                                         for k in const],
        "acc_large_lr_low_wd": acc("large_lr_low_wd"), "acc_large_lr_high_wd": acc("large_lr_high_wd"),
        "acc_large_lr_low_wd_minus_high_wd": diff("large_lr_low_wd", "large_lr_high_wd"),
    }
    keys = ("batch_size", "max_lr", "div_factor", "final_div_factor", "pct_start", "base_momentum", "max_momentum",
            "weight_decay", "step_lr", "epochs_1cycle", "epochs_step", "epochs_step_long", "epochs_equal", "large_lr",
            "wd_low", "wd_high", "n_val", "fewer_epochs_seeds")
    setting = {k: cfg[k] for k in keys} | {
        "data": cfg["dataset"] if cfg["data"] == "torchvision" else
        "sklearn digits, 70/30 split (seed 0), n_val training digits held out for validation, standardised",
        "model": cfg["model"] if cfg["model"] == "resnet56" else f"MLP {cfg['mlp_widths']}",
        "step_policy": "LR x0.1 at 50 % and 75 % of training, momentum 0.9",
        "comparators": "the better constant momentum is the one with the higher validation accuracy, per seed"}
    setting["seeds_fewer_epochs"] = fewer_seeds
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
