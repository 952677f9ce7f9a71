import torch

from implementations.singing_voice_unet import l1_loss, patch_seconds, singing_voice_unet
from pipelines.structural import on_meta


def test_paper_network_shape_and_layers():
    m = on_meta(lambda: singing_voice_unet())
    assert m(torch.zeros(1, 1, 512, 128, device="meta")).shape == (1, 1, 512, 128)
    assert [e[0].out_channels for e in m.encoder] == [16, 32, 64, 128, 256, 512]
    assert [e[0].kernel_size for e in m.encoder] == [(5, 5)] * 6 and m.encoder[0][2].negative_slope == 0.2
    assert sum(isinstance(x, torch.nn.Dropout2d) for x in m.modules()) == 3


def test_soft_mask_times_mixture_and_l1():
    torch.manual_seed(0)
    m = singing_voice_unet(channels=(4, 8)).eval()
    mix = torch.rand(2, 1, 16, 16)
    est = m(mix)
    assert torch.allclose(est, m.mask(mix) * mix) and (est <= mix).all() and (est >= 0).all()
    target = torch.rand(2, 1, 16, 16)
    assert torch.isclose(l1_loss(est, target), (est - target).abs().sum() / 2)


def test_patch_seconds():
    assert patch_seconds() == 12.0 and patch_seconds(include_last_window=True) == 12.03125
