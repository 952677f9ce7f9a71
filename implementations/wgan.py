"""WGAN: Wasserstein GAN.

Arjovsky, Chintala, Bottou, 2017 (ICML 2017). https://arxiv.org/abs/1701.07875

Idea: train the generator to minimise the Earth-Mover (Wasserstein-1) distance W(P_r, P_g), which is continuous
in the generator's parameters where JS/KL/TV are not (Example 1). By Kantorovich-Rubinstein duality a critic f,
kept K-Lipschitz by clipping its weights to [-c, c], estimates K * W as E_r f - E_g f (Algorithm 1).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from torch import nn

from implementations.dcgan import discriminator, generator  # the paper's image models are DCGAN's (Sec. 4)


def mlp(*, in_dim: int = 2, hidden: int = 512, depth: int = 3, out_dim: int = 1) -> nn.Sequential:
    """ReLU MLP; the paper's MLP generator and critic have 4 layers of 512 units (Sec. 4.2, Fig. 6)."""
    layers, d = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


def dcgan_critic(*, nc: int = 3, ndf: int = 64, image_size: int = 64) -> nn.Module:
    """DCGAN's discriminator without a sigmoid: its raw output is the critic value f(x) (Sec. 4.1)."""
    return discriminator(nc=nc, ndf=ndf, image_size=image_size)


def dcgan_generator(*, nz: int = 100, ngf: int = 64, nc: int = 3, image_size: int = 64) -> nn.Module:
    return generator(nz=nz, ngf=ngf, nc=nc, image_size=image_size)


def critic_optimizer(params, *, lr: float = 5e-5) -> torch.optim.RMSprop:
    """Algorithm 1: RMSProp with alpha = 5e-5; momentum-based optimisers (Adam) made the critic unstable (Sec. 3)."""
    return torch.optim.RMSprop(params, lr=lr)


@torch.no_grad()
def clip_weights(critic: nn.Module, c: float = 0.01) -> None:
    """Algorithm 1, line 7: w <- clip(w, -c, c) keeps f in a compact set, hence K-Lipschitz for some K."""
    for p in critic.parameters():
        p.clamp_(-c, c)


def critic_estimate(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E_r f - E_g f: the dual objective of Eq. 3, an estimate of K * W(P_r, P_g)."""
    return critic(real).mean() - critic(fake).mean()


def train_wgan(gen: nn.Module, critic: nn.Module, sample_real: Callable[[int], torch.Tensor],
               sample_noise: Callable[[int], torch.Tensor], *, generator_steps: int, lr: float = 5e-5,
               c: float = 0.01, m: int = 64, n_critic: int = 5, n_critic_start: int | None = None,
               lr_g: float | None = None, on_step: Callable[[int, float], None] | None = None) -> None:
    """Algorithm 1 of the paper (defaults alpha = 5e-5, c = 0.01, m = 64, n_critic = 5).

    lr_g: the generator's step size when it differs from the critic's (Algorithm 1 uses alpha for both).
    on_step(step, critic_estimate) is called after each generator step with the last critic estimate.
    """
    opt_f = critic_optimizer(critic.parameters(), lr=lr)
    opt_g = critic_optimizer(gen.parameters(), lr=lr if lr_g is None else lr_g)
    for step in range(generator_steps):
        for _ in range(n_critic if n_critic_start is None or step >= 25 else n_critic_start):  # lines 2-8: train the critic towards the sup of Eq. 3
            with torch.no_grad():
                fake = gen(sample_noise(m))
            est = critic_estimate(critic, sample_real(m), fake)
            opt_f.zero_grad(set_to_none=True)
            (-est).backward()  # gradient *ascent* on E_r f - E_g f
            opt_f.step()
            clip_weights(critic, c)
        loss_g = -critic(gen(sample_noise(m))).mean()  # lines 9-11: theta <- theta - alpha * RMSProp(grad of -E f(g(z)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if on_step is not None:
            on_step(step, est.item())


def exact_w1(x: np.ndarray, y: np.ndarray) -> float:
    """The exact W1 between two empirical distributions of equally many points: an optimal assignment."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    cost = cdist(x, y)  # pairwise Euclidean distances without the (n, n, dim) difference array (images: dim 12,288)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def parallel_lines(theta: float, n: int, *, quantiles: bool = True, generator: np.random.Generator | None = None) -> np.ndarray:
    """Example 1: n points of P_theta = law of (theta, Z), Z ~ U[0, 1] (identical quantiles when `quantiles`)."""
    z = (np.arange(n) + 0.5) / n if quantiles else (generator or np.random.default_rng()).random(n)
    return np.stack([np.full(n, float(theta)), z], 1)
