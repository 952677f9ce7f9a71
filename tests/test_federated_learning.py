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


def test_sketch_bit_counts_are_the_message_bytes():
    g = torch.Generator().manual_seed(0)
    _, bits = fl.sketch(torch.randn(128, 64), fraction=0.0625, bits=2, rotation=True, generator=g)
    assert bits == 512 * 2 + 64  # 6.25 % of 8,192 coordinates at 2 bits, plus h_min and h_max
    _, bits = fl.sketch(torch.randn(10, 128), fraction=0.0625, bits=2, rotation=True, generator=g)
    assert bits == 128 * 2 + 64  # padded to 2,048 for the rotation
    _, bits = fl.sketch(torch.randn(10, 128), fraction=1.0, bits=None, rotation=False, generator=g)
    assert bits == 1280 * 32
    h = torch.randn(4096)
    assert 8 * len(fl.encode_quantized(h, 1)) == 4096 + 64 and 8 * len(fl.encode_floats(h)) == 32 * 4096


@pytest.mark.parametrize("bits", [1, 2, 3])
def test_quantized_message_round_trip(bits):
    """The server reads back exactly the levels the client chose: packing loses nothing."""
    h = torch.randn(1001)
    msg = fl.encode_quantized(h, bits, torch.Generator().manual_seed(3))
    q = fl.stochastic_quantize(h, bits, torch.Generator().manual_seed(3))
    torch.testing.assert_close(fl.decode_quantized(msg, h.numel(), bits), q, atol=1e-6, rtol=0)
    assert len(msg) == 8 + (1001 * bits + 7) // 8


@pytest.mark.parametrize("structure", ["full", "mask", "low_rank"])
def test_server_decodes_the_client_update_from_the_bytes(structure):
    torch.manual_seed(0)
    model = fl.mlp(sizes=(4, 16, 3))
    w0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    msg = fl.client_update(model, w0, X, y, structure=structure, fraction=0.25, epochs=2, lr=0.3, batch_size=8,
                           generator=torch.Generator().manual_seed(1))
    true = {k: p.detach() - w0[k] for k, p in model.named_parameters()}  # model holds the client's local weights
    got = fl.decode_update(msg, {k: v.shape for k, v in w0.items()}, structure=structure, fraction=0.25)
    for k in w0:
        torch.testing.assert_close(got[k], true[k], atol=1e-5, rtol=1e-4)
    weights = sum(v.numel() for v in w0.values() if v.dim() == 2)
    biases = sum(v.numel() for v in w0.values() if v.dim() == 1)
    kept = {"full": weights, "mask": round(0.25 * 64) + round(0.25 * 48), "low_rank": 4 * 4 + 4 * 3}[structure]
    assert msg.bits() == 32 * (kept + biases) + (0 if structure == "full" else 32)  # floats sent, plus the seed


def test_wrong_seed_decodes_a_different_update():
    """The message alone does not carry the mask: the server needs the client's seed (so the seed is counted)."""
    torch.manual_seed(0)
    model = fl.mlp(sizes=(4, 16, 3))
    w0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    msg = fl.client_update(model, w0, torch.randn(32, 4), torch.randint(0, 3, (32,)), structure="mask", fraction=0.25,
                           lr=0.3, batch_size=8, generator=torch.Generator().manual_seed(1))
    shapes = {k: v.shape for k, v in w0.items()}
    right = fl.decode_update(msg, shapes, structure="mask", fraction=0.25)
    wrong = fl.decode_update(fl.Message(msg.seed + 1, msg.tensors), shapes, structure="mask", fraction=0.25)
    assert not torch.allclose(right["0.weight"], wrong["0.weight"])


def test_biased_quantizer_fails_the_unbiasedness_claim(monkeypatch):
    """Deterministic rounding to the nearest level (a biased quantizer) must fail quantizer_unbiased."""
    from pipelines import federated_learning as stage

    assert claim_verdicts({"quantizer_1bit_max_abs_z": stage.quantizer_unbiased_max_z(1024, 2000, 0)},
                          ["quantizer_unbiased"]) == {"quantizer_unbiased": "reproduced"}

    def nearest(h, bits, generator=None):
        lower, upper, p = fl.quantize_levels(h, bits)
        return torch.where(p >= 0.5, upper, lower)

    monkeypatch.setattr(fl, "stochastic_quantize", nearest)
    z = stage.quantizer_unbiased_max_z(1024, 2000, 0)
    assert claim_verdicts({"quantizer_1bit_max_abs_z": z}, ["quantizer_unbiased"]) == {"quantizer_unbiased": "not_reproduced"}


def test_no_rotation_fails_the_rotation_claim(monkeypatch):
    from pipelines import federated_learning as stage

    monkeypatch.setattr(fl, "rotate", lambda x, signs: x)
    monkeypatch.setattr(fl, "unrotate", lambda y, signs: y)
    ratio = stage.rotation_error_ratio(1024, 20, 20, 0)
    assert 0.5 < ratio < 2
    assert claim_verdicts({"rotation_quant_error_ratio": ratio},
                          ["rotation_reduces_quantization_error"]) == {"rotation_reduces_quantization_error": "not_reproduced"}


