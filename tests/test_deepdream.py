import torch
import torchvision

from implementations import deepdream as DD
from pipelines.shared.structural import on_meta


def test_googlenet_is_22_layers_deep():
    g = on_meta(lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False))
    assert DD.parameterized_depth(g) == 22
    assert DD.parameterized_depth(DD.digit_cnn()) == 4


def test_dream_raises_the_layer_activation():
    torch.manual_seed(0)
    net = DD.digit_cnn(width=4).eval()
    x = torch.rand(1, 1, 16, 16)
    y = DD.dream(net, x, 1, steps=3, octaves=2, jitter=2, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert DD.layer_output(net, y, 1).norm() > DD.layer_output(net, x, 1).norm()


def test_class_visualisation_raises_target_logits():
    torch.manual_seed(0)
    net = DD.digit_cnn(width=4)
    t = torch.tensor([0, 3])
    for prior in (True, False):
        x = DD.visualize_class(net, t, (1, 8, 8), steps=20, prior=prior, generator=torch.Generator().manual_seed(0))
        x0 = (0.5 + 0.1 * torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
        assert x.shape == (2, 1, 8, 8)
        assert net(x).gather(1, t[:, None]).sum() > net(x0).gather(1, t[:, None]).sum()


def test_total_variation():
    assert DD.total_variation(torch.ones(1, 1, 4, 4)) == 0
    x = torch.zeros(1, 1, 2, 2)
    x[..., 0, 0] = 1
    assert DD.total_variation(x) == 2
