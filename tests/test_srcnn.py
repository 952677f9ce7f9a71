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


def test_least_squares_filter_recovers_a_known_linear_filter():
    """The comparator is the optimum of every linear network: on data made by a 13x13 filter it finds that filter."""
    import torch.nn.functional as F

    from pipelines.shared.superres import least_squares_filter

    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 1, 13, 13, generator=g) / 13
    x = torch.rand(40, 1, 33, 33, generator=g)
    y = torch.zeros(40, 1, 33, 33)
    y[..., 6:-6, 6:-6] = F.conv2d(x - 0.5, w) + 0.5 + 0.1  # centred as forward_centred; bias 0.1
    conv = least_squares_filter(x, y, 13, chunk=16)
    assert torch.allclose(conv.weight, w, atol=1e-4) and abs(float(conv.bias) - 0.1) < 1e-4


def test_srcnn_without_relus_is_a_linear_filter():
    """The broken version (ablate_relu): no ReLU left, and its output is affine in the input."""
    from pipelines.shared.superres import build_srcnn

    torch.manual_seed(0)
    net = build_srcnn("9-1-5-linear")
    assert not any(isinstance(m, torch.nn.ReLU) for m in net) and len(net) == 3
    assert any(isinstance(m, torch.nn.ReLU) for m in build_srcnn("9-1-5"))
    a, b, zero = torch.rand(1, 1, 20, 20), torch.rand(1, 1, 20, 20), torch.zeros(1, 1, 20, 20)
    with torch.no_grad():
        assert torch.allclose(net(a + b) - net(zero), (net(a) - net(zero)) + (net(b) - net(zero)), atol=1e-5)


def _verdicts(metrics: dict) -> dict:
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    cf = load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "srcnn.yaml")
    measured = {"paper": "srcnn", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if "cpu" in c.profiles and c.kind == "empirical"}


def test_a_network_without_its_non_linearity_cannot_pass_the_srcnn_claims():
    """Synthetic measured files: a real SRCNN (beats bicubic and the linear filter) reproduces; the same gains over
    bicubic from a network that only matches the least-squares filter (ReLUs removed) do not."""
    gain = [0.63, 0.71, 0.64, 0.70, 0.65, 0.75]
    real = {"psnr_gain_over_bicubic_db_srcnn_915": gain, "psnr_gain_min_over_images_db_srcnn_915": [0.2] * 6,
            "psnr_gain_over_linear_filter_db_srcnn_915": [0.08, 0.16, 0.08, 0.15, 0.10, 0.19],
            "psnr_gain_over_bicubic_db_linear_filter_13": 0.55}
    assert set(_verdicts(real).values()) == {"reproduced"}
    linear = {**real, "psnr_gain_over_bicubic_db_srcnn_915": [0.53, 0.54, 0.55, 0.52, 0.55, 0.54],
              "psnr_gain_over_linear_filter_db_srcnn_915": [-0.02, -0.01, 0.0, -0.03, 0.0, -0.01]}
    v = _verdicts(linear)
    assert v["srcnn_beats_bicubic"] == "invalid"  # the positive control (beats the linear filter) fails
    assert v["nonlinear_mapping_beats_linear_filter"] == "not_reproduced"
    assert v["srcnn_beats_bicubic_on_every_image"] == "invalid"
    undertrained = {**real, "psnr_gain_min_over_images_db_srcnn_915": [-0.1, 0.2, 0.1, -0.4, 0.1, 0.0],
                    "psnr_gain_over_linear_filter_db_srcnn_915": [-0.3, -0.1, -0.2, -0.4, -0.2, -0.1]}
    assert _verdicts(undertrained)["srcnn_beats_bicubic_on_every_image"] == "invalid"
