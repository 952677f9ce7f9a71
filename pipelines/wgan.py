"""WGAN (Arjovsky et al. 2017): Example 1's distances exactly, and what the clipped critic measures.

cpu: generated 2-D / 1-D data, MLP critic and generator, Algorithm 1 (RMSProp, c = 0.01, n_critic = 5).
full: LSUN bedrooms 64x64 (torchvision, needs the lmdb files locally) or CIFAR-10, DCGAN generator and critic.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from implementations import wgan
from pipelines.shared.common import map_seeds

CFG: dict = {}  # the stage's config, visible to the forked workers


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


def critic_tracks_w1(seed: int) -> dict:
    """One clipped critic per theta of the parallel-lines family; Pearson r of its estimate with W = |theta|."""
    torch.manual_seed(seed)
    thetas = CFG["lines_thetas"]
    line = lambda t: (lambda k: torch.stack([torch.full((k,), float(t)), torch.rand(k)], 1))  # noqa: E731
    ests = []
    for t in thetas:
        critic = wgan.mlp(in_dim=2, hidden=CFG["hidden"], depth=3)
        ests.append(_train_critic(critic, line(0.0), line(t), CFG["critic_steps"], CFG["critic_lr"], CFG["clip"]))
    return {"critic_vs_true_w1_pearson": float(stats.pearsonr(np.abs(thetas), ests)[0]), "line_estimates": ests}


def _input_grad_ratio(loss_of_x, fake: torch.Tensor) -> float:
    """mean |d loss / dx| at the fake samples / max |d loss / dx| over x in [-3, 9] (scale-free)."""
    grid = torch.linspace(-3, 9, 601)[:, None].requires_grad_(True)
    g_grid = torch.autograd.grad(loss_of_x(grid).sum(), grid)[0].abs()
    x = fake.clone().requires_grad_(True)
    g_fake = torch.autograd.grad(loss_of_x(x).sum(), x)[0].abs()
    return (g_fake.mean() / g_grid.max()).item()


def vanishing_gradients(seed: int) -> dict:
    """Fig. 2: real N(0, 1), fake N(6, 1). A trained GAN discriminator's generator loss log(1 - D(x)) is flat at the
    fakes; a trained clipped critic's loss -f(x) is not."""
    torch.manual_seed(seed)
    real = lambda k: torch.randn(k, 1)  # noqa: E731
    fake = lambda k: torch.randn(k, 1) + 6  # noqa: E731
    d = wgan.mlp(in_dim=1, hidden=CFG["hidden"], depth=3)
    opt = torch.optim.Adam(d.parameters(), lr=1e-3)
    for _ in range(CFG["gradient_steps"]):
        loss = F.softplus(-d(real(64))).mean() + F.softplus(d(fake(64))).mean()  # -log D(x) - log(1 - D(G(z)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    f = wgan.mlp(in_dim=1, hidden=CFG["hidden"], depth=3)
    _train_critic(f, real, fake, CFG["gradient_steps"], CFG["critic_lr"], CFG["clip"])
    xs = fake(1024)
    r_gan = _input_grad_ratio(lambda x: -F.softplus(d(x)), xs)  # log(1 - sigmoid(d)) = -softplus(d)
    r_critic = _input_grad_ratio(lambda x: -f(x), xs)
    grid = torch.linspace(-3, 9, 121)[:, None]
    with torch.no_grad():
        curves = {"gan_d": torch.sigmoid(d(grid)).squeeze(1).tolist(), "critic": f(grid).squeeze(1).tolist()}
    return {"gan_grad_ratio_at_fakes": r_gan, "critic_grad_ratio_at_fakes": r_critic, "curves": curves}


def ring(k: int, modes: int = 8, radius: float = 2.0, std: float = 0.02) -> torch.Tensor:
    angle = torch.randint(0, modes, (k,)) * (2 * math.pi / modes)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], 1) + std * torch.randn(k, 2)


def _modes_covered(x: np.ndarray, modes: int = 8, radius: float = 2.0) -> int:
    centers = np.stack([radius * np.cos(np.arange(modes) * 2 * np.pi / modes), radius * np.sin(np.arange(modes) * 2 * np.pi / modes)], 1)
    dist = np.linalg.norm(x[:, None] - centers[None], axis=-1)
    near = dist.min(1) < 0.2  # within 10 std of a mode centre
    counts = np.bincount(dist.argmin(1)[near], minlength=modes)
    return int((counts >= 0.02 * len(x)).sum())


