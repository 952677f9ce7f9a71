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
