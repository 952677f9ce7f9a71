import torch

from implementations.deeplab import ASPP, atrous_kernel_size, deeplab_vgg16, dense_crf
from pipelines.deeplab import impulse_support
from pipelines.structural import count_params, on_meta


def test_atrous_field_of_view():
    for r in (1, 2, 4, 12, 24):
        assert impulse_support(3, r) == atrous_kernel_size(3, r) == 3 + 2 * (r - 1)


def test_table1_parameter_counts_and_stride8():
    counts = {kw: count_params(on_meta(lambda: deeplab_vgg16(**dict(kw))))
              for kw in [(("kernel", 7), ("rate", 4), ("width", 4096)), (("kernel", 4), ("rate", 4), ("width", 4096)), ()]}
    assert [round(c / 1e6, 1) for c in counts.values()] == [134.3, 65.1, 20.5]
    m = on_meta(lambda: deeplab_vgg16())
    x = torch.zeros(1, 3, 321, 321, device="meta")
    assert m.backbone(x).shape[-1] == 41 and m(x).shape == (1, 21, 321, 321)


def test_aspp_sums_branches_with_the_rates():
    aspp = ASPP(8, 3, rates=(6, 12, 18, 24), width=4)
    assert [b[0].dilation for b in aspp.branches] == [(6, 6), (12, 12), (18, 18), (24, 24)]
    x = torch.randn(1, 8, 30, 30)
    aspp.eval()
    assert torch.allclose(aspp(x), sum(b(x) for b in aspp.branches))


def test_dense_crf_zero_pairwise_is_softmax_and_smooths_noise():
    u = torch.randn(3, 6, 6)
    img = torch.zeros(3, 6, 6)
    q = dense_crf(u, img, w_appearance=0, theta_alpha=1, theta_beta=1, w_smooth=0)
    assert torch.allclose(q, u.softmax(0), atol=1e-6)
    # a flat image whose unaries say class 1 except one noisy pixel: the CRF flips that pixel
    u = torch.zeros(2, 8, 8)
    u[1] = 1.0
    u[:, 4, 4] = torch.tensor([1.0, 0.0])
    q = dense_crf(u, torch.zeros(3, 8, 8), w_appearance=3, theta_alpha=3, theta_beta=10, w_smooth=3)
    assert q.argmax(0).eq(1).all()
