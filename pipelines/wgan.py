"""WGAN (Arjovsky et al. 2017): Example 1's distances exactly, and what the clipped critic measures.

cpu: generated 2-D / 1-D data, MLP critic and generator, Algorithm 1 (RMSProp, c = 0.01, n_critic = 5).
full: LSUN bedrooms 64x64 (torchvision, needs the lmdb files locally) or CIFAR-10, DCGAN generator and critic.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from implementations import wgan
from pipelines.shared.common import map_seeds


# ------------------------------------------------------------------------------------------ Example 1, exactly
def _hist_divergences(theta: float, bins: int = 200) -> dict:
    """JS, TV and the P_theta-mass where P_0 has no density, from 2-D histograms on a grid whose x-bins are narrower
    than |theta| (so the two vertical lines never share a bin unless theta = 0)."""
    edges_x = np.linspace(-2.005, 2.005, 402)  # bin width 0.01
    edges_y = np.linspace(0, 1, bins + 1)
    n = 10_000
    h = [np.histogram2d(*wgan.parallel_lines(t, n).T, bins=[edges_x, edges_y])[0].ravel() / n for t in (0.0, theta)]
    p, q = h
    m = (p + q) / 2
    kl = lambda a, b: float(np.sum(a[a > 0] * np.log(a[a > 0] / b[a > 0])))  # noqa: E731
    return {"js": 0.5 * kl(p, m) + 0.5 * kl(q, m), "tv": 0.5 * float(np.abs(p - q).sum()),
            "mass_outside_support": float(q[p == 0].sum())}


def example1() -> dict:
    thetas = [-1.0, -0.5, -0.1, 0.1, 0.5, 1.0]
    n = 512
    w1 = {t: wgan.exact_w1(wgan.parallel_lines(0.0, n), wgan.parallel_lines(t, n)) for t in thetas}
    div = {t: _hist_divergences(t) for t in thetas}
    h = 1e-3  # finite differences at theta = 0.5: dW/dtheta = 1 (useful gradient), dJS/dtheta = 0 (none)
    dw = (wgan.exact_w1(wgan.parallel_lines(0, n), wgan.parallel_lines(0.5 + h, n))
          - wgan.exact_w1(wgan.parallel_lines(0, n), wgan.parallel_lines(0.5 - h, n))) / (2 * h)
    djs = (_hist_divergences(0.5 + 0.05)["js"] - _hist_divergences(0.5 - 0.05)["js"]) / 0.1
    return {
        "example1_w1_max_abs_error": max(abs(w1[t] - abs(t)) for t in thetas),
        "example1_js_max_abs_error_vs_log2": max(abs(div[t]["js"] - math.log(2)) for t in thetas),
        "example1_js_at_theta_0": _hist_divergences(0.0)["js"],
        "example1_tv_min": min(div[t]["tv"] for t in thetas),
        "example1_kl_mass_outside_support_min": min(div[t]["mass_outside_support"] for t in thetas),
        "example1_dw1_dtheta_at_0p5": dw,
        "example1_djs_dtheta_at_0p5": djs,
    }


# ------------------------------------------------------------------------------------------ trained critics
def _train_critic(critic, real_fn, fake_fn, steps: int, lr: float, c: float, m: int = 64) -> float:
    """The critic loop of Algorithm 1 against a fixed P_g; returns E_r f - E_g f on fresh 4,096-point samples."""
    opt = wgan.critic_optimizer(critic.parameters(), lr=lr)
    for _ in range(steps):
        est = wgan.critic_estimate(critic, real_fn(m), fake_fn(m))
        opt.zero_grad(set_to_none=True)
        (-est).backward()
        opt.step()
        wgan.clip_weights(critic, c)
    with torch.no_grad():
        return wgan.critic_estimate(critic, real_fn(4096), fake_fn(4096)).item()


def critic_tracks_w1(cfg: dict, seed: int) -> dict:
    """One clipped critic per theta of the parallel-lines family; Pearson r of its estimate with W = |theta|."""
    torch.manual_seed(seed)
    thetas = cfg["lines_thetas"]
    line = lambda t: (lambda k: torch.stack([torch.full((k,), float(t)), torch.rand(k)], 1))  # noqa: E731
    ests = []
    for t in thetas:
        critic = wgan.mlp(in_dim=2, hidden=cfg["hidden"], depth=3)
        ests.append(_train_critic(critic, line(0.0), line(t), cfg["critic_steps"], cfg["critic_lr"], cfg["clip"]))
    return {"critic_vs_true_w1_pearson": float(stats.pearsonr(np.abs(thetas), ests)[0]), "line_estimates": ests,
            "critic_auc_farthest_line": separation_auc(critic, line(0.0)(1024), line(thetas[-1])(1024))}


@torch.no_grad()
def separation_auc(critic, real: torch.Tensor, fake: torch.Tensor) -> float:
    """The fraction of (real, fake) pairs that the critic orders f(real) > f(fake): 1 for a critic that learned to
    separate them (it ascends E_r f - E_g f), about 0 or 1 by chance for an untrained one."""
    return (critic(real).view(-1, 1) > critic(fake).view(1, -1)).float().mean().item()


def _input_grad_ratio(loss_of_x, fake: torch.Tensor) -> float:
    """mean |d loss / dx| at the fake samples / max |d loss / dx| over x in [-3, 9] (scale-free)."""
    grid = torch.linspace(-3, 9, 601)[:, None].requires_grad_(True)
    g_grid = torch.autograd.grad(loss_of_x(grid).sum(), grid)[0].abs()
    x = fake.clone().requires_grad_(True)
    g_fake = torch.autograd.grad(loss_of_x(x).sum(), x)[0].abs()
    return (g_fake.mean() / g_grid.max()).item()


def vanishing_gradients(cfg: dict, seed: int) -> dict:
    """Fig. 2: real N(0, 1), fake N(6, 1). A trained GAN discriminator's generator loss log(1 - D(x)) is flat at the
    fakes; a trained clipped critic's loss -f(x) is not."""
    torch.manual_seed(seed)
    real = lambda k: torch.randn(k, 1)  # noqa: E731
    fake = lambda k: torch.randn(k, 1) + 6  # noqa: E731
    d = wgan.mlp(in_dim=1, hidden=cfg["hidden"], depth=3)
    opt = torch.optim.Adam(d.parameters(), lr=1e-3)
    for _ in range(cfg["gradient_steps"]):
        loss = F.softplus(-d(real(64))).mean() + F.softplus(d(fake(64))).mean()  # -log D(x) - log(1 - D(G(z)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    f = wgan.mlp(in_dim=1, hidden=cfg["hidden"], depth=3)
    _train_critic(f, real, fake, cfg["gradient_steps"], cfg["critic_lr"], cfg["clip"])
    xs = fake(1024)
    r_gan = _input_grad_ratio(lambda x: -F.softplus(d(x)), xs)  # log(1 - sigmoid(d)) = -softplus(d)
    r_critic = _input_grad_ratio(lambda x: -f(x), xs)
    grid = torch.linspace(-3, 9, 121)[:, None]
    with torch.no_grad():
        curves = {"gan_d": torch.sigmoid(d(grid)).squeeze(1).tolist(), "critic": f(grid).squeeze(1).tolist()}
    return {"gan_grad_ratio_at_fakes": r_gan, "critic_grad_ratio_at_fakes": r_critic, "curves": curves,
            "critic_auc_real_vs_fake": separation_auc(f, real(1024), fake(1024))}


