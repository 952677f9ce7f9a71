"""VAE: Auto-Encoding Variational Bayes.

Kingma & Welling, 2013 (ICLR 2014). https://arxiv.org/abs/1312.6114

Idea: fit a latent-variable model p(x|z)p(z) and an encoder q(z|x) jointly by maximising the evidence lower
bound; the reparameterisation z = mu + sigma * eps (Sec. 2.4) gives a low-variance gradient of the bound, and for
Gaussian q and prior its KL term has a closed form (Appendix B), so only the reconstruction term is sampled (Eq. 10).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Appendix B: KL(N(mu, sigma^2) || N(0, I)) = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2), per row."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, samples: int = 1) -> torch.Tensor:
    """Sec. 2.4: z = mu + sigma * eps, eps ~ N(0, I): shape (samples, *mu.shape)."""
    eps = torch.randn(samples, *mu.shape, dtype=mu.dtype, device=mu.device)
    return mu + (0.5 * logvar).exp() * eps


class VAE(nn.Module):
    """Appendix C: MLP encoder (Gaussian) and decoder (Bernoulli) with one tanh hidden layer each."""

    def __init__(self, *, x_dim: int = 784, hidden: int = 500, z_dim: int = 20, ignore_z: bool = False):
        super().__init__()
        self.ignore_z = ignore_z  # a broken model for tests: the decoder sees zeros instead of z
        self.enc = nn.Sequential(nn.Linear(x_dim, hidden), nn.Tanh(), nn.Linear(hidden, 2 * z_dim))
        self.dec = nn.Sequential(nn.Linear(z_dim, hidden), nn.Tanh(), nn.Linear(hidden, x_dim))
        self.z_dim = z_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc(x).chunk(2, -1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.zeros_like(z) if self.ignore_z else z)

    def log_px(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) of the Bernoulli decoder, summed over pixels."""
        logits = self.decode(z)
        return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)

    def elbo_terms(self, x: torch.Tensor, samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 10's two terms per row of x: 1/L sum_l log p(x | z_l) and KL(q(z|x) || p(z)) (closed form)."""
        mu, logvar = self.encode(x)
        return self.log_px(x, reparameterize(mu, logvar, samples)).mean(0), gaussian_kl(mu, logvar)

    def elbo(self, x: torch.Tensor, samples: int = 1, *, kl_weight: float = 1.0) -> torch.Tensor:
        """Eq. 10, the SGVB estimator B: -KL (closed form) + 1/L sum_l log p(x | z_l), one value per row of x.
        kl_weight = 0 drops the bound's regulariser (an autoencoder with a noisy code), for a control."""
        rec, kl = self.elbo_terms(x, samples)
        return rec - kl_weight * kl

    def wake_sleep_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Wake-sleep (Hinton et al. 1995), the paper's comparator (Sec. 5, Fig. 2) for the same model. Wake: the
        generative model maximises log p(x, z) at z ~ q(z|x) (no gradient into q). Sleep: the recognition model maximises
        log q(z|x) on dreams z ~ p(z), x ~ p(x|z) (no gradient into p). The two losses touch disjoint parameters."""
        with torch.no_grad():
            mu, logvar = self.encode(x)
            z = reparameterize(mu, logvar)[0]
        wake = -(self.log_px(x, z) + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1))
        with torch.no_grad():
            z_dream = torch.randn(len(x), self.z_dim)
            x_dream = torch.bernoulli(torch.sigmoid(self.decode(z_dream)))
        mu, logvar = self.encode(x_dream)
        sleep = -torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z_dream).sum(-1)
        return (wake + sleep).mean()

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return torch.sigmoid(self.decode(torch.randn(n, self.z_dim)))


def vae(*, x_dim: int = 784, hidden: int = 500, z_dim: int = 20, ignore_z: bool = False) -> VAE:
    """Sec. 5 defaults for MNIST (500 hidden units; Frey Face 200); init N(0, 0.01) as in Sec. 5."""
    model = VAE(x_dim=x_dim, hidden=hidden, z_dim=z_dim, ignore_z=ignore_z)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
    return model


def optimizer(params, *, lr: float = 0.02) -> torch.optim.Adagrad:
    """Sec. 5: Adagrad, global step size from {0.01, 0.02, 0.1}."""
    return torch.optim.Adagrad(params, lr=lr)


def score_function_grads(f, mu: float, sigma: float, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Single-sample score-function (REINFORCE) estimates of d/dmu E_{z~N(mu,sigma)} f(z): f(z) d/dmu log q(z)
    (the naive estimator of Sec. 2.2 that "exhibits very high variance")."""
    z = mu + sigma * torch.randn(n, generator=generator, dtype=torch.float64)
    return f(z) * (z - mu) / sigma ** 2


def reparam_grads(f, mu: float, sigma: float, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Single-sample reparameterised estimates of the same gradient: d/dmu f(mu + sigma * eps) (Sec. 2.4)."""
    m = torch.full((n,), float(mu), dtype=torch.float64, requires_grad=True)
    eps = torch.randn(n, generator=generator, dtype=torch.float64)
    f(m + sigma * eps).sum().backward()
    return m.grad
