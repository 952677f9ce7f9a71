"""NVAE (Vahdat & Kautz 2020): the residual-normal KL (Eq. 3) and the depthwise savings exactly, then a tiny
2-group NVAE on binarised digits for the BN + Swish and spectral-regularisation ablations (Sec. 3.1, 3.2).

cpu: sklearn digits 8x8, pixel/16 > 0.5, 1437 train / 360 test.  full: the same ablations on binarised MNIST
(torchvision) at 8x8, plus the BN + Swish + SR model on CIFAR-10 32x32 (8-bit, discretised logistic) for bits/dim.
"""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from implementations import nvae as N
from pipelines.shared import data
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.structural import count_params

ARMS = {"bn_swish_sr": ("bn", "swish", True), "wn_elu_sr": ("wn", "elu", True), "bn_swish_no_sr": ("bn", "swish", False)}


def exact_checks() -> dict:
    g = torch.Generator().manual_seed(0)
    n = 10_000
    mu_p, dmu = torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    sig_p = torch.rand(n, generator=g, dtype=torch.float64) * 2 + 0.05
    dsig = torch.rand(n, generator=g, dtype=torch.float64) * 3 + 0.05
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu_p + dmu, sig_p * dsig), torch.distributions.Normal(mu_p, sig_p))
    at_prior = N.residual_normal_kl(torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64), sig_p)
    out = {"residual_normal_kl_max_abs_error": (N.residual_normal_kl(dmu, dsig, sig_p) - ref).abs().max().item(),
           "residual_normal_kl_at_zero_residual_max": at_prior.abs().max().item(),
           "residual_normal_kl_min_elsewhere": N.residual_normal_kl(dmu, dsig, sig_p).min().item()}
    for c in (32, 64, 128):  # Sec. 3.1: regular vs depthwise 5x5 conv, and a whole generative cell vs two regular 5x5 convs
        regular = count_params(nn.Conv2d(c, c, 5, bias=False))
        depthwise = count_params(nn.Conv2d(c, c, 5, groups=c, bias=False))
        cell = sum(count_params(m) for m in N.GenerativeCell(c, expand=6).modules() if isinstance(m, nn.Conv2d))
        out[f"param_ratio_regular_over_depthwise_5x5_c{c}"] = regular / depthwise
        out[f"param_ratio_two_regular_5x5_over_cell_convs_c{c}"] = 2 * regular / cell
    return out


def load(cfg: dict) -> dict:
    if cfg["data"] == "digits":
        (xtr, _), (xte, _) = data.digits(test_fraction=0.2, split_seed=0)
    else:
        import torchvision.transforms as T

        tf = T.Compose([T.Pad(2), T.Resize(8), T.ToTensor()])  # the tiny model's 8x8 grid; the paper: 32x32, 30 groups
        xtr = data.to_tensors(data.torchvision_dataset("MNIST", train=True, transform=tf))[0]
        xte = data.to_tensors(data.torchvision_dataset("MNIST", train=False, transform=tf))[0]
    out = {"train": (xtr > 0.5).float(), "test": (xte > 0.5).float()}
    if cfg.get("cifar10_steps"):  # Table 1's data set, full profile only
        import torchvision.transforms as T

        out["cifar10_train"] = data.to_tensors(data.torchvision_dataset("CIFAR10", train=True, transform=T.ToTensor()))[0]
        out["cifar10_test"] = data.to_tensors(data.torchvision_dataset("CIFAR10", train=False, transform=T.ToTensor()))[0]
    return out


def pixel_marginals_nll(xtr: torch.Tensor, xte: torch.Tensor) -> float:
    """Test NLL (nats per image) of independent Bernoulli pixels at their training frequencies (add-one smoothed):
    the floor a latent-variable model that trained must beat."""
    p = (xtr.sum(0) + 1) / (len(xtr) + 2)
    return -float((xte * p.log() + (1 - xte) * (1 - p).log()).flatten(1).sum(1).mean())


def train_cifar10(cfg: dict, arrays: dict, seed: int) -> float:
    """The paper's configuration (BN + Swish + SR) at tiny size on CIFAR-10; returns test bits/dim (Table 1's unit)."""
    torch.manual_seed(seed)
    model = N.tiny_nvae(ch=cfg["cifar10_channels"], z_ch=cfg["latent_channels"], expand=cfg["expand"],
                        in_ch=3, image_size=32, likelihood="logistic").to(cfg["device"])
    _fit(model, arrays["cifar10_train"], cfg, steps=cfg["cifar10_steps"], sr=True, desc="nvae cifar10")
    model.eval()
    with torch.no_grad():
        nll = torch.cat([model.neg_elbo(b.to(cfg["device"])).cpu() for b in arrays["cifar10_test"].split(500)]).mean().item()
    return N.bits_per_dim(nll, 3 * 32 * 32) if math.isfinite(nll) else 1e6


