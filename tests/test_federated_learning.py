import math

import pytest
import scipy.linalg
import torch

from implementations import federated_learning as fl


@pytest.mark.parametrize("bits", [1, 2, 3])
def test_quantizer_is_unbiased_by_exact_expectation(bits):
    h = torch.randn(1000, dtype=torch.float64)
    lower, upper, p = fl.quantize_levels(h, bits)
    assert ((p >= 0) & (p <= 1)).all()
    torch.testing.assert_close(lower + p * (upper - lower), h)  # E[Q(h)] = h exactly
    q = fl.stochastic_quantize(h, bits, torch.Generator().manual_seed(0))
    levels = torch.unique(q)
    assert len(levels) <= 2 ** bits
    assert torch.isclose(q.min(), h.min()) and torch.isclose(q.max(), h.max())


def test_one_bit_quantizer_is_the_two_level_scheme():
    h = torch.tensor([0.0, 0.25, 1.0])
    lower, upper, p = fl.quantize_levels(h, 1)
    torch.testing.assert_close(p, torch.tensor([0.0, 0.25, 1.0]))  # P(h_max) = (h - h_min) / (h_max - h_min)


@pytest.mark.parametrize("d", [1, 2, 8, 64, 512])
def test_hadamard_rotation_is_orthogonal_and_matches_sylvester(d):
    H = fl.fwht(torch.eye(d, dtype=torch.float64).float())
    torch.testing.assert_close(H @ H.T, torch.eye(d), atol=1e-5, rtol=0)
    torch.testing.assert_close(H, torch.tensor(scipy.linalg.hadamard(d), dtype=torch.float32) / math.sqrt(d), atol=1e-6, rtol=0)
    signs = torch.randint(0, 2, (d,)).float() * 2 - 1
    x = torch.randn(d)
    torch.testing.assert_close(fl.unrotate(fl.rotate(x, signs), signs), x, atol=1e-5, rtol=0)


def test_sketch_bit_counts():
    g = torch.Generator().manual_seed(0)
    _, bits = fl.sketch(torch.randn(128, 64), fraction=0.0625, bits=2, rotation=True, generator=g)
    assert bits == 512 * 2 + 64  # 6.25 % of 8,192 coordinates at 2 bits, plus h_min and h_max
    _, bits = fl.sketch(torch.randn(10, 128), fraction=0.0625, bits=2, rotation=True, generator=g)
    assert bits == 128 * 2 + 64  # padded to 2,048 for the rotation
    _, bits = fl.sketch(torch.randn(10, 128), fraction=1.0, bits=None, rotation=False, generator=g)
    assert bits == 1280 * 32
    assert fl.quantized_bits(4096, 1) == 4096 + 64


def test_sketch_is_unbiased_on_average():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(8, 16)
    draws = torch.stack([fl.sketch(h, fraction=0.25, bits=2, rotation=True, generator=g)[0] for _ in range(400)])
    z = (draws.mean(0) - h) / (draws.std(0) / 20)
    assert z.abs().max() < 5  # 128 coordinates: an unbiased sketch exceeds 5 sd with probability ~1e-4


def test_structures_restrict_the_update():
    g = torch.Generator().manual_seed(0)
    grad = torch.randn(128, 64)
    mask = fl.Structure(grad.shape, "mask", 0.0625, g)
    assert int((mask.project(grad) != 0).sum()) == 512 == mask.sent
    for shape in [(128, 64), (10, 128)]:
        lr = fl.Structure(shape, "low_rank", 0.0625, g)
        k = round(0.0625 * max(shape))
        assert torch.linalg.matrix_rank(lr.project(torch.randn(shape))) <= k
        assert lr.sent == k * min(shape)


def test_fedavg_round_is_the_average_of_client_updates():
    torch.manual_seed(0)
    model = fl.mlp(sizes=(4, 5, 3))
    w0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(2)]
    ups, bits = zip(*[fl.client_update(model, w0, X, y, epochs=1, lr=0.5, batch_size=4, generator=g) for X, y in data])
    w1 = fl.fedavg_step(w0, list(ups))
    for k in w0:
        torch.testing.assert_close(w1[k], w0[k] + (ups[0][k] + ups[1][k]) / 2)
        torch.testing.assert_close(w1[k], ((w0[k] + ups[0][k]) + (w0[k] + ups[1][k])) / 2)  # = mean of client models
    assert bits[0] == 32 * sum(v.numel() for v in w0.values())  # uncompressed: every float, no seed


def test_local_training_reduces_client_loss():
    torch.manual_seed(0)
    model = fl.mlp(sizes=(4, 16, 3))
    w0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    loss = lambda w: torch.nn.functional.cross_entropy(torch.func.functional_call(model, w, (X,)), y)  # noqa: E731
    for structure in ["full", "mask", "low_rank"]:
        h, _ = fl.client_update(model, w0, X, y, structure=structure, fraction=0.25, epochs=5, lr=0.3, batch_size=8,
                                generator=torch.Generator().manual_seed(1))
        assert loss({k: w0[k] + h[k] for k in w0}) < loss(w0)


def test_cnn_output_shape():
    assert fl.cnn(in_channels=3, width=8)(torch.randn(2, 3, 32, 32)).shape == (2, 10)
