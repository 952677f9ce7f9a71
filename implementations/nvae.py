"""NVAE: A Deep Hierarchical Variational Autoencoder.

Vahdat & Kautz, NeurIPS 2020. https://arxiv.org/abs/2007.03898

Idea: a hierarchical VAE whose latent groups z_1..z_L are sampled top-down in both the prior and the posterior;
the posterior is parameterised *relative to* the prior (residual normal, Eq. 2), which makes the KL simple (Eq. 3);
residual cells use depthwise separable convs, BN + Swish and squeeze-excitation (Sec. 3.1, Fig. 3), and spectral
regularisation of every conv keeps the deep model stable (Sec. 3.2). This file is a small 2-group version.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def residual_normal_kl(delta_mu: torch.Tensor, delta_sigma: torch.Tensor, sigma_p: torch.Tensor) -> torch.Tensor:
    """Eq. 3: KL(N(mu_p + dmu, sigma_p * dsigma) || N(mu_p, sigma_p)) = 1/2 (dmu^2/sigma_p^2 + dsigma^2 - log dsigma^2 - 1),
    elementwise: it does not depend on mu_p, and is 0 exactly when the encoder's residual is (0, 1)."""
    return 0.5 * (delta_mu.pow(2) / sigma_p.pow(2) + delta_sigma.pow(2) - 2 * delta_sigma.log() - 1)


def bits_per_dim(nll_nats: float, dims: int) -> float:
    """The paper's likelihood unit (Table 1): negative log-likelihood in nats per image / (D ln 2)."""
    return nll_nats / (dims * math.log(2))


def _norm(ch: int, kind: str) -> nn.Module:
    return nn.BatchNorm2d(ch, momentum=0.05) if kind == "bn" else nn.Identity()


def _act(kind: str) -> nn.Module:
    return nn.SiLU() if kind == "swish" else nn.ELU()  # Swish = x * sigmoid(x) (Sec. 3.1); ELU is the ablation


def _conv(cin: int, cout: int, k: int, *, groups: int = 1, stride: int = 1, norm: str = "bn") -> nn.Module:
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=norm != "bn")
    return weight_norm(conv) if norm == "wn" else conv  # "WN" ablation: weight-normalised convs, no BN


