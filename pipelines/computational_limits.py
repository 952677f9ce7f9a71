"""Computational limits (Thompson et al. 2020): training FLOPs vs data in the overparameterized regime (counted),
the expert-vs-flexible simulation of Sec. 2, and a compute-vs-error regression on our own digits sweep (Sec. 3)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch.utils.flop_counter import FlopCounterMode

from implementations import computational_limits as cl
from pipelines.shared import data
from pipelines.shared.common import map_seeds
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything

CFG: dict = {}


def training_flops_per_sample(model: torch.nn.Module, in_features: int) -> int:
    """Forward + backward FLOPs of one training sample, counted by torch on the meta device."""
    model = model.to("meta")
    x = torch.zeros(1, in_features, device="meta")
    y = torch.zeros(1, dtype=torch.long, device="meta")
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def overparam_flops(cfg: dict) -> dict:
    ns = np.array(cfg["overparam_ns"])
    flops = np.array([training_flops_per_sample(cl.overparameterized_mlp(num_samples=int(n)), 64) * n * cfg["epochs"]
                      for n in ns], dtype=float)
    return {"flops_vs_n_loglog_slope": float(stats.linregress(np.log(ns), np.log(flops)).slope)}


def simulate(seed: int) -> dict:
    """Sec. 2: y depends on 10 of p Gaussian variables; the expert models 8 of them, the flexible model all p."""
    c = CFG["simulation"]
    rng = np.random.default_rng(seed)
    p, k = c["num_features"], c["num_true"]
    beta = np.zeros(p)
    beta[:k] = rng.choice([-1, 1], k) * rng.uniform(0.5, 1.5, k)
    draw = lambda n: (lambda X: (X, X @ beta + c["noise"] * rng.standard_normal(n)))(rng.standard_normal((n, p)))  # noqa: E731
    Xte, yte = draw(c["test_size"])
    out = {}
    for n in c["ns"]:
        X, y = draw(n)
        cols, expert = cl.expert_model(list(range(c["expert_features"])))
        expert.fit(X[:, cols], y)
        flexible = cl.flexible_model(num_samples=n, num_features=p).fit(X, y)
        out[n] = (float(np.mean((expert.predict(Xte[:, cols]) - yte) ** 2)),
                  float(np.mean((flexible.predict(Xte) - yte) ** 2)))
    return out


def sweep_width(width: int) -> list[tuple[float, float]]:
    """(training FLOPs, test error) of a one-hidden-layer MLP of this width on n digits, for each n."""
    c = CFG["sweep"]
    (Xtr, ytr), (Xte, yte) = data.digits(flatten=True, standardize=True, split_seed=0)
    out = []
    for n in c["ns"]:
        seed_everything(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))
        fit(model, Xtr[:n], ytr[:n], epochs=c["epochs"], batch_size=c["batch_size"], seed=0,
            optimizer=make_optimizer(model.parameters(), name="adam", lr=c["lr"]))
        err = 1 - accuracy(model, Xte, yte)
        flops = training_flops_per_sample(model, 64) * min(n, len(ytr)) * c["epochs"]
        out.append((float(flops), max(err, 1.0 / len(yte))))  # a perfect score counts as one error (log scale)
    return out


def measure(cfg: dict, run) -> dict:
    CFG.update(cfg)
    seeds = run.seeds(cfg["seeds"])
    metrics = overparam_flops(cfg)

    sims = map_seeds(simulate, seeds)
    ns = cfg["simulation"]["ns"]
    for n in ns:
        metrics[f"mse_expert_n{n}"] = [s[n][0] for s in sims]
        metrics[f"mse_flexible_n{n}"] = [s[n][1] for s in sims]
    small, large = cfg["simulation"]["small_n"], cfg["simulation"]["large_n"]
    metrics[f"mse_flexible_minus_expert_n{small}"] = [s[small][1] - s[small][0] for s in sims]
    metrics[f"mse_expert_minus_flexible_n{large}"] = [s[large][0] - s[large][1] for s in sims]
    metrics["crossover_n_first_flexible_better"] = [float(next((n for n in ns if s[n][1] < s[n][0]), 2 * ns[-1]))
                                                    for s in sims]

    points = [pt for width_pts in map_seeds(sweep_width, cfg["sweep"]["widths"], label="width") for pt in width_pts]
    compute, error = np.array(points).T
    front = cl.pareto_frontier(compute, error)
    poly, expo = cl.loglog_fit(compute[front], error[front]), cl.semilog_fit(compute[front], error[front])
    t = stats.t.ppf(0.95, len(front) - 2)
    metrics["frontier_loglog_slope"] = float(poly.slope)
    metrics["frontier_loglog_slope_upper95"] = float(poly.slope + t * poly.stderr)
    metrics["frontier_points"] = len(front)
    metrics["frontier_r2_polynomial"] = float(poly.rvalue ** 2)
    metrics["frontier_r2_exponential"] = float(expo.rvalue ** 2)

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    axes[0].plot(ns, np.mean([[s[n][0] for n in ns] for s in sims], 0), "o-", label="expert (8 of 10 true variables)")
    axes[0].plot(ns, np.mean([[s[n][1] for n in ns] for s in sims], 0), "o-", label="flexible (Lasso, all variables)")
    axes[0].set(xscale="log", yscale="log", xlabel="n", ylabel="test MSE", title="Sec. 2: expert vs flexible")
    axes[0].legend(fontsize=7)
    axes[1].loglog(compute, error, ".", alpha=0.4, label="all runs")
    axes[1].loglog(compute[front], error[front], "o-", label=f"frontier, slope {poly.slope:.2f}")
    axes[1].set(xlabel="training FLOPs", ylabel="test error", title="Sec. 3 analogue: digits MLP sweep")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "expert_flexible_and_compute.png", dpi=90, metadata={"Software": None})
    plt.close(fig)

    s, w = cfg["simulation"], cfg["sweep"]
    setting = {"overparam": f"MLP 64-h-10 with h set so params ~ 10 n, n in {cfg['overparam_ns']}, {cfg['epochs']} "
                            "epochs; forward+backward FLOPs counted by torch on the meta device",
               "simulation": f"y = sum_j<={s['num_true']} beta_j x_j + N(0, {s['noise']}^2), p = {s['num_features']} "
                             f"Gaussian variables, beta_j = +-U[0.5, 1.5]; expert: OLS on {s['expert_features']} true "
                             f"variables; flexible: Lasso alpha = 0.2 sqrt(log p / n); test MSE on {s['test_size']}",
               "sweep": f"sklearn digits, MLP widths {w['widths']} x n {w['ns']}, Adam {w['lr']}, {w['epochs']} "
                        "epochs, one seed; Pareto frontier of error vs training FLOPs"}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