def ring(k: int, modes: int = 8, radius: float = 2.0, std: float = 0.02) -> torch.Tensor:
    angle = torch.randint(0, modes, (k,)) * (2 * math.pi / modes)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], 1) + std * torch.randn(k, 2)


def _centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    a = np.arange(modes) * 2 * np.pi / modes
    return np.stack([radius * np.cos(a), radius * np.sin(a)], 1)


def near_fraction(x: np.ndarray, modes: int = 8, radius: float = 2.0, within: float = 0.2) -> float:
    """Sample quality regardless of diversity: the fraction of samples within `within` of some mode's centre."""
    return float((np.linalg.norm(x[:, None] - _centres(modes, radius)[None], axis=-1).min(1) < within).mean())


def modes_covered(x: np.ndarray, modes: int = 8, radius: float = 2.0, within: float = 0.2) -> int:
    """Modes that hold at least 2 % of the samples within `within` of their centre (1/8 = 12.5 % each when none is lost)."""
    dist = np.linalg.norm(x[:, None] - _centres(modes, radius)[None], axis=-1)
    counts = np.bincount(dist.argmin(1)[dist.min(1) < within], minlength=modes)
    return int((counts >= 0.02 * len(x)).sum())


def within_step_correlation(estimate: np.ndarray, quality: np.ndarray) -> float:
    """Pearson r of (estimate, quality) after removing each evaluation step's mean across runs: arrays (runs, evals).
    Only differences between runs at the same step count, so a loss that is a function of the step alone scores 0."""
    e, q = np.asarray(estimate, float), np.asarray(quality, float)
    e, q = (e - e.mean(0)).ravel(), (q - q.mean(0)).ravel()
    if e.std() < 1e-12 or q.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(e, q)[0, 1])


