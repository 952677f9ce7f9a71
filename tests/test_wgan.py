import math

import numpy as np
import torch

from implementations import wgan as W


def test_exact_w1_on_parallel_lines():
    for t in (-1.0, 0.3, 2.0):
        assert abs(W.exact_w1(W.parallel_lines(0, 256), W.parallel_lines(t, 256)) - abs(t)) < 1e-9


def test_exact_w1_is_an_optimal_assignment_not_a_sorted_match():
    x, y = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 0.1], [0.0, 0.1]])
    assert math.isclose(W.exact_w1(x, y), 0.1)


def test_clipping_bounds_every_weight():
    f = W.mlp(in_dim=2, hidden=16, depth=2)
    W.clip_weights(f, 0.01)
    assert max(p.abs().max().item() for p in f.parameters()) <= 0.01


def test_algorithm1_defaults_and_rmsprop():
    kw = W.train_wgan.__kwdefaults__
    assert (kw["lr"], kw["c"], kw["m"], kw["n_critic"]) == (5e-5, 0.01, 64, 5)
    opt = W.critic_optimizer([torch.zeros(1, requires_grad=True)])
    assert isinstance(opt, torch.optim.RMSprop) and opt.defaults["momentum"] == 0


def test_train_wgan_runs_n_critic_steps_and_keeps_clip():
    torch.manual_seed(0)
    g, f = W.mlp(in_dim=2, hidden=8, depth=1, out_dim=2), W.mlp(in_dim=2, hidden=8, depth=1)
    calls = []
    W.train_wgan(g, f, lambda k: torch.randn(k, 2), lambda k: torch.randn(k, 2), generator_steps=3,
                 on_step=lambda s, e: calls.append(s))
    assert calls == [0, 1, 2]
    assert max(p.abs().max().item() for p in f.parameters()) <= 0.01


def test_dcgan_critic_shape():
    f = W.dcgan_critic(nc=3, ndf=8, image_size=32)
    assert f(torch.randn(2, 3, 32, 32)).shape == (2,)
