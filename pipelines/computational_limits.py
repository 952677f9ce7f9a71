"""Computational limits (Thompson et al. 2020): the expert-vs-flexible simulation of Sec. 2, and Sec. 3's
compute-vs-performance regression on an independent paper-scale table: every ImageNet-1K classification weight that
torchvision publishes (GFLOPS per image vs top-1 error, read offline from the weights' metadata)."""
from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from implementations import computational_limits as cl
from pipelines.shared.common import map_seeds
from pipelines.shared.torchvision_meta import imagenet_classifiers


def simulate(c: dict, seed: int) -> dict:
    """Sec. 2: y depends on 10 of p Gaussian variables; the expert models 8 of them, the flexible model all p."""
    rng = np.random.default_rng(seed)
    p, k = c["num_features"], c["num_true"]
    beta = np.zeros(p)
    beta[:k] = rng.choice([-1, 1], k) * rng.uniform(0.5, 1.5, k)
    def draw(n: int):
        X = rng.standard_normal((n, p))
        return X, X @ beta + c["noise"] * rng.standard_normal(n)
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


def torchvision_table() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(GFLOPS, top-1 error, weight names) of every torchvision ImageNet-1K classifier that publishes both."""
    rows = [r for r in imagenet_classifiers() if np.isfinite(r.metrics.get("acc@1", float("nan"))) and r.gflops > 0]
    return (np.array([r.gflops for r in rows]), 1 - np.array([r.metrics["acc@1"] for r in rows]) / 100,
            [r.weights for r in rows])


def compute_fit(compute: np.ndarray, error: np.ndarray, *, permutations: int, seed: int = 0) -> dict:
    """Sec. 3's regressions on every point (no frontier: a frontier falls by construction): log error on log compute
    (polynomial) and on compute (exponential); the slope's permutation p-value, the share of shuffles of compute
    (error independent of compute) whose slope is at least as negative as the observed one."""
    poly, expo = cl.loglog_fit(compute, error), cl.semilog_fit(compute, error)
    rng = np.random.default_rng(seed)
    lc, le = np.log(compute), np.log(error)
    lc_c = lc - lc.mean()
    shuffled = np.array([rng.permutation(lc_c) for _ in range(permutations)])
    slopes = shuffled @ (le - le.mean()) / (lc_c @ lc_c)
    return {"loglog_slope": float(poly.slope), "loglog_slope_stderr": float(poly.stderr),
            "loglog_r2": float(poly.rvalue ** 2), "semilog_r2": float(expo.rvalue ** 2),
            "r2_polynomial_minus_exponential": float(poly.rvalue ** 2 - expo.rvalue ** 2),
            "slope_permutation_p": float((1 + np.sum(slopes <= poly.slope)) / (1 + permutations)),
            "points": len(compute)}


def measure(cfg: dict, run) -> dict:
    seeds = run.seeds(cfg["seeds"])
    sim = cfg["simulation"]
    sims = map_seeds(functools.partial(simulate, sim), seeds)
    ns = sim["ns"]
    metrics = {}
    for n in ns:
        metrics[f"mse_expert_n{n}"] = [s[n][0] for s in sims]
        metrics[f"mse_flexible_n{n}"] = [s[n][1] for s in sims]
    small, large = sim["small_n"], sim["large_n"]
    metrics[f"mse_flexible_minus_expert_n{small}"] = [s[small][1] - s[small][0] for s in sims]
    metrics[f"mse_expert_minus_flexible_n{large}"] = [s[large][0] - s[large][1] for s in sims]
    metrics["crossover_n_first_flexible_better"] = [float(next((n for n in ns if s[n][1] < s[n][0]), 2 * ns[-1]))
                                                    for s in sims]

    gflops, error, names = torchvision_table()
    fit = compute_fit(gflops, error, permutations=cfg["permutations"], seed=seeds[0])
    metrics |= {f"imagenet_{k}": v for k, v in fit.items()}

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    axes[0].plot(ns, np.mean([[s[n][0] for n in ns] for s in sims], 0), "o-", label="expert (8 of 10 true variables)")
    axes[0].plot(ns, np.mean([[s[n][1] for n in ns] for s in sims], 0), "o-", label="flexible (Lasso, all variables)")
    axes[0].set(xscale="log", yscale="log", xlabel="n", ylabel="test MSE", title="Sec. 2: expert vs flexible")
    axes[0].legend(fontsize=7)
    axes[1].loglog(gflops, error, ".", alpha=0.6, label=f"{len(gflops)} torchvision weights")
    grid = np.logspace(np.log10(gflops.min()), np.log10(gflops.max()), 50)
    poly = cl.loglog_fit(gflops, error)
    axes[1].loglog(grid, np.exp(poly.intercept) * grid ** poly.slope, "-", label=f"power law, slope {poly.slope:.3f}")
    axes[1].set(xlabel="GFLOPS per image", ylabel="ImageNet top-1 error", title="Sec. 3: error vs compute")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "expert_flexible_and_compute.png", dpi=90, metadata={"Software": None})
    plt.close(fig)

    setting = {"simulation": f"y = sum_j<={sim['num_true']} beta_j x_j + N(0, {sim['noise']}^2), p = "
                             f"{sim['num_features']} Gaussian variables, beta_j = +-U[0.5, 1.5]; expert: OLS on "
                             f"{sim['expert_features']} true variables; flexible: Lasso alpha = 0.2 sqrt(log p / n); "
                             f"test MSE on {sim['test_size']}",
               "imagenet": f"{len(gflops)} torchvision ImageNet-1K classification weights (metadata: _ops GFLOPS, "
                           f"acc@1), least squares of log error on log GFLOPS, {cfg['permutations']} permutations",
               "imagenet_weights": ", ".join(names)}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