class Problem(NamedTuple):
    """What the step-matched runs train on: real and noise samplers, fresh generator and critic, and the critic's
    RMSProp step size and clip (Algorithm 1)."""
    real: Callable[[int], torch.Tensor]
    noise: Callable[[int], torch.Tensor]
    make_g: Callable[[], torch.nn.Module]
    make_f: Callable[[], torch.nn.Module]
    critic_lr: float
    clip: float


def ring_problem(cfg: dict) -> Problem:
    return Problem(ring, lambda k: torch.randn(k, 8), lambda: wgan.mlp(in_dim=8, hidden=cfg["hidden"], depth=3, out_dim=2),
                   lambda: wgan.mlp(in_dim=2, hidden=cfg["hidden"], depth=3), cfg["ring_lr"], cfg["ring_clip"])


def _w1(g, p: Problem, n: int = 512) -> float:
    """The generator's quality: the exact W1 of n generated vs n real samples (flattened). At every evaluation also on
    fresh 256 vs 256, an independent re-estimate of the same quality (the positive control of the step-matched claims:
    the within-step design can see a tracker)."""
    flat = lambda x: x.flatten(1).cpu().numpy()  # noqa: E731
    with torch.no_grad():
        return wgan.exact_w1(flat(g(p.noise(n))), flat(p.real(n)))


def _wgan_run(cfg: dict, p: Problem, seed: int, lr_g: float, steps: int | None = None) -> dict:
    """Algorithm 1 (n_critic = 5) on problem p; every eval_every generator steps the critic's estimate E_r f - E_g f on
    fresh 2,048-sample batches and the generator's quality (_w1, and its re-estimate on 256 samples)."""
    torch.manual_seed(seed)
    g, f = p.make_g(), p.make_f()
    untrained = _w1(g, p)
    est, w1, w1_check = [], [], []

    def log(step, _):
        if (step + 1) % cfg["eval_every"] == 0:
            with torch.no_grad():
                est.append(wgan.critic_estimate(f, p.real(2048), g(p.noise(2048))).item())
            w1.append(_w1(g, p))
            w1_check.append(_w1(g, p, 256))

    wgan.train_wgan(g, f, p.real, p.noise, generator_steps=steps or cfg["generator_steps"], lr=p.critic_lr, lr_g=lr_g,
                    c=p.clip, n_critic_start=cfg["n_critic_start"], on_step=log)
    return {"estimate": est, "w1": w1, "w1_check": w1_check, "w1_untrained": untrained, "generator": g}


