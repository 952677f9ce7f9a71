"""Cyclical learning rates (Smith 2017): CLR vs fixed LRs, the LR range test, and the schedule against Sec. 3.1.

cpu: sklearn digits (a fixed split: 958 training, 300 validation, 539 test digits), an MLP 64-128-128-10, SGD
momentum 0.9, batch 64 (15 iterations per epoch), every policy for the same number of iterations, validation and test
accuracy after every epoch; the seeds vary the initialisation and batch order. Wherever a comparator is chosen among
arms (the best fixed LR), it is chosen on the validation digits and scored on the test digits. full: CIFAR-10 with
Caffe's "full" model, the paper's Table 1 recipe (fixed 0.001 for 70k iterations vs triangular2 0.001-0.006,
stepsize 2000, 25k iterations), 5,000 training images held out for validation.
"""
from __future__ import annotations


import functools

import torch
from torch import nn

from implementations.cyclical_lr import (caffe_cifar10_full, cyclic_lr, lr_range_test, range_test_bounds,
                                         triangular_lr)
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.small_vision import digits_or_cifar_with_val, mlp
from pipelines.shared.train import accuracy, first_reaching, fit, make_optimizer, seed_everything


def _model(cfg: dict) -> nn.Module:
    return caffe_cifar10_full() if cfg["model"] == "caffe_cifar10_full" else mlp(cfg["mlp_widths"])


