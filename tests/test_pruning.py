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


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim
from claimcheck.schema import load_claim_file
from pipelines import pruning as stage
from pipelines.shared.common import REPO

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "pruning.yaml").claims}


def _verdict(cid, metrics):
    """The verdict at the claim's first profile (cpu, or full for the claims not judged at cpu yet)."""
    return check_claim(CLAIMS[cid], {"paper": "pruning", "profile": CLAIMS[cid].profiles[0], "metrics": metrics}).verdict


def test_better_architecture_is_smaller_than_the_pruned_mlp():
    cnn = stage.small_cnn()
    weights = sum(m.weight.numel() for m in cnn.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    assert weights == 12 * 9 + 12 * 24 * 9 + 24 * 16 * 10 == 6540
    assert weights < (64 * 256 + 256 * 256 + 256 * 10) - round(0.9 * (64 * 256 + 256 * 256 + 256 * 10))
    assert cnn(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_random_masks_in_place_of_magnitude_cannot_pass_magnitude_beats_random():
    """The broken factor: the 'magnitude' arm prunes at random too (same seed): identical arms, the difference is 0."""
    torch.manual_seed(0)
    X, y = torch.rand(64, 64), torch.randint(0, 10, (64,))
    c = {"finetune_epochs": 1, "batch_size": 32, "finetune_lr": 0.05}
    base = pr.mlp(sizes=(64, 32, 10))
    a = stage.prune_and_finetune(c, base, "random", 0.9, X, y, X, y, seed=3)
    b = stage.prune_and_finetune(c, base, "random", 0.9, X, y, X, y, seed=3)
    assert a == b
    gates = {"top1_dense_mlp": [0.97] * 5, "top1_global_magnitude_90_after_finetune": [0.96] * 5}
    assert _verdict("magnitude_beats_random_90", {"top1_global_minus_random_90": [a[1] - b[1]] * 5, **gates}) != "reproduced"


def test_pruning_vs_architecture_needs_a_real_gain_and_a_valid_architecture():
    """Identical arms (the 'architecture' is the pruned MLP itself) do not reproduce; an architecture worse than the
    unpruned baseline (the former GAP CNN) makes the claim invalid instead of a finding."""
    base = {"top1_small_cnn_dense": [0.96] * 5, "top1_global_magnitude_90_after_finetune": [0.96] * 5,
            "weights_small_cnn_over_pruned_mlp_90": 0.77, "top1_small_cnn_minus_dense_mlp": [0.0, 0.01, -0.01, 0.0, 0.01]}
    same = {**base, "top1_small_cnn_minus_global_magnitude_90": [0.0, 0.002, -0.002, 0.001, -0.001]}
    assert _verdict("pruning_vs_architecture", same) != "reproduced"
    worse = {**base, "top1_small_cnn_dense": [0.88] * 5, "top1_small_cnn_minus_dense_mlp": [-0.08] * 5,
             "top1_small_cnn_minus_global_magnitude_90": [0.02, 0.03, 0.02, 0.025, 0.03]}
    assert _verdict("pruning_vs_architecture", worse) == "invalid"


def test_reseed_shift_pairs_each_seed_with_an_independent_seed():
    """The confounder's reseed shift compares a seed's base model with one of seed + RESEED (same recipe), never
    with a neighbouring seed's run, so the per-seed values are independent."""
    assert stage.RESEED > 10_000
    gates = {f"top1_dense_base_{b}": [0.95] * 5 for b in ("adam_0.001", "adam_0.0001", "adam_0.001_reseed")}
    gates |= {f"top1_global_magnitude_90_after_finetune_base_{b}": [0.9] * 5 for b in ("adam_0.001", "adam_0.0001")}
    zero = {"confounder_recipe_shift_minus_reseed_shift": [0.01, -0.02, 0.0, 0.015, -0.01], **gates}
    assert _verdict("initial_model_confounder", zero) == "inconclusive"
    large = {**zero, "confounder_recipe_shift_minus_reseed_shift": [0.2, 0.25, 0.18, 0.22, 0.3]}
    assert _verdict("initial_model_confounder", large) == "reproduced"
