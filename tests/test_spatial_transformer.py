import math

import torch

from implementations.spatial_transformer import affine_warp, identity_theta, st_cnn, st_fcn
from pipelines.spatial_transformer import pose_spread_ratios, rts_distort, sampler_checks


def test_models_start_at_the_identity_transform():
    x = torch.rand(3, 1, 32, 32)
    for model in (st_fcn(), st_cnn()):
        assert model(x).shape == (3, 10)
        assert torch.allclose(model[0].theta(x), identity_theta(3))
        assert torch.allclose(model[0](x), x, atol=1e-5)


def test_sampler_identity_inverse_and_gradcheck():
    m = sampler_checks()
    assert m["sampler_identity_max_abs_error"] < 1e-12
    assert m["warp_inverse_interior_max_abs_error"] < 1e-2
    assert m["sampler_gradcheck_float64_passes"] == 1.0


def test_a_translation_moves_the_image_by_whole_pixels():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 3] = 1.0
    theta = torch.tensor([[[1.0, 0.0, -0.25], [0.0, 1.0, 0.0]]])  # 0.25 of the half-width = 1 pixel
    assert affine_warp(x, theta)[0, 0, 3, 4] == 1.0


def test_pose_ratio_is_zero_for_a_perfect_inverse_and_one_for_identity():
    cfg = {"max_rotation_deg": 45, "scale_min": 0.7, "scale_max": 1.2, "max_shift": 0.175}
    x, pose = rts_distort(torch.rand(50, 1, 16, 16), 32, cfg, seed=0)
    assert x.shape == (50, 1, 32, 32)

    class Fixed(torch.nn.Module):
        def __init__(self, theta):
            super().__init__()
            self.t = theta

        def theta(self, _x):
            return self.t

    ident = pose_spread_ratios([Fixed(identity_theta(50))], x, pose)
    assert all(abs(r - 1) < 1e-5 for r in ident)
    perfect = pose_spread_ratios([Fixed(torch.linalg.inv(pose)[:, :2])], x, pose)
    assert all(r < 1e-4 for r in perfect)
    assert abs(math.degrees(float(torch.atan2(pose[:, 1, 0], pose[:, 0, 0]).abs().max())) - 45) < 5


def _verdicts(metrics: dict) -> dict:
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    cf = load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "spatial_transformer.yaml")
    measured = {"paper": "spatial_transformer", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if "cpu" in c.profiles and c.kind == "empirical"}


NOISE = [0.03, -0.05, 0.02, 0.04, -0.03]


def _works() -> dict:
    return {"test_error_fcn": [0.33] * 5, "test_error_st_fcn": [0.09] * 5,
            "log_error_ratio_st_fcn_over_fcn": [-1.3 + e for e in NOISE],
            "log_pose_shift_spread_ratio": [-1.2 + e for e in NOISE], "log_pose_angle_spread_ratio": [-0.9 + e for e in NOISE]}


def test_the_st_claims_pass_when_the_transformer_works():
    assert set(_verdicts(_works()).values()) == {"reproduced"}


def test_a_transformer_that_does_nothing_cannot_pass():
    """Identity transformer: errors equal to the FCN's, poses untouched. Every claim fails or is invalid (the
    rotation claim's gate sees that the transformer does not act)."""
    no_op = {**_works(), "log_error_ratio_st_fcn_over_fcn": NOISE, "log_pose_shift_spread_ratio": NOISE,
             "log_pose_angle_spread_ratio": NOISE}
    v = _verdicts(no_op)
    assert "reproduced" not in v.values()
    assert v["st_undoes_pose_rotation"] == "invalid"


def test_untrained_arms_or_a_costly_transformer_fail():
    assert set(_verdicts({**_works(), "test_error_fcn": [0.9] * 5}).values()) >= {"invalid"}
    assert _verdicts({**_works(), "test_error_fcn": [0.9] * 5})["st_improves_distorted_digits"] == "invalid"
    assert _verdicts({**_works(), "test_error_st_fcn": [0.85] * 5})["st_undoes_pose_translation"] == "invalid"


def _overhead_verdict(ratio: float) -> str:
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    cf = load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "spatial_transformer.yaml")
    claim = next(c for c in cf.claims if c.id == "st_low_overhead")
    return check_claim(claim, {"paper": "spatial_transformer", "profile": "cpu",
                               "metrics": {"macs_ratio_st_cnn_multi_over_cnn": ratio}}).verdict


def test_svhn_networks_and_their_multiply_adds():
    from torch import nn

    from implementations.spatial_transformer import st_cnn_multi, svhn_cnn
    from pipelines.shared.structural import count_macs, count_params, on_meta
    from pipelines.spatial_transformer import overhead_macs, sampler_macs

    cnn, st = on_meta(svhn_cnn), on_meta(st_cnn_multi)
    assert cnn(torch.zeros(1, 3, 64, 64, device="meta")).shape == (1, 5, 11)
    assert len(st.transformers) == 4 and [t.localisation[1].in_features for t in st.transformers] == [
        3 * 64 * 64, 48 * 32 * 32, 64 * 32 * 32, 128 * 16 * 16]  # the image, then three feature maps
    assert count_params(st) - count_params(cnn) == sum(count_params(t) for t in st.transformers)
    # the samplers by hand: each transformer keeps its input's shape; 6 per location, 4 per value
    assert sampler_macs(st, (3, 64, 64)) == sum(6 * h * w + 4 * c * h * w for c, h, w in
                                                ((3, 64, 64), (48, 32, 32), (64, 32, 32), (128, 16, 16)))
    # the localisation nets' fully connected layers are all the counter adds besides the samplers
    loc = sum(l.in_features * l.out_features for t in st.transformers for l in t.localisation if isinstance(l, nn.Linear))
    assert count_macs(st, (3, 64, 64)) - count_macs(cnn, (3, 64, 64)) == loc
    m = overhead_macs(64)
    assert m["macs_st_cnn_multi"] == count_macs(cnn, (3, 64, 64)) + loc + sampler_macs(st, (3, 64, 64))
    assert _overhead_verdict(m["macs_ratio_st_cnn_multi_over_cnn"]) == "reproduced"
    # at initialisation the four transformers are the identity: the same weights give the CNN's output
    small, plain = st_cnn_multi(image_size=16).eval(), svhn_cnn(image_size=16).eval()
    plain.load_state_dict({k: v for k, v in small.state_dict().items() if not k.startswith("transformers")})
    x = torch.rand(2, 3, 16, 16)
    assert torch.allclose(small(x), plain(x), atol=1e-5)


def test_a_costly_transformer_fails_the_overhead_claim():
    """Broken version: the same four transformers with convolutional localisation nets (two 5x5 convs of 32
    channels, as a localisation CNN on distorted MNIST) cost far more than 6% of the CNN."""
    from torch import nn

    from implementations.spatial_transformer import _identity_regressor, st_cnn_multi, svhn_cnn
    from pipelines.shared.structural import count_macs, on_meta
    from pipelines.spatial_transformer import sampler_macs

    def conv_localisation(cin):
        return nn.Sequential(nn.Conv2d(cin, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 32, 5, padding=2),
                             nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), _identity_regressor(32))

    def costly():
        m = st_cnn_multi()
        for t, cin in zip(m.transformers, (3, 48, 64, 128)):
            t.localisation = conv_localisation(cin)
        return m

    st = on_meta(costly)
    ratio = (count_macs(st, (3, 64, 64)) + sampler_macs(st, (3, 64, 64))) / count_macs(on_meta(svhn_cnn), (3, 64, 64))
    assert ratio > 1.1 and _overhead_verdict(ratio) == "not_reproduced"
