import torch

from implementations.rethinking_generalization import (TwoLayerInterpolant, gd_from_zero, min_norm_kernel_interpolant,
                                                        mlp, rbf_kernel)
from pipelines.shared.structural import count_params, on_meta


def test_mlp_sizes_of_table_1():
    assert count_params(on_meta(lambda: mlp(hidden=(512,)))) == 1_209_866
    assert count_params(on_meta(lambda: mlp(hidden=(512, 512, 512)))) == 1_735_178
    assert mlp()(torch.zeros(2, 3, 28, 28)).shape == (2, 10)


def test_theorem_1_construction_interpolates_any_labels():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(200, 5, dtype=torch.float64, generator=g), torch.randn(200, dtype=torch.float64, generator=g)
    net = TwoLayerInterpolant(5, 200).fit(x, y, generator=g)
    assert count_params(net) == 2 * 200 + 5
    assert (net(x) - y).abs().max() < 1e-6  # round-off of a triangular solve with close thresholds


def test_kernel_interpolation_and_gd_min_norm():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(30, 4, dtype=torch.float64, generator=g)
    Y = torch.randn(30, 3, dtype=torch.float64, generator=g)
    K = rbf_kernel(X, X, 0.5)
    assert torch.allclose(K @ min_norm_kernel_interpolant(K, Y), Y, atol=1e-8)
    A, b = torch.randn(10, 40, dtype=torch.float64, generator=g), torch.randn(10, dtype=torch.float64, generator=g)
    w = gd_from_zero(A, b, steps=3000, lr=1 / torch.linalg.matrix_norm(A, 2).item() ** 2)
    assert torch.allclose(w, torch.linalg.pinv(A) @ b, atol=1e-6)