def ring_training(seed: int) -> dict:
    """Sec. 4.2: the WGAN critic estimate along training vs the exact W1 of 512 generated and 512 real points;
    the same for a standard GAN's JS estimate (log 2 + half its negated discriminator loss)."""
    torch.manual_seed(seed)
    nz, every, steps = 8, CFG["eval_every"], CFG["generator_steps"]
    noise = lambda k: torch.randn(k, nz)  # noqa: E731
    w1_of = lambda g: wgan.exact_w1(g(noise(512)).detach().numpy(), ring(512).numpy())  # noqa: E731
    out = {}
    g, f = wgan.mlp(in_dim=nz, hidden=CFG["hidden"], depth=3, out_dim=2), wgan.mlp(in_dim=2, hidden=CFG["hidden"], depth=3)
    w_est, w_true = [], []

    def log_wgan(step, est):
        if (step + 1) % every == 0:
            with torch.no_grad():
                w_est.append(wgan.critic_estimate(f, ring(2048), g(noise(2048))).item())
            w_true.append(w1_of(g))

    wgan.train_wgan(g, f, ring, noise, generator_steps=steps, lr=CFG["ring_lr"], c=CFG["clip"],
                    n_critic_start=CFG["n_critic_start"], on_step=log_wgan)
    out["wgan"] = {"estimate": w_est, "w1": w_true}
    out["wgan_samples"] = g(noise(1024)).detach().numpy()

    g, d = wgan.mlp(in_dim=nz, hidden=CFG["hidden"], depth=3, out_dim=2), wgan.mlp(in_dim=2, hidden=CFG["hidden"], depth=3)
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.5, 0.999)) for m in (g, d))
    js_est, js_w1 = [], []
    for step in range(steps):
        loss_d = F.softplus(-d(ring(64))).mean() + F.softplus(d(g(noise(64)).detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-d(g(noise(64)))).mean()  # the non-saturating -log D(G(z)) of the GAN paper
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if (step + 1) % every == 0:
            with torch.no_grad():
                l = F.softplus(-d(ring(2048))).mean() + F.softplus(d(g(noise(2048)))).mean()
            js_est.append(math.log(2) - l.item() / 2)  # 2 JS - log 4 = -loss_D at the optimal D
            js_w1.append(w1_of(g))
    out["gan"] = {"estimate": js_est, "w1": js_w1}
    out["spearman_critic_vs_w1"] = float(stats.spearmanr(w_est, w_true)[0])
    out["spearman_gan_js_vs_w1"] = float(stats.spearmanr(js_est, js_w1)[0])
    out["modes_covered_of_8"] = _modes_covered(out["wgan_samples"])
    return out


def _job(item):
    part, seed = item
    return {"lines": critic_tracks_w1, "gradients": vanishing_gradients, "ring": ring_training}[part](seed)


def _figures(run, seeds, parts) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = parts[("ring", seeds[0])]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.6))
    x = np.arange(1, len(r["wgan"]["w1"]) + 1) * CFG["eval_every"]
    ax[0].plot(x, r["wgan"]["estimate"], label="critic estimate E_r f - E_g f")
    ax0b = ax[0].twinx()
    ax0b.plot(x, r["wgan"]["w1"], color="tab:red", label="exact W1 (512 vs 512)")
    ax[0].set(xlabel="generator step", title=f"WGAN on 8 Gaussians (seed {seeds[0]})")
    ax[0].legend(loc="upper center", fontsize=7), ax0b.legend(loc="center right", fontsize=7)
    ax[1].plot(x, r["gan"]["estimate"], label="GAN JS estimate")
    ax1b = ax[1].twinx()
    ax1b.plot(x, r["gan"]["w1"], color="tab:red", label="exact W1")
    ax[1].set(xlabel="generator step", title="standard GAN")
    ax[1].legend(loc="upper center", fontsize=7), ax1b.legend(loc="center right", fontsize=7)
    real = ring(1024).numpy()
    ax[2].scatter(*real.T, s=2, alpha=0.3, label="real")
    ax[2].scatter(*r["wgan_samples"].T, s=2, alpha=0.3, label="WGAN samples")
    ax[2].set(aspect="equal", title="samples after training")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "ring_critic_vs_w1.png", dpi=90, metadata={"Software": None})
    plt.close(fig)

    g = parts[("gradients", seeds[0])]["curves"]
    grid = np.linspace(-3, 9, 121)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(grid, g["gan_d"], label="GAN discriminator D(x)")
    crit = np.array(g["critic"])
    ax.plot(grid, (crit - crit.min()) / (np.ptp(crit) + 1e-12), label="WGAN critic f(x) (rescaled)")
    ax.axvspan(-2, 2, color="tab:blue", alpha=0.08, label="real N(0,1)")
    ax.axvspan(4, 8, color="tab:red", alpha=0.08, label="fake N(6,1)")
    ax.set(xlabel="x", title="Fig. 2 analogue: saturated D vs clean critic")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "critic_vs_discriminator.png", dpi=90, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    CFG.clear()
    CFG.update(cfg)
    if cfg.get("data", "generated") != "generated":
        return measure_images(cfg, run)
    seeds = run.seeds(cfg["seeds"])
    items = [(p, s) for s in seeds for p in ("ring", "lines", "gradients")]
    parts = dict(zip(items, map_seeds(_job, items, label="part,seed")))
    metrics = example1()
    metrics["algorithm1_default_clip"] = float(wgan.train_wgan.__kwdefaults__["c"])
    metrics["algorithm1_default_n_critic"] = float(wgan.train_wgan.__kwdefaults__["n_critic"])
    metrics["algorithm1_default_lr"] = float(wgan.train_wgan.__kwdefaults__["lr"])
    metrics["critic_optimizer_has_momentum"] = float(wgan.critic_optimizer([torch.zeros(1, requires_grad=True)]).defaults["momentum"])
    per = lambda part, k: [float(parts[(part, s)][k]) for s in seeds]  # noqa: E731
    metrics["critic_vs_true_w1_pearson"] = per("lines", "critic_vs_true_w1_pearson")
    metrics["gan_grad_ratio_at_fakes"] = per("gradients", "gan_grad_ratio_at_fakes")
    metrics["critic_grad_ratio_at_fakes"] = per("gradients", "critic_grad_ratio_at_fakes")
    metrics["spearman_critic_vs_w1"] = per("ring", "spearman_critic_vs_w1")
    metrics["spearman_gan_js_vs_w1"] = per("ring", "spearman_gan_js_vs_w1")
    metrics["spearman_wgan_minus_gan"] = [a - b for a, b in zip(metrics["spearman_critic_vs_w1"], metrics["spearman_gan_js_vs_w1"])]
    metrics["modes_covered_of_8"] = per("ring", "modes_covered_of_8")
    metrics["ring_final_w1_wgan"] = [parts[("ring", s)]["wgan"]["w1"][-1] for s in seeds]
    _figures(run, seeds, parts)
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": "generated: Example 1's parallel lines (512 points, identical quantiles; 10,000-point 2-D histograms "
                "with 0.01-wide x bins); 1-D N(0,1) vs N(6,1); a ring of 8 Gaussians (radius 2, std 0.02)",
        "models": f"ReLU MLPs, 3 hidden layers of {cfg['hidden']}",
        "critic_steps_per_theta": cfg["critic_steps"], "critic_lr": cfg["critic_lr"], "clip": cfg["clip"],
        "lines_thetas": cfg["lines_thetas"], "gradient_steps": cfg["gradient_steps"],
        "ring_generator_steps": cfg["generator_steps"], "ring_lr": cfg["ring_lr"], "n_critic": 5,
        "n_critic_first_25_generator_steps": cfg["n_critic_start"],
        "gan_baseline": "same MLPs, Adam 1e-4 beta1 0.5, one D step per G step", "eval_every": cfg["eval_every"]}}


