import torch
from torch import nn

from implementations import swish as sw


def test_limits_linear_and_relu():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    assert torch.equal(sw.swish(x, 0.0), x / 2)
    errs = [float((sw.swish(x, b) - x.clamp_min(0)).abs().max()) for b in (1.0, 10.0, 100.0, 1000.0)]
    assert all(a > b for a, b in zip(errs, errs[1:])) and errs[-1] < 3e-4
    assert abs(errs[0] - 0.2785) < 1e-3  # max |x sigma(x) - relu(x)| = max_u u sigma(-u)


def test_silu_is_swish_1_and_module_trains_beta():
    x = torch.randn(100)
    assert torch.allclose(sw.swish(x, 1.0), nn.functional.silu(x))
    act = sw.Swish(beta=2.0)
    act(x).sum().backward()
    assert act.beta.grad is not None and torch.allclose(act(x), x * torch.sigmoid(2 * x))
    assert not list(sw.Swish(trainable=False).parameters())


def test_derivative_matches_autograd_and_identities():
    x = torch.linspace(-6, 6, 501, dtype=torch.float64, requires_grad=True)
    for beta in (0.5, 1.0, 3.0):
        (g,) = torch.autograd.grad(sw.swish(x, beta).sum(), x)
        assert torch.allclose(sw.swish_derivative(x.detach(), beta), g, atol=1e-12)
    xd = x.detach()
    assert torch.allclose(sw.swish_derivative(-xd), 1 - sw.swish_derivative(xd), atol=1e-12)


def test_deep_mlp_shape_and_replace_relu():
    m = sw.deep_mlp(depth=5, width=16)
    assert m(torch.randn(4, 64)).shape == (4, 10)
    assert sum(isinstance(l, sw.Swish) for l in m) == 5
    import torchvision
    r = sw.replace_relu(torchvision.models.resnet18(weights=None))
    assert not any(isinstance(l, nn.ReLU) for l in r.modules())
    assert r(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
