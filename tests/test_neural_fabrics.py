import torch

from implementations.neural_fabrics import chain_cnn, count_paths, neural_fabric
from pipelines.shared.structural import count_params, on_meta


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


def test_cifar10_full_branch_runs_on_fake_cifar(monkeypatch):
    """The full profile's CIFAR-10 training and test error, on torchvision's FakeData instead of the download."""
    import torchvision

    import pipelines.neural_fabrics as nf

    fake = lambda name, *, train, transform: torchvision.datasets.FakeData(  # noqa: E731
        size=16 if train else 8, image_size=(3, 32, 32), num_classes=10, transform=transform)
    monkeypatch.setattr(nf, "torchvision_dataset", fake)
    cfg = dict(cifar_batch_size=4, cifar_workers=0, cifar_layers=3, cifar_scales=6, cifar_channels=2,
               cifar_doubling=False, cifar_lr=0.01, cifar_weight_decay=0.0, cifar_epochs=1)
    error, params = nf.cifar10_error(cfg, 0, "cpu")
    assert 0.0 <= error <= 1.0 and params == count_params(neural_fabric(layers=3, scales=6, channels=2, doubling=False))
