import torch

from implementations.srcnn import srcnn, weight_count
from pipelines.shared.superres import bicubic_up, degrade, patches, psnr
from pipelines.shared.structural import count_params, on_meta


def test_weight_counts_match_the_paper():
    assert weight_count(on_meta(lambda: srcnn())) == 8032  # FSRCNN's restatement of SRCNN 9-1-5
    assert weight_count(on_meta(lambda: srcnn(f2=3))) == 24416
    assert weight_count(on_meta(lambda: srcnn(f2=5))) == 57184  # SRCNN-Ex, 9-5-5
    assert count_params(on_meta(lambda: srcnn())) == 8032 + 64 + 32 + 1


def test_unpadded_network_shrinks_33_to_21_and_padded_keeps_size():
    assert srcnn()(torch.zeros(2, 1, 33, 33)).shape == (2, 1, 21, 21)
    assert srcnn(padding=True)(torch.zeros(1, 1, 40, 52)).shape == (1, 1, 40, 52)
    convs = [m for m in srcnn() if isinstance(m, torch.nn.Conv2d)]
    assert [m.kernel_size[0] for m in convs] == [9, 1, 5] and [m.out_channels for m in convs] == [64, 32, 1]


def test_degradation_is_aligned_a_shift_would_cost_psnr():
    """A smooth image: aligned down/up-sampling is near-lossless; sampling at offset 0 shifts the grid."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 96), indexing="ij")
    hr = (0.5 + 0.4 * torch.sin(6 * xx + 3 * yy))[None]
    hr, lr = degrade(hr, 3)
    assert lr.shape == (1, 32, 32)
    aligned = psnr(bicubic_up(lr, 3), hr, border=6)
    shifted = psnr(bicubic_up(hr[:, ::3, ::3], 3), hr, border=6)
    assert aligned > 40 and aligned > shifted + 5


def test_patches_and_psnr():
    img = torch.arange(100.0).reshape(1, 10, 10)
    p = patches(img, 4, 3)
    assert p.shape == (9, 1, 4, 4) and torch.equal(p[1, 0, 0], img[0, 0, 3:7])
    a = torch.full((1, 8, 8), 0.5)
    assert abs(psnr(a + 0.1, a) - 20.0) < 1e-4