def _train(seed: int, data, cfg: dict, *, iters: int, lr: float, clr: tuple[float, float] | None = None,
           drops: list[int] = (), device: str = "cpu") -> dict:
    """Train one policy for `iters` iterations; validation and test accuracy after every epoch (the curves).

    clr=(base, max): triangular2 with cfg's step_size; otherwise a fixed LR, x0.1 at each iteration in `drops`."""
    Xtr, ytr, Xval, yval, Xte, yte = data
    seed_everything(seed)
    model = _model(cfg)
    opt = make_optimizer(model.parameters(), lr=lr, momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    if clr is not None:
        sched = cyclic_lr(opt, base_lr=clr[0], max_lr=clr[1], step_size=cfg["step_size"], mode=cfg["clr_mode"])
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(drops), gamma=0.1)
    epochs = -(-iters // -(-len(ytr) // cfg["batch_size"]))
    hist = fit(model, Xtr, ytr, epochs=epochs, batch_size=cfg["batch_size"], seed=seed, optimizer=opt,
               scheduler=sched, device=device,
               on_epoch_end=lambda e, m: {"val": accuracy(m, Xval, yval, device=device),
                                          "test": accuracy(m, Xte, yte, device=device)})
    # a run that diverged (NaN loss) stops: chance accuracy from then on
    return {k: [ev[k] for ev in hist.evals] + [0.1] * (epochs - len(hist.evals)) for k in ("val", "test")}


def iters_to_reach(curve: list[float], target: float, iters_per_epoch: int, censored: int) -> int:
    """Iterations until the test accuracy first reaches `target` (`censored` if it never does)."""
    n = first_reaching(curve, target, iters_per_epoch)
    return censored if n is None else n


def _range_test(seed: int, data, cfg: dict, device: str) -> tuple[float, float, list, list]:
    """Sec. 3.3 on the training digits, its accuracy curve read on the validation digits."""
    Xtr, ytr, Xval, yval, _, _ = data
    gen = seed_everything(seed)
    model = _model(cfg).to(device)
    rt = cfg["range_test"]
    opt = make_optimizer(model.parameters(), lr=rt["min_lr"], momentum=cfg["momentum"],
                         weight_decay=cfg["weight_decay"])
    bs = cfg["batch_size"]
    batches = ((Xtr[i].to(device), ytr[i].to(device)) for perm in iter(lambda: torch.randperm(len(ytr), generator=gen), None)
               for i in perm.split(bs) if len(i) == bs)
    lrs, accs = lr_range_test(model, opt, batches, loss_fn=nn.functional.cross_entropy, min_lr=rt["min_lr"],
                              max_lr=rt["max_lr"], num_iters=rt["iters"], eval_every=rt["eval_every"],
                              evaluate=lambda m: accuracy(m, Xval, yval, device=device))
    base, top = range_test_bounds(lrs, accs)
    return base, top, lrs, accs


def _seed(ctx: dict, seed: int) -> dict:
    cfg, device, data = ctx["cfg"], ctx["device"], ctx["data"]
    ipe = -(-len(data[1]) // cfg["batch_size"])
    iters = cfg["iters"]
    base, top, lrs, accs = _range_test(seed, data, cfg, device)
    out = {"range_base": base, "range_max": top, "range_lrs": lrs, "range_accs": accs}
    arms = {f"fixed_{lr:g}": dict(lr=lr) for lr in cfg["fixed_grid"]}
    arms |= {f"clr_{a:g}_{b:g}": dict(lr=a, clr=(a, b)) for a, b in cfg["clr_ranges"]}
    arms |= {"clr_range_test": dict(lr=base, clr=(base, top)),
             "fixed_above_range_max": dict(lr=cfg["above_max_factor"] * top)}
    arms |= {"fixed_baseline": dict(lr=cfg["baseline_lr"], drops=cfg["baseline_drops"], iters=cfg["baseline_iters"])}
    curves = {}
    for name, arm in progress(arms.items(), total=len(arms), desc=f"seed {seed}", enabled=ctx["progress"]):
        arm = dict(arm)
        curves[name] = _train(seed, data, cfg, iters=arm.pop("iters", iters), device=device, **arm)
    out["curves"], out["iters_per_epoch"] = curves, ipe
    return out


def _iters_ratio(r: dict, fixed: str, clr: str, iters: int) -> float:
    """Iterations the fixed policy needs to reach its own final test accuracy over the iterations CLR needs to reach
    it (Table 1's 70k / 25k). The fixed policy reaches its final accuracy by its last epoch at the latest; a CLR run
    that never reaches it counts as 2 x iters."""
    ipe, target = r["iters_per_epoch"], r["curves"][fixed]["test"][-1]
    n_fixed = iters_to_reach(r["curves"][fixed]["test"], target, ipe, 2 * iters)
    return n_fixed / iters_to_reach(r["curves"][clr]["test"], target, ipe, 2 * iters)


def _schedule_error() -> float:
    """Largest |torch CyclicLR - Sec. 3.1 formula| over 10 cycles of each mode."""
    worst = 0.0
    for mode in ("triangular", "triangular2", "exp_range"):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.1)
        sched = cyclic_lr(opt, base_lr=0.001, max_lr=0.006, step_size=200, mode=mode, gamma=0.9994)
        for it in range(4000):
            ref = triangular_lr(it, base_lr=0.001, max_lr=0.006, step_size=200, mode=mode, gamma=0.9994)
            worst = max(worst, abs(opt.param_groups[0]["lr"] - ref))
            opt.step()
            sched.step()
    return worst


def _figure(results: list[dict], run) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = results[0]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(r["range_lrs"], r["range_accs"])
    for x in (r["range_base"], r["range_max"]):
        a.axvline(x, ls="--", color="gray")
    a.set(xlabel="learning rate", ylabel="test accuracy", title="LR range test (seed 0)")
    ipe = r["iters_per_epoch"]
    for name, curve in r["curves"].items():
        b.plot([(i + 1) * ipe for i in range(len(curve["test"]))], curve["test"], label=name, lw=1)
    b.set(xlabel="iteration", ylabel="test accuracy", ylim=(0, 1), title="policies (seed 0)")
    b.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(run.figures / "cyclical_lr.png", dpi=90, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    # load the data (and import sklearn / torchvision) once, before the seed workers fork
    ctx = {"cfg": cfg, "device": run.device, "progress": run.show_progress, "data": digits_or_cifar_with_val(cfg)}
    seeds = run.seeds(cfg["seeds"])
    schedule_error = _schedule_error()  # also imports what torch.optim imports lazily, once before the fork
    results = map_seeds(functools.partial(_seed, ctx), seeds)
    _figure(results, run)
    final = lambda r, name: r["curves"][name]["test"][-1]  # noqa: E731
    val_final = lambda r, name: r["curves"][name]["val"][-1]  # noqa: E731
    # the test accuracy after the epoch that completes cfg['early_fraction'] of the iterations (Table 1: 25k of 70k)
    early_epoch = lambda r: -(-round(cfg["early_fraction"] * cfg["iters"]) // r["iters_per_epoch"]) - 1  # noqa: E731
    early = lambda r, name: r["curves"][name]["test"][early_epoch(r)]  # noqa: E731
    fixed = [f"fixed_{lr:g}" for lr in cfg["fixed_grid"]]
    clrs = [f"clr_{a:g}_{b:g}" for a, b in cfg["clr_ranges"]] + ["clr_range_test"]
    narrow, wide = (f"clr_{a:g}_{b:g}" for a, b in cfg["clr_ranges"][:2])
    trained = [f"fixed_{lr:g}" for lr in cfg["sensitivity_grid"]]
    best_fixed = lambda r: max(fixed, key=lambda f: val_final(r, f))  # picked on validation  # noqa: E731
    a, b = cfg["clr_ranges"][0]
    metrics = {
        "schedule_max_abs_error_torch_vs_paper_eq": schedule_error,
        "range_test_base_lr": [r["range_base"] for r in results],
        "range_test_max_lr": [r["range_max"] for r in results],
        "acc_fixed_val_picked": [final(r, best_fixed(r)) for r in results],
        "lr_fixed_val_picked": [float(best_fixed(r).split("_")[1]) for r in results],
        "acc_clr_worst_range_minus_val_picked_fixed": [min(final(r, c) for c in clrs) - final(r, best_fixed(r))
                                                       for r in results],
        "acc_clr_range_test_minus_val_picked_fixed": [final(r, "clr_range_test") - final(r, best_fixed(r))
                                                      for r in results],
        "acc_worst_fixed_lr_trained_grid": [min(final(r, f) for f in trained) for r in results],
        "acc_spread_fixed_lr_trained_grid": [max(final(r, f) for f in trained) - min(final(r, f) for f in trained)
                                             for r in results],
        "acc_worst_clr_range": [min(final(r, c) for c in clrs) for r in results],
        "acc_spread_clr_ranges": [max(final(r, c) for c in clrs) - min(final(r, c) for c in clrs) for r in results],
        "acc_spread_fixed_minus_spread_clr": [
            (max(final(r, f) for f in trained) - min(final(r, f) for f in trained))
            - (max(final(r, c) for c in clrs) - min(final(r, c) for c in clrs)) for r in results],
        "acc_clr_wide_minus_narrow_range": [final(r, wide) - final(r, narrow) for r in results],
        "acc_drop_fixed_above_range_max": [final(r, best_fixed(r)) - final(r, "fixed_above_range_max")
                                           for r in results],
        # Table 1 read as accuracies: CLR stopped after a fraction of the budget (25k of 70k) vs the fixed policy at
        # its full budget, and how much the fixed policy itself still gains after that fraction (positive control)
        "acc_clr_range_test_early_minus_fixed_baseline_final": [
            early(r, "clr_range_test") - final(r, "fixed_baseline") for r in results],
        "acc_clr_slow_base_early_minus_fixed_slow_base_final": [
            early(r, f"clr_{a:g}_{b:g}") - final(r, f"fixed_{a:g}") for r in results],
        "acc_fixed_baseline_final_minus_early": [final(r, "fixed_baseline") - early(r, "fixed_baseline")
                                                 for r in results],
        "acc_fixed_slow_base_final_minus_early": [final(r, f"fixed_{a:g}") - early(r, f"fixed_{a:g}") for r in results],
        "acc_clr_range_test_final": [final(r, "clr_range_test") for r in results],
        "acc_fixed_baseline_final": [final(r, "fixed_baseline") for r in results],
        # how much the fixed policy still gains between CLR's budget and its own (0 when the budgets are equal)
        "acc_fixed_baseline_final_minus_at_clr_budget": [
            final(r, "fixed_baseline") - r["curves"]["fixed_baseline"]["test"][
                min(-(-cfg["iters"] // r["iters_per_epoch"]), len(r["curves"]["fixed_baseline"]["test"])) - 1]
            for r in results],
        "acc_clr_range_test_minus_fixed_baseline": [final(r, "clr_range_test") - final(r, "fixed_baseline")
                                                    for r in results],
        # Table 1 as run: the baseline against CLR over the first configured range (0.001-0.006 at full)
        "acc_clr_first_range_final": [final(r, f"clr_{a:g}_{b:g}") for r in results],
        "acc_clr_first_range_minus_fixed_baseline": [final(r, f"clr_{a:g}_{b:g}") - final(r, "fixed_baseline")
                                                     for r in results],
        "iters_ratio_fixed_baseline_over_clr_first_range": [
            _iters_ratio(r, "fixed_baseline", f"clr_{a:g}_{b:g}", cfg["baseline_iters"])
            for r in results],
    }
    setting = {k: cfg[k] for k in ("data", "batch_size", "iters", "step_size", "clr_mode", "fixed_grid", "clr_ranges",
                                   "sensitivity_grid", "range_test", "above_max_factor", "baseline_lr",
                                   "baseline_drops", "baseline_iters", "n_val", "early_fraction")}
    setting |= {"model": cfg["model"] if cfg["data"] == "torchvision" else f"MLP {cfg['mlp_widths']}",
                "dataset": cfg["dataset"] if cfg["data"] == "torchvision" else
                "sklearn digits, 70/30 split (seed 0), n_val training digits held out for validation, standardised",
                "optimizer": f"SGD momentum {cfg['momentum']}, weight decay {cfg['weight_decay']}",
                "comparators": "the best fixed LR is the one with the highest final validation accuracy, per seed"}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