# ------------------------------------------------------------------------------------------ full profile
def measure_images(cfg: dict, run) -> dict:
    """Sec. 4: DCGAN generator and critic on 64x64 images, Algorithm 1 defaults; logs the critic estimate and a
    quality proxy (the exact W1 between 512 generated and 512 real images in pixel space) along training."""
    from pipelines.shared import data
    import torchvision.transforms as T

    tf = T.Compose([T.Resize(64), T.CenterCrop(64), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    X, _ = data.to_tensors(data.torchvision_dataset(cfg["data"], train=True, transform=tf), cfg.get("limit"))
    dev = run.device
    seeds = run.seeds(cfg["seeds"])
    est_corr = []
    for seed in seeds:
        torch.manual_seed(seed)
        g, f = wgan.dcgan_generator().to(dev), wgan.dcgan_critic().to(dev)
        real = lambda k: X[torch.randint(0, len(X), (k,))].to(dev)  # noqa: E731
        noise = lambda k: torch.randn(k, 100, device=dev)  # noqa: E731
        w_est, w_true = [], []

        def log(step, est):
            if (step + 1) % cfg["eval_every"] == 0:
                w_est.append(est)
                with torch.no_grad():
                    w_true.append(wgan.exact_w1(g(noise(512)).flatten(1).cpu().numpy(), real(512).flatten(1).cpu().numpy()))

        wgan.train_wgan(g, f, real, noise, generator_steps=cfg["generator_steps"], on_step=log)
        est_corr.append(float(stats.spearmanr(w_est, w_true)[0]))
    return {"seeds": seeds, "metrics": {"spearman_critic_vs_w1": est_corr}, "setting": {
        "data": f"torchvision {cfg['data']} 64x64", "generator_steps": cfg["generator_steps"], "algorithm1": "defaults"}}