def _gan_run(cfg: dict, p: Problem, seed: int, lr_g: float) -> dict:
    """A standard GAN on the same problem and models (Adam, beta1 0.5; D at cfg's gan_lr, G at lr_g; one D step per G
    step); its JS estimate log 2 - loss_D / 2 (2 JS - log 4 = -loss_D at the optimal D) and the quality, as above."""
    torch.manual_seed(seed)
    g, d = p.make_g(), p.make_f()
    opt_g = torch.optim.Adam(g.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg["gan_lr"], betas=(0.5, 0.999))
    untrained = _w1(g, p)
    est, w1, w1_check = [], [], []
    for step in range(cfg["gan_steps"]):
        loss_d = F.softplus(-d(p.real(64))).mean() + F.softplus(d(g(p.noise(64)).detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-d(g(p.noise(64)))).mean()  # the non-saturating -log D(G(z)) of the GAN paper
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if (step + 1) % cfg["gan_eval_every"] == 0:
            with torch.no_grad():
                l = F.softplus(-d(p.real(2048))).mean() + F.softplus(d(g(p.noise(2048)))).mean()
            est.append(math.log(2) - l.item() / 2)
            w1.append(_w1(g, p))
            w1_check.append(_w1(g, p, 256))
    return {"estimate": est, "w1": w1, "w1_check": w1_check, "w1_untrained": untrained}


def _run_family_metrics(runs: list[dict], prefix: str) -> dict:
    """Per seed, over one family of runs: the quality re-estimate's within-step r (positive control), the spread of
    quality across runs at a step, and how far the worst run got from its untrained generator (final / untrained W1,
    the final W1 averaged over the last three evaluations)."""
    w1 = np.array([r["w1"] for r in runs])
    return {
        f"{prefix}w1_recheck_vs_w1_within_step_r": within_step_correlation([r["w1_check"] for r in runs], w1),
        f"{prefix}w1_spread_across_runs": float(np.mean(w1.max(0) - w1.min(0))),
        f"{prefix}w1_final_over_untrained_max": max(float(np.mean(r["w1"][-3:]) / r["w1_untrained"]) for r in runs),
    }


def step_matched_runs(cfg: dict, p: Problem, seed: int) -> dict:
    """Sec. 4.2, Figs. 3-4: WGAN runs that differ only in the generator's step size (paired by seed), so that at any one
    generator step their samples differ in quality; the same for a standard GAN and its JS estimate."""
    runs = [_wgan_run(cfg, p, seed, lr) for lr in cfg["lrs_g"]]
    gans = [_gan_run(cfg, p, seed, lr) for lr in cfg["gan_lrs_g"]]
    return {
        "wgan": runs, "gan": gans,
        "critic_vs_w1_within_step_r": within_step_correlation([r["estimate"] for r in runs], [r["w1"] for r in runs]),
        "gan_js_vs_w1_within_step_r": within_step_correlation([r["estimate"] for r in gans], [r["w1"] for r in gans]),
        **_run_family_metrics(runs, ""), **_run_family_metrics(gans, "gan_"),
    }


def collapse_run(cfg: dict, seed: int) -> dict:
    """Sec. 4.3 (full profile): one long ring run; judged only once its samples sit on the modes (near_mode_fraction),
    whichever modes those are."""
    p = ring_problem(cfg)
    r = _wgan_run({**cfg, "eval_every": cfg["ring_collapse_steps"]}, p, seed, cfg["ring_collapse_lr_g"],
                  cfg["ring_collapse_steps"])
    with torch.no_grad():
        samples = r["generator"](p.noise(1024)).numpy()
    return {"modes_covered_of_8": modes_covered(samples), "near_mode_fraction": near_fraction(samples),
            "final_w1": float(r["w1"][-1])}


def _job(cfg: dict, item):
    part, seed = item
    return {"lines": critic_tracks_w1, "gradients": vanishing_gradients}[part](cfg, seed)


def _figure(run, curves) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(-3, 9, 121)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(grid, curves["gan_d"], label="GAN discriminator D(x)")
    crit = np.array(curves["critic"])
    ax.plot(grid, (crit - crit.min()) / (np.ptp(crit) + 1e-12), label="WGAN critic f(x) (rescaled)")
    ax.axvspan(-2, 2, color="tab:blue", alpha=0.08, label="real N(0,1)")
    ax.axvspan(4, 8, color="tab:red", alpha=0.08, label="fake N(6,1)")
    ax.set(xlabel="x", title="Fig. 2 analogue: saturated D vs clean critic")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "critic_vs_discriminator.png", dpi=90, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    if cfg.get("data", "generated") != "generated":
        return measure_images(cfg, run)
    seeds = run.seeds(cfg["seeds"])
    items = [(p, s) for s in seeds for p in ("lines", "gradients")]
    parts = dict(zip(items, map_seeds(partial(_job, cfg), items, label="part,seed")))
    metrics = example1()
    per = lambda part, k: [float(parts[(part, s)][k]) for s in seeds]  # noqa: E731
    for k in ("critic_vs_true_w1_pearson", "critic_auc_farthest_line"):
        metrics[k] = per("lines", k)
    for k in ("gan_grad_ratio_at_fakes", "critic_grad_ratio_at_fakes", "critic_auc_real_vs_fake"):
        metrics[k] = per("gradients", k)
    _figure(run, parts[("gradients", seeds[0])]["curves"])
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": "generated: Example 1's parallel lines (512 points, identical quantiles; 10,000-point 2-D histograms "
                "with 0.01-wide x bins); 1-D N(0,1) vs N(6,1)",
        "models": f"ReLU MLPs, 3 hidden layers of {cfg['hidden']}",
        "critic_steps_per_theta": cfg["critic_steps"], "critic_lr": cfg["critic_lr"], "clip": cfg["clip"],
        "lines_thetas": cfg["lines_thetas"], "gradient_steps": cfg["gradient_steps"]}}


