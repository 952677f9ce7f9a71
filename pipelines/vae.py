"""VAE (Kingma & Welling 2013): the closed-form KL and the reparameterisation gradient exactly, then the AEVB
experiments of Sec. 5 (L = 1 sample per datapoint at M = 100; superfluous latents) on binarised digits.

cpu: sklearn digits (8x8, pixel/16 > 0.5), 1437 train / 360 test.  full: MNIST (torchvision), binarised at 0.5.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch

from implementations import vae as V
from pipelines.shared import data
from pipelines.shared.common import map_seeds, progress


# ------------------------------------------------------------------------------------------ exact parts
def kl_checks() -> dict:
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(100, 20, generator=g, dtype=torch.float64), torch.randn(100, 20, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1)
    closed = V.gaussian_kl(mu, logvar)
    # Monte Carlo for the first row: KL = E_q[log q(z) - log p(z)] with 10^6 samples
    q0 = torch.distributions.Normal(mu[0], (0.5 * logvar[0]).exp())
    z = q0.loc + q0.scale * torch.randn(1_000_000, 20, generator=g, dtype=torch.float64)  # seeded draws from q0
    terms = (q0.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).sum(-1)
    mc_z = ((terms.mean() - closed[0]) / (terms.std() / math.sqrt(len(terms)))).item()
    return {"gaussian_kl_max_abs_error_vs_torch": (closed - ref).abs().max().item(), "gaussian_kl_mc_z_score": abs(mc_z)}


def gradient_variance() -> dict:
    """Sec. 2.2 vs 2.4 for f(z) = (z - 3)^2, z ~ N(0, 1): both estimators are unbiased for d/dmu E f = -6; the
    analytic variances are 222 (score function) and 4 (reparameterisation)."""
    f = lambda z: (z - 3) ** 2  # noqa: E731
    n = 100_000
    sf = V.score_function_grads(f, 0.0, 1.0, n, torch.Generator().manual_seed(1))
    rp = V.reparam_grads(f, 0.0, 1.0, n, torch.Generator().manual_seed(2))
    z = lambda g: abs((g.mean().item() + 6) / (g.std().item() / math.sqrt(n)))  # noqa: E731
    return {"score_function_grad_bias_z": z(sf), "reparam_grad_bias_z": z(rp),
            "grad_variance_score_over_reparam": (sf.var() / rp.var()).item()}


# ------------------------------------------------------------------------------------------ AEVB training
def load(cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    if cfg["data"] == "digits":
        (xtr, _), (xte, _) = data.digits(flatten=True, test_fraction=0.2, split_seed=0)
    else:  # full: MNIST through torchvision
        import torchvision.transforms as T

        xtr = data.to_tensors(data.torchvision_dataset("MNIST", train=True, transform=T.ToTensor()))[0].flatten(1)
        xte = data.to_tensors(data.torchvision_dataset("MNIST", train=False, transform=T.ToTensor()))[0].flatten(1)
    return (xtr > 0.5).float(), (xte > 0.5).float()


@torch.no_grad()
def mean_elbo(model, x: torch.Tensor, samples: int) -> float:
    return float(torch.cat([model.elbo(x[i:i + 500], samples) for i in range(0, len(x), 500)]).mean())


@torch.no_grad()
def mean_terms(model, x: torch.Tensor, samples: int) -> tuple[float, float]:
    """Mean reconstruction term E_q log p(x|z) and mean KL(q(z|x) || p(z)) over the rows of x (nats per image)."""
    rec, kl = model.elbo_terms(x, samples)
    return float(rec.mean()), float(kl.mean())


def pixel_marginals_ll(xtr: torch.Tensor, xte: torch.Tensor) -> float:
    """The best model whose decoder ignores z: independent Bernoulli pixels at their training frequencies (add-one
    smoothed); its mean test log-likelihood per image, the floor a model that uses its latents must beat."""
    p = (xtr.sum(0) + 1) / (len(xtr) + 2)
    return float((xte * p.log() + (1 - xte) * (1 - p).log()).sum(1).mean())


def grad_variance_ratio(model, x: torch.Tensor, L_hi: int, repeats: int = 20) -> float:
    """Positive control for 'L = 1 suffices': the factor acts on the estimator. Total variance of the minibatch
    gradient of the bound at L = 1 over that at L = L_hi, over `repeats` draws of eps on the same minibatch."""
    def var(L):
        gs = []
        for _ in range(repeats):
            model.zero_grad(set_to_none=True)
            (-model.elbo(x, L).mean()).backward()
            gs.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        return torch.stack(gs).var(0).sum().item()
    return var(1) / var(L_hi)


def train_arm(cfg: dict, data: tuple, item) -> dict:
    """One model: arm 'aevb' (Algorithm 1, L samples), 'nokl' (the bound without its KL term), 'ws' (wake-sleep),
    'ignore_z' (a broken decoder that ignores z, for the tests)."""
    seed, arm, z_dim, L = item
    torch.manual_seed(seed)
    xtr, xte = data
    model = V.vae(x_dim=xtr.shape[1], hidden=cfg["hidden"], z_dim=z_dim, ignore_z=arm == "ignore_z")
    opt = V.optimizer(model.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(seed)
    init_train = mean_elbo(model, xtr, cfg["eval_samples"])
    curve = []
    for epoch in progress(range(cfg["epochs"]), desc=f"vae {arm} z={z_dim} L={L}", enabled=cfg.get("show_progress", False)):
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), cfg["batch_size"]):  # Algorithm 1: minibatches of M, L samples each
            xb = xtr[perm[i:i + cfg["batch_size"]]]
            loss = model.wake_sleep_loss(xb) if arm == "ws" else -model.elbo(xb, L, kl_weight=0.0 if arm == "nokl" else 1.0).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if (epoch + 1) % cfg["eval_every"] == 0:
            curve.append(mean_elbo(model, xtr, cfg["eval_samples"]))
    (rec_tr, kl_tr), (rec_te, kl_te) = mean_terms(model, xtr, cfg["eval_samples"]), mean_terms(model, xte, cfg["eval_samples"])
    out = {"train": rec_tr - kl_tr, "test": rec_te - kl_te, "train_rec": rec_tr, "test_rec": rec_te, "test_kl": kl_te,
           "init_train": init_train, "curve": curve}
    if arm == "aevb" and L == 1 and z_dim == cfg["reference_z"]:
        out["grad_var_L1_over_Lhi"] = grad_variance_ratio(model, xtr[:cfg["batch_size"]], max(cfg["sample_counts"]))
        out["samples"] = model.sample(64)
    return out


def _figures(cfg, run, res, seeds, side: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s0, ref = seeds[0], cfg["reference_z"]
    imgs = res[(s0, "aevb", ref, 1)]["samples"].view(8, 8, side, side).permute(0, 2, 1, 3).reshape(8 * side, 8 * side)
    fig, ax = plt.subplots(1, 2, figsize=(9, 4))
    ax[0].imshow(imgs.numpy(), cmap="gray")
    ax[0].set(title=f"VAE samples, N_z={ref} (means of p(x|z))", xticks=[], yticks=[])
    ep = np.arange(1, len(res[(s0, "aevb", ref, 1)]["curve"]) + 1) * cfg["eval_every"]
    ax[1].plot(ep, res[(s0, "aevb", ref, 1)]["curve"], label=f"AEVB, N_z={ref}")
    ax[1].plot(ep, res[(s0, "ws", ref, 1)]["curve"], label=f"wake-sleep, N_z={ref}")
    for z in cfg["z_dims"]:
        if z != ref:
            ax[1].plot(ep, res[(s0, "aevb", z, 1)]["curve"], "--", lw=0.8, label=f"AEVB, N_z={z}")
    ax[1].set(xlabel="epoch", ylabel="train lower bound (nats)", title=f"Fig. 2 analogue, seed {s0}")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "vae_samples_and_elbo.png", dpi=90, metadata={"Software": None})
    plt.close(fig)


def items_for(cfg: dict, seeds: list[int]) -> list[tuple]:
    ref, z_hi = cfg["reference_z"], max(cfg["z_dims"])
    items = [(s, "aevb", z, 1) for s in seeds for z in cfg["z_dims"]]
    items += [(s, "aevb", ref, L) for s in seeds for L in cfg["sample_counts"] if L != 1]
    items += [(s, "nokl", z_hi, 1) for s in seeds] + [(s, "ws", ref, 1) for s in seeds]
    return sorted(items, key=lambda it: -it[3])  # the costly L > 1 runs first, for balance across the two workers


def metrics_of(cfg: dict, res: dict, seeds: list[int], marginals_ll: float) -> dict:
    """Every claim's metric and gate from the trained arms {(seed, arm, z, L): result}."""
    ref, z_hi, L_hi = cfg["reference_z"], max(cfg["z_dims"]), max(cfg["sample_counts"])
    r = lambda s, z, k, arm="aevb", L=1: res[(s, arm, z, L)][k]  # noqa: E731
    gap = lambda s, z: r(s, z, "train") - r(s, z, "test")  # noqa: E731
    m = {"test_ll_pixel_marginals": marginals_ll}
    m[f"test_elbo_L{L_hi}_minus_L1"] = [r(s, ref, "test", L=L_hi) - r(s, ref, "test") for s in seeds]
    m[f"test_elbo_nz{z_hi}_minus_best_nz"] = [r(s, z_hi, "test") - max(r(s, z, "test") for z in cfg["z_dims"]) for s in seeds]
    m[f"train_test_gap_nz{z_hi}_minus_1p5x_nz{ref}"] = [gap(s, z_hi) - 1.5 * gap(s, ref) for s in seeds]
    for z in cfg["z_dims"]:
        m[f"test_elbo_nz{z}"] = [r(s, z, "test") for s in seeds]
        m[f"train_test_gap_nz{z}"] = [gap(s, z) for s in seeds]
        m[f"test_kl_nz{z}"] = [r(s, z, "test_kl") for s in seeds]
        m[f"test_elbo_nz{z}_minus_pixel_marginals"] = [r(s, z, "test") - marginals_ll for s in seeds]
    m[f"test_elbo_L{L_hi}_minus_pixel_marginals"] = [r(s, ref, "test", L=L_hi) - marginals_ll for s in seeds]
    m[f"test_kl_L{L_hi}"] = [r(s, ref, "test_kl", L=L_hi) for s in seeds]
    m[f"grad_var_L1_over_L{L_hi}"] = [r(s, ref, "grad_var_L1_over_Lhi") for s in seeds]
    rec_gap = lambda s, arm: r(s, z_hi, "train_rec", arm) - r(s, z_hi, "test_rec", arm)  # noqa: E731
    m[f"recon_gap_nz{z_hi}_nokl_minus_vae"] = [rec_gap(s, "nokl") - rec_gap(s, "aevb") for s in seeds]
    m["train_elbo_aevb_minus_wake_sleep"] = [r(s, ref, "train") - r(s, ref, "train", "ws") for s in seeds]
    m["test_elbo_aevb_minus_wake_sleep"] = [r(s, ref, "test") - r(s, ref, "test", "ws") for s in seeds]
    m["train_elbo_wake_sleep"] = [r(s, ref, "train", "ws") for s in seeds]
    m["train_elbo_wake_sleep_minus_init"] = [r(s, ref, "train", "ws") - r(s, ref, "init_train", "ws") for s in seeds]
    m[f"test_elbo_aevb_nz{ref}_minus_pixel_marginals"] = m[f"test_elbo_nz{ref}_minus_pixel_marginals"]
    return m


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "show_progress": run.show_progress}
    data = load(cfg)
    seeds = run.seeds(cfg["seeds"])
    items = items_for(cfg, seeds)
    res = dict(zip(items, map_seeds(partial(train_arm, cfg, data), items, label="seed,arm,z,L")))
    metrics = {**kl_checks(), **gradient_variance(), **metrics_of(cfg, res, seeds, pixel_marginals_ll(*data))}
    _figures(cfg, run, res, seeds, int(math.isqrt(data[0].shape[1])))
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": ("sklearn digits 8x8 flattened, pixel/16 > 0.5 binarised, 1437 train / 360 test (split seed 0)"
                 if cfg["data"] == "digits" else "MNIST (torchvision) 28x28 binarised at 0.5, 60k train / 10k test"),
        "model": f"Appendix C MLPs: {data[0].shape[1]}-{cfg['hidden']}(tanh)-z, Bernoulli decoder",
        "optimizer": f"Adagrad lr {cfg['lr']}, M = {cfg['batch_size']}", "epochs": cfg["epochs"],
        "z_dims": cfg["z_dims"], "sample_counts_L": cfg["sample_counts"], "reference_z": cfg["reference_z"],
        "controls": f"N_z = {max(cfg['z_dims'])} without the KL term; wake-sleep at N_z = {cfg['reference_z']}, same "
                    "model and optimizer; pixel marginals (a decoder that ignores z)",
        "test_elbo": f"mean over the test set of the Eq. 10 estimator with L = {cfg['eval_samples']}",
        "exact_checks": "KL: 100 x 20 random (mu, log sigma^2) in float64; MC with 10^6 samples; gradients: 10^5 draws"}}