class SqueezeExcite(nn.Module):
    """Fig. 3: the SE block that ends both residual cells."""

    def __init__(self, ch: int, reduction: int = 4):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(ch, max(ch // reduction, 4)), nn.ReLU(), nn.Linear(max(ch // reduction, 4), ch), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(x.mean((2, 3)))[:, :, None, None]


class GenerativeCell(nn.Module):
    """Fig. 3a: BN - 1x1 conv (expand xE) - BN - Swish - depthwise 5x5 - BN - Swish - 1x1 conv - BN - SE, plus skip."""

    def __init__(self, ch: int, *, expand: int = 6, norm: str = "bn", act: str = "swish"):
        super().__init__()
        e = ch * expand
        self.body = nn.Sequential(
            _norm(ch, norm), _conv(ch, e, 1, norm=norm), _norm(e, norm), _act(act),
            _conv(e, e, 5, groups=e, norm=norm), _norm(e, norm), _act(act),  # depthwise: a large receptive field cheaply
            _conv(e, ch, 1, norm=norm), _norm(ch, norm), SqueezeExcite(ch))

    def forward(self, x):
        return x + 0.1 * self.body(x)  # a down-weighted residual branch, as in the official cells


class EncoderCell(nn.Module):
    """Fig. 3b: BN - Swish - 3x3 conv - BN - Swish - 3x3 conv - SE, plus skip (no depthwise conv in q)."""

    def __init__(self, ch: int, *, norm: str = "bn", act: str = "swish"):
        super().__init__()
        self.body = nn.Sequential(_norm(ch, norm), _act(act), _conv(ch, ch, 3, norm=norm),
                                  _norm(ch, norm), _act(act), _conv(ch, ch, 3, norm=norm), SqueezeExcite(ch))

    def forward(self, x):
        return x + 0.1 * self.body(x)


def discretized_logistic_nll(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log P(x) per element for 8-bit images x in [0, 1] under a logistic discretised into 256 bins (PixelCNN++, the
    likelihood family of the paper's CIFAR-10 model, here with one mixture component).  params: (mean, log scale)
    stacked on the channel axis, the mean in [-1, 1] pixel units."""
    mean, log_s = params.chunk(2, 1)
    y = x * 2 - 1
    inv_s = torch.exp(-log_s.clamp(-7, 5))
    plus, minus = inv_s * (y - mean + 1 / 255), inv_s * (y - mean - 1 / 255)  # the bin [y - 1/255, y + 1/255]
    log_cdf_plus = plus - F.softplus(plus)  # log sigmoid: the edge bin 0 takes all mass below
    log_one_minus_cdf_minus = -F.softplus(minus)  # log(1 - sigmoid): the edge bin 255 takes all mass above
    mid = torch.log((torch.sigmoid(plus) - torch.sigmoid(minus)).clamp_min(1e-12))
    return -torch.where(y < -0.999, log_cdf_plus, torch.where(y > 0.999, log_one_minus_cdf_minus, mid))


class TinyNVAE(nn.Module):
    """Two latent groups at a 4x4 scale (the paper: up to 30+ groups at several scales) over binary 1 x 8 x 8 images
    (Bernoulli) or 8-bit colour images (discretised logistic, e.g. CIFAR-10 3 x 32 x 32: three stride-2 convs down).

    Bottom-up: stem -> stride-2 conv -> encoder cells giving e_2 then e_1.  Top-down: a learned h_0, z_1 ~ N(0, I) in
    the prior and N(dmu_1, dsigma_1) in q, a generative cell, then p(z_2|z_1) = N(mu_p, sigma_p) and
    q(z_2|z_1, x) = N(mu_p + dmu_2, sigma_p * dsigma_2) (Eq. 2), a generative cell, upsampling to the likelihood's
    parameters.
    """

    def __init__(self, *, ch: int = 16, z_ch: int = 4, norm: str = "bn", act: str = "swish", expand: int = 3,
                 in_ch: int = 1, image_size: int = 8, likelihood: str = "bernoulli"):
        super().__init__()
        n_down = int(math.log2(image_size // 4))  # down to the latent groups' 4x4 scale
        self.stem = nn.Sequential(_conv(in_ch, ch, 3, norm=norm), *[_conv(ch, ch, 3, stride=2, norm=norm) for _ in range(n_down)])
        self.enc2, self.enc1 = EncoderCell(ch, norm=norm, act=act), EncoderCell(ch, norm=norm, act=act)
        self.h0 = nn.Parameter(torch.zeros(1, ch, 4, 4))
        self.q1 = _conv(ch, 2 * z_ch, 3, norm="none")
        self.z1_in, self.z2_in = _conv(z_ch, ch, 1, norm="none"), _conv(z_ch, ch, 1, norm="none")
        self.dec1, self.dec2 = GenerativeCell(ch, expand=expand, norm=norm, act=act), GenerativeCell(ch, expand=expand, norm=norm, act=act)
        self.p2 = _conv(ch, 2 * z_ch, 3, norm="none")
        self.q2 = _conv(2 * ch, 2 * z_ch, 3, norm="none")  # q sees the top-down state and the encoder features
        up = [m for _ in range(n_down) for m in (nn.Upsample(scale_factor=2), _conv(ch, ch, 3, norm=norm), _act(act))]
        out_ch = in_ch if likelihood == "bernoulli" else 2 * in_ch  # logits, or (mean, log scale) per pixel
        self.out = nn.Sequential(*up, _conv(ch, out_ch, 3, norm="none"))
        self.z_ch, self.likelihood = z_ch, likelihood

    @staticmethod
    def _split(t):
        mu, log_sigma = t.chunk(2, 1)
        return mu, log_sigma.clamp(-7, 3).exp()

    def _top_down(self, n: int, x_feats=None):
        """Returns (logits, KL per image); with x_feats=None it samples the prior (KL = 0)."""
        s = self.h0.expand(n, -1, -1, -1)
        kl = torch.zeros(n, device=s.device)
        if x_feats is None:
            z1 = torch.randn(n, self.z_ch, 4, 4, device=s.device)
        else:
            dmu, dsig = self._split(self.q1(x_feats[0]))  # top group: p(z_1) = N(0, I), so the residual is q itself
            z1 = dmu + dsig * torch.randn_like(dmu)
            kl = kl + residual_normal_kl(dmu, dsig, torch.ones_like(dsig)).flatten(1).sum(1)
        s = self.dec1(s + self.z1_in(z1))
        mu_p, sig_p = self._split(self.p2(s))
        if x_feats is None:
            z2 = mu_p + sig_p * torch.randn_like(mu_p)
        else:
            dmu, dsig = self._split(self.q2(torch.cat([s, x_feats[1]], 1)))
            z2 = mu_p + dmu + sig_p * dsig * torch.randn_like(dmu)  # Eq. 2: q is the prior shifted and scaled
            kl = kl + residual_normal_kl(dmu, dsig, sig_p).flatten(1).sum(1)
        s = self.dec2(s + self.z2_in(z2))
        return self.out(s), kl

    def neg_elbo(self, x: torch.Tensor) -> torch.Tensor:
        """-ELBO per image in nats: reconstruction + the KL of both groups (Eq. 1 / Eq. 3); with the discretised
        likelihood it bounds -log P(x) of the 8-bit image, so -ELBO / (D ln 2) is the bits/dim of Table 1."""
        e2 = self.enc2(self.stem(x))
        e1 = self.enc1(e2)
        out, kl = self._top_down(len(x), (e1, e2))
        if self.likelihood == "bernoulli":
            rec = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            rec = discretized_logistic_nll(out, x)
        return rec.flatten(1).sum(1) + kl

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        out = self._top_down(n)[0]
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else ((out.chunk(2, 1)[0] + 1) / 2).clamp(0, 1)


def tiny_nvae(*, ch: int = 16, z_ch: int = 4, norm: str = "bn", act: str = "swish", expand: int = 3,
              in_ch: int = 1, image_size: int = 8, likelihood: str = "bernoulli") -> TinyNVAE:
    """norm: "bn" (the paper) or "wn" (weight norm, the ablation of Table 6); act: "swish" (the paper) or "elu";
    likelihood: "bernoulli" (binary images) or "logistic" (8-bit images, discretised logistic)."""
    return TinyNVAE(ch=ch, z_ch=z_ch, norm=norm, act=act, expand=expand, in_ch=in_ch, image_size=image_size,
                    likelihood=likelihood)


def spectral_norms(model: nn.Module, state: dict, iters: int = 1) -> list[torch.Tensor]:
    """Sec. 3.2: the largest singular value s^(i) of every conv weight (reshaped to out x rest), by power iteration.

    `state` keeps each layer's u vector across calls (one iteration per step suffices, as in the official code).
    """
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            w = m.weight.flatten(1)
            u = state.get(name)
            if u is None:
                u = F.normalize(torch.randn(w.shape[0], device=w.device), dim=0)
            with torch.no_grad():
                for _ in range(iters):
                    v = F.normalize(w.t() @ u, dim=0)
                    u = F.normalize(w @ v, dim=0)
            state[name] = u
            out.append(u @ w @ v)
    return out


def spectral_regularization(model: nn.Module, state: dict, lam: float = 0.1) -> torch.Tensor:
    """Sec. 3.2: L_SR = lambda * sum_i s^(i), added to the training loss."""
    return lam * torch.stack(spectral_norms(model, state)).sum()


def optimizer(params, *, lr: float = 1e-2) -> torch.optim.Adamax:
    """Appendix (official code): Adamax with cosine decay; lr 1e-2 with warm-up for most data sets."""
    return torch.optim.Adamax(params, lr=lr)
