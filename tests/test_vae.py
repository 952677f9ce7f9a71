import torch

from implementations import vae as V


def test_gaussian_kl_matches_torch():
    mu, logvar = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                            torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(V.gaussian_kl(mu, logvar), ref, atol=1e-12)
    assert V.gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0


def test_reparameterize_moments():
    torch.manual_seed(0)
    z = V.reparameterize(torch.tensor([2.0]), torch.log(torch.tensor([9.0])), 200_000)
    assert abs(z.mean() - 2) < 0.05 and abs(z.std() - 3) < 0.05


def test_gradient_estimators_unbiased_and_variance_ratio():
    f = lambda z: (z - 3) ** 2  # noqa: E731
    sf = V.score_function_grads(f, 0.0, 1.0, 200_000, torch.Generator().manual_seed(0))
    rp = V.reparam_grads(f, 0.0, 1.0, 200_000, torch.Generator().manual_seed(1))
    assert abs(sf.mean() + 6) < 0.2 and abs(rp.mean() + 6) < 0.05
    assert 45 < (sf.var() / rp.var()).item() < 67  # analytic 222 / 4 = 55.5


def test_elbo_shape_and_bound():
    torch.manual_seed(0)
    m = V.vae(x_dim=64, hidden=32, z_dim=4)
    x = (torch.rand(10, 64) > 0.5).float()
    e = m.elbo(x, samples=3)
    assert e.shape == (10,) and (e < 0).all()  # a Bernoulli likelihood bound is below log 1 = 0
    assert isinstance(V.optimizer(m.parameters()), torch.optim.Adagrad)
