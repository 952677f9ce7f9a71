import torch
from torch import nn

from implementations import dcgan as D
from pipelines.shared.structural import count_params, on_meta


def test_64px_shapes_and_sizes():
    g, d = on_meta(lambda: D.generator()), on_meta(lambda: D.discriminator())
    assert g(torch.zeros(2, 100, device="meta")).shape == (2, 3, 64, 64)
    assert d(torch.zeros(2, 3, 64, 64, device="meta")).shape == (2,)
    assert count_params(g) == 3_576_704 and count_params(d) == 2_765_568  # 4x4 top at 512 channels (ngf = 64)
    assert [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)] == [512, 256, 128, 64, 3]


def test_guidelines_hold_and_are_detected_when_broken():
    g, d = D.generator(nz=8, ngf=8, nc=1, image_size=16), D.discriminator(nc=1, ndf=8, image_size=16)
    assert D.guideline_violations(g, d) == []
    d.blocks[0].append(nn.MaxPool2d(1))
    g.net[-1] = nn.Sigmoid()
    bad = D.guideline_violations(g, d)
    assert any("pooling" in b for b in bad) and any("Tanh" in b for b in bad)


def test_init_and_optimizer():
    g = D.generator(nz=100, ngf=32, nc=3, image_size=32)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
    opt = D.optimizer(g.parameters())
    assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"][0] == 0.5


def test_features_are_each_layer_pooled_to_4x4():
    d = D.discriminator(nc=3, ndf=64, image_size=32).eval()
    f = d.features(torch.randn(2, 3, 32, 32))
    assert f.shape == (2, (64 + 128 + 256) * 16)