def test_uncompressed_messages_fail_the_saving_claim():
    """A 'sketch' that sends every coordinate as a float (fraction 1, no quantization, no rotation) saves nothing."""
    from pipelines import federated_learning as stage

    cfg = {"data": "digits", "model": "mlp", "sizes": [64, 32, 10], "num_clients": 6, "shards_per_client": 2,
           "clients_per_round": 2, "local_epochs": 1, "batch_size": 16, "rounds": 1, "eval_last_rounds": 1,
           "val_fraction": 0.2, "structured_fraction": 0.0625, "sketch_fraction": 1.0, "sketch_bits": None}
    full = stage.train_federated(cfg, ("full", 0.1, 0))
    noop = stage.train_federated(cfg, ("sketch", 0.1, 0))
    saving = full["weight_bits"] / noop["weight_bits"]
    assert saving < 1.5
    assert claim_verdicts({"uplink_saving_weight_matrices": saving},
                          ["sketch_saves_two_orders_of_magnitude"]) == {"sketch_saves_two_orders_of_magnitude": "not_reproduced"}


def test_identity_sketch_fails_the_positive_control():
    """An identity 'sketch' leaves the decoded update equal to the client's: the positive control of the
    non-inferiority claim fails, so 'no drop in accuracy' cannot pass without a sketch that acts."""
    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file
    from pipelines.shared.common import REPO

    claim = next(c for c in load_claim_file(REPO / "claims" / "federated_learning.yaml").claims
                 if c.id == "sketch_minor_drop_in_accuracy")
    metrics = {"acc_full": [0.9] * 6, "acc_sketched": [0.9] * 6, "acc_sketched_minus_full": [0.0] * 6,
               "sketch_update_relative_error": [0.0] * 6, "uplink_saving_weight_matrices": 1.0}
    assert check_claim(claim, {"paper": "federated_learning", "profile": "cpu", "metrics": metrics}).verdict == "invalid"


def claim_verdicts(metrics: dict, ids: list[str]) -> dict:
    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file
    from pipelines.shared.common import REPO

    cf = load_claim_file(REPO / "claims" / "federated_learning.yaml")
    measured = {"paper": "federated_learning", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if c.id in ids}


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
    assert int((mask.project(grad) != 0).sum()) == 512 == len(mask.encode(grad)) // 4
    for shape in [(128, 64), (10, 128)]:
        lr = fl.Structure(shape, "low_rank", 0.0625, g)
        k = round(0.0625 * max(shape))
        h = lr.project(torch.randn(shape))
        assert torch.linalg.matrix_rank(h) <= k
        assert len(lr.encode(h)) // 4 == k * min(shape)
        torch.testing.assert_close(lr.decode(lr.encode(h)), h, atol=1e-5, rtol=1e-4)


def test_fedavg_round_is_the_average_of_client_updates():
    torch.manual_seed(0)
    model = fl.mlp(sizes=(4, 5, 3))
    w0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    shapes = {k: v.shape for k, v in w0.items()}
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(2)]
    msgs = [fl.client_update(model, w0, X, y, epochs=1, lr=0.5, batch_size=4, generator=g) for X, y in data]
    ups = [fl.decode_update(m, shapes) for m in msgs]
    w1 = fl.fedavg_step(w0, ups)
    for k in w0:
        torch.testing.assert_close(w1[k], w0[k] + (ups[0][k] + ups[1][k]) / 2)
        torch.testing.assert_close(w1[k], ((w0[k] + ups[0][k]) + (w0[k] + ups[1][k])) / 2)  # = mean of client models
    assert msgs[0].bits() == 32 * sum(v.numel() for v in w0.values())  # uncompressed: every float, no seed


def test_local_training_reduces_client_loss():
    torch.manual_seed(0)
    model = fl.mlp(sizes=(4, 16, 3))
    w0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    shapes = {k: v.shape for k, v in w0.items()}
    X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    loss = lambda w: torch.nn.functional.cross_entropy(torch.func.functional_call(model, w, (X,)), y)  # noqa: E731
    for structure in ["full", "mask", "low_rank"]:
        msg = fl.client_update(model, w0, X, y, structure=structure, fraction=0.25, epochs=5, lr=0.3, batch_size=8,
                               generator=torch.Generator().manual_seed(1))
        h = fl.decode_update(msg, shapes, structure=structure, fraction=0.25)
        assert loss({k: w0[k] + h[k] for k in w0}) < loss(w0)


def test_cnn_output_shape():
    assert fl.cnn(in_channels=3, width=8)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_identical_structures_fail_the_mask_vs_low_rank_claim():
    """Mask and low rank made identical (the factor removed): every paired difference is 0, the claim fails; a
    sketched run 5 points worse fails the 'minor drop' claim."""
    metrics = {"acc_mask_best_lr": [0.9] * 6, "acc_low_rank_best_lr": [0.9] * 6, "acc_mask_minus_low_rank": [0.0] * 6,
               "acc_full": [0.9] * 6, "acc_sketched": [0.85] * 6,
               "acc_sketched_minus_full": [-0.05, -0.06, -0.04, -0.05, -0.055, -0.045],
               "sketch_update_relative_error": [4.0] * 6, "uplink_saving_weight_matrices": 210.0}
    assert claim_verdicts(metrics, ["random_mask_better_than_low_rank", "sketch_minor_drop_in_accuracy"]) == {
        "random_mask_better_than_low_rank": "not_reproduced", "sketch_minor_drop_in_accuracy": "not_reproduced"}
