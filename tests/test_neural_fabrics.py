import torch

from implementations.neural_fabrics import chain_cnn, count_paths, neural_fabric
from pipelines.structural import count_params, on_meta


def test_path_counts():
    assert [count_paths(L, 6) for L in (8, 12, 16)] == [26, 3223, 244296]
    assert count_paths(6, 6) == 1  # the only path: straight down the scales
    assert count_paths(5, 6) == 0  # too short to reach the coarsest scale


def test_parameters_linear_in_layers_and_shapes():
    p = [count_params(neural_fabric(layers=L, scales=4, channels=4, in_channels=1)) for L in (2, 3, 4)]
    assert p[2] - p[1] == p[1] - p[0] > 0
    f = neural_fabric(layers=3, scales=4, channels=4, in_channels=1, num_classes=10)
    assert f(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert chain_cnn(in_channels=1, scales=4, channels=4)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_paper_size_fabric_builds_on_meta():
    f = on_meta(lambda: neural_fabric())
    assert f(torch.zeros(1, 3, 32, 32, device="meta")).shape == (1, 10)