def _fit(model, x: torch.Tensor, cfg: dict, *, steps: int, sr: bool, desc: str) -> dict:
    """Adamax with a cosine schedule on random minibatches of x (Sec. 5), minimising the negative ELBO plus, with
    `sr`, the spectral regularisation (Eq. 8); returns the power-iteration state the regulariser keeps."""
    opt = N.optimizer(model.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    state, m = {}, cfg["batch_size"]
    for _ in progress(range(steps), desc=desc, enabled=cfg["show_progress"]):
        loss = model.neg_elbo(x[torch.randint(0, len(x), (m,))].to(cfg.get("device", "cpu"))).mean()
        if sr:
            loss = loss + N.spectral_regularization(model, state, cfg["sr_lambda"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return state


def _test_bound(model, x: torch.Tensor, device) -> float:
    """The model's mean negative ELBO (nats) on x, in eval mode."""
    model.eval()
    with torch.no_grad():
        return model.neg_elbo(x.to(device)).mean().item()


def train_arm(cfg: dict, arrays: dict, item) -> dict:
    seed, arm = item
    norm, act, sr = ARMS[arm]
    device = cfg.get("device", "cpu")
    torch.manual_seed(seed)
    model = N.tiny_nvae(ch=cfg["channels"], z_ch=cfg["latent_channels"], norm=norm, act=act, expand=cfg["expand"]).to(device)
    with torch.random.fork_rng(devices=[]):  # the untrained bound, leaving the training's (CPU) stream as it was
        untrained = _test_bound(model, arrays["test"], device)
    model.train()
    state = _fit(model, arrays["train"], cfg, steps=cfg["steps"], sr=sr, desc=f"nvae {arm}")
    test = _test_bound(model, arrays["test"], device)
    with torch.no_grad():
        sn = torch.stack(N.spectral_norms(model, state, iters=30)).sum().item()
        samples = model.sample(64).cpu() if arm == "bn_swish_sr" else None
    return {"test_neg_elbo": test if math.isfinite(test) else 1e6, "spectral_norm_sum": sn, "samples": samples,
            "trained_minus_untrained": (test - untrained) if math.isfinite(test - untrained) else 1e6}


def _figure(run, samples) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(samples.view(8, 8, 8, 8).permute(0, 2, 1, 3).reshape(64, 64).numpy(), cmap="gray")
    ax.set(title="tiny NVAE samples (BN+Swish+SR, first seed)", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(run.figures / "nvae_samples.png", dpi=90, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "show_progress": run.show_progress, "device": run.device}
    arrays = load(cfg)
    seeds = run.seeds(cfg["seeds"])
    items = [(s, a) for s in seeds for a in ARMS]
    res = dict(zip(items, map_seeds(partial(train_arm, cfg, {"train": arrays["train"], "test": arrays["test"]}), items,
                                    label="seed,arm")))
    metrics = exact_checks()
    if cfg.get("cifar10_steps"):
        metrics["test_bpd_cifar10"] = [train_cifar10(cfg, arrays, s) for s in seeds]  # one at a time: on the accelerator
    r = lambda a, k: [res[(s, a)][k] for s in seeds]  # noqa: E731
    marginals = pixel_marginals_nll(arrays["train"], arrays["test"])
    metrics["test_nll_pixel_marginals"] = marginals
    for a in ARMS:
        metrics[f"test_neg_elbo_{a}"] = r(a, "test_neg_elbo")
        metrics[f"test_neg_elbo_{a}_minus_pixel_marginals"] = [v - marginals for v in r(a, "test_neg_elbo")]
        metrics[f"test_neg_elbo_{a}_minus_untrained"] = r(a, "trained_minus_untrained")
    metrics["neg_elbo_wn_elu_minus_bn_swish"] = [w - b for w, b in zip(r("wn_elu_sr", "test_neg_elbo"), r("bn_swish_sr", "test_neg_elbo"))]
    metrics["neg_elbo_no_sr_minus_sr"] = [w - b for w, b in zip(r("bn_swish_no_sr", "test_neg_elbo"), r("bn_swish_sr", "test_neg_elbo"))]
    metrics["spectral_norm_sum_no_sr_minus_sr"] = [w - b for w, b in zip(r("bn_swish_no_sr", "spectral_norm_sum"), r("bn_swish_sr", "spectral_norm_sum"))]
    _figure(run, res[(seeds[0], "bn_swish_sr")]["samples"])
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": "sklearn digits 8x8, pixel/16 > 0.5, 1437 train / 360 test" if cfg["data"] == "digits" else "MNIST binarised, resized to 8x8",
        "model": f"TinyNVAE: 2 latent groups of {cfg['latent_channels']}x4x4, {cfg['channels']} channels, expand {cfg['expand']}",
        "steps": cfg["steps"], "batch_size": cfg["batch_size"], "optimizer": f"Adamax lr {cfg['lr']}, cosine",
        "spectral_regularization_lambda": cfg["sr_lambda"], "arms": list(ARMS),
        **({"cifar10": f"BN + Swish + SR TinyNVAE, {cfg['cifar10_channels']} channels, 32x32x3 down to two 4x4 groups, "
                       f"discretised logistic, {cfg['cifar10_steps']} steps, test bits/dim on the 10k test images"}
           if cfg.get("cifar10_steps") else {}),
        "exact_checks": "10^4 float64 draws: mu_p, dmu ~ N(0,1), sigma_p ~ U(0.05, 2.05), dsigma ~ U(0.05, 3.05)"}}