# ------------------------------------------------------------------------------------------ full profile
def image_problem(X: torch.Tensor, dev) -> Problem:
    """Sec. 4: DCGAN generator and critic on 64x64 images, Algorithm 1's critic step size and clip."""
    return Problem(lambda k: X[torch.randint(0, len(X), (k,))].to(dev), lambda k: torch.randn(k, 100, device=dev),
                   lambda: wgan.dcgan_generator().to(dev), lambda: wgan.dcgan_critic().to(dev), 5e-5, 0.01)


def measure_images(cfg: dict, run) -> dict:
    """Sec. 4.2-4.3: the step-matched WGAN and GAN runs on images (quality: the exact W1 between generated and real
    images in pixel space), and the long ring runs for mode collapse."""
    from pipelines.shared import data
    import torchvision.transforms as T

    tf = T.Compose([T.Resize(64), T.CenterCrop(64), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    X, _ = data.to_tensors(data.torchvision_dataset(cfg["data"], train=True, transform=tf), cfg.get("limit"))
    seeds = run.seeds(cfg["seeds"])
    p = image_problem(X, run.device)
    matched = []
    for seed in seeds:  # each seed's metrics only: its runs (and their models) are dropped as it ends
        r = step_matched_runs(cfg, p, seed)
        matched.append({k: v for k, v in r.items() if k not in ("wgan", "gan")})
    collapse = map_seeds(partial(collapse_run, cfg), seeds, label="ring seed")
    metrics = {k: [float(m[k]) for m in matched] for k in matched[0]}
    metrics.update({k: [c[k] for c in collapse] for k in collapse[0]})
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": f"torchvision {cfg['data']} 64x64", "algorithm1": "critic RMSProp 5e-5, c = 0.01, n_critic 5",
        "generator_steps": cfg["generator_steps"], "generator_lrs": cfg["lrs_g"], "eval_every": cfg["eval_every"],
        "gan_baseline": f"DCGAN, Adam beta1 0.5, D lr {cfg['gan_lr']}, G lr {cfg['gan_lrs_g']}, {cfg['gan_steps']} steps",
        "ring_collapse": f"ring of 8 Gaussians, {cfg['ring_collapse_steps']} generator steps, G lr {cfg['ring_collapse_lr_g']}"}}
