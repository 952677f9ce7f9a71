import torch
from torch import nn

from implementations import pruning as pr


def make():
    torch.manual_seed(0)
    return pr.mlp(sizes=(64, 256, 256, 10))


def test_global_magnitude_exact_sparsity_and_threshold():
    m = pr.prune_global_magnitude(make(), 0.9)
    total = 64 * 256 + 256 * 256 + 256 * 10
    assert pr.nonzero_weights(m) == total - round(0.9 * total)
    kept = torch.cat([l.weight[l.weight != 0].abs() for l in m if isinstance(l, nn.Linear)])
    dropped = torch.cat([l.weight_orig[l.weight_mask == 0].abs() for l in m if isinstance(l, nn.Linear)])
    assert kept.min() >= dropped.max()  # one threshold over all layers


def test_layerwise_and_random_exact_sparsity_per_layer():
    for strategy in (pr.prune_layerwise_magnitude, pr.prune_random):
        m = strategy(make(), 0.97)
        for layer in (l for l in m if isinstance(l, nn.Linear)):
            n = layer.weight.numel()
            assert int((layer.weight != 0).sum()) == n - round(0.97 * n)
        assert abs(pr.sparsity(m) - 0.97) < 1e-3


def test_masks_survive_training_and_compression_ratio():
    m = pr.prune_global_magnitude(make(), 0.9)
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    m(torch.randn(8, 64)).sum().backward()
    opt.step()
    assert abs(pr.sparsity(m) - 0.9) < 1e-6
    assert abs(pr.compression_ratio(0.9) - 10) < 1e-9
    assert abs(pr.compression_ratio(0.97) - 33.333) < 1e-3
