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


# ------------------------------------------------------------------------------ Table 1's models and Sec. 2's inputs
from implementations.rethinking_generalization import corrupt_inputs, inception_small, small_alexnet  # noqa: E402


def test_table_1_conv_models_sizes_and_shapes():
    assert count_params(on_meta(lambda: inception_small())) == 1_649_402
    assert count_params(on_meta(lambda: inception_small(batch_norm=False))) == 1_649_402
    assert count_params(on_meta(lambda: small_alexnet())) == 1_387_786
    net = inception_small()
    assert net[:-3](torch.zeros(2, 3, 28, 28)).shape == (2, 336, 7, 7)  # Fig. 3: 7x7 mean pooling over 336 channels
    assert small_alexnet()(torch.zeros(2, 3, 28, 28)).shape == (2, 10)


def test_input_corruptions():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 4, 4, generator=g)
    perm = torch.randperm(16, generator=g)
    sh = corrupt_inputs(x, "shuffled_pixels", generator=g, perm=perm)
    assert torch.equal(sh.flatten(1), x.flatten(1)[:, perm])  # one permutation for every image
    rp = corrupt_inputs(x, "random_pixels", generator=g)
    assert torch.equal(rp.flatten(1).sort(1).values, x.flatten(1).sort(1).values)  # each image's own pixels
    assert not torch.equal(rp, x)
    ga = corrupt_inputs(torch.zeros(2000, 64), "gaussian", generator=g, mean=0.3, std=0.2)
    assert abs(ga.mean() - 0.3) < 0.01 and abs(ga.std() - 0.2) < 0.01


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines import rethinking_generalization as pipe  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "rethinking_generalization.yaml").claims}
CFG = {"model": "mlp", "hidden": [512], "lr": 0.1, "lr_decay": 1.0, "batch_size": 128, "crop": 8,
       "weight_decay": 5e-4, "max_epochs": 3}


def _verdict(cid, metrics):
    """The verdict at the claim's first profile (cpu, or full for the claims not judged at cpu yet)."""
    return check_claim(CLAIMS[cid], {"paper": "rethinking_generalization", "profile": CLAIMS[cid].profiles[0], "metrics": metrics}).verdict


class _Run:
    profile, device = "cpu", "cpu"


def test_a_net_too_small_to_memorise_does_not_fit_random_labels():
    """The broken model: 4 hidden units cannot memorise 300 random labels, and the claim says not reproduced."""
    tensors = pipe.load({"train_limit": 300}, _Run())
    cfg = {**CFG, "hidden": [4], "max_epochs": 30}
    runs = [pipe.fit_arm(cfg, tensors, ("p1", s)) for s in range(5)]
    assert max(r["train_acc"] for r in runs) < 0.6
    metrics = {"train_acc_p1": [r["train_acc"] for r in runs], "label_agreement_p1": [r["label_agreement"] for r in runs],
               "test_acc_p0": [0.95] * 5}
    assert _verdict("fit_random_labels_train", metrics) == "not_reproduced"


def test_corruption_that_does_nothing_cannot_pass_the_curve_claims():
    """No corruption at any level: every arm is the same run, the smallest fall is 0 and the rule fails; test
    accuracy at 'random' labels far from chance fails the at-chance claim."""
    tensors = pipe.load({"train_limit": 256}, _Run())
    a, b = pipe.fit_arm(CFG, tensors, ("p0", 3)), pipe.fit_arm(CFG, tensors, ("p0", 3))
    assert a == b  # seeded: the same arm twice is the same run
    trained = {"train_acc_p0.5": [1.0] * 5, "test_acc_p0": [0.97] * 5}
    assert _verdict("corruption_curve_monotone", {**trained, "test_acc_min_drop_per_corruption_step": [0.0] * 5}) == "not_reproduced"
    at_true = {"test_acc_p1": [0.96, 0.97, 0.95, 0.96, 0.97], "test_acc_p0": [0.97] * 5, "train_acc_p1": [1.0] * 5}
    assert _verdict("fit_random_labels_test_at_chance", at_true) == "not_reproduced"


def test_regulariser_that_does_not_act_makes_the_not_necessary_claim_invalid():
    m = {"test_acc_regularised_minus_none": [0.0, 0.002, -0.001, 0.001, 0.0], "test_acc_p0": [0.97] * 5,
         "shifted_test_acc_regularised_minus_none": [0.001, -0.002, 0.0, 0.001, -0.001]}
    assert _verdict("regularisers_not_necessary", m) == "invalid"
    acts = {**m, "shifted_test_acc_regularised_minus_none": [0.05, 0.06, 0.04, 0.05, 0.07]}
    assert _verdict("regularisers_not_necessary", acts) == "reproduced"
    costly = {**acts, "test_acc_regularised_minus_none": [0.2, 0.21, 0.19, 0.2, 0.22]}
    assert _verdict("regularisers_not_necessary", costly) == "not_reproduced"
    assert _verdict("regularisers_help_generalisation", {**m, "test_acc_regularised": [0.97] * 5}) != "reproduced"


def test_full_profile_path_on_tiny_fake_cifar():
    """The full profile's arms (small Inception, random 28x28 crops of 32x32 images, input corruptions) on 16 fake
    images: one epoch each runs and reports what the stage records."""
    g = torch.Generator().manual_seed(0)
    fake = ((torch.rand(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)),
            (torch.rand(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)))
    cfg = {**CFG, "model": "inception", "crop": 28, "batch_size": 8, "max_epochs": 1, "lr_decay": 0.95}
    for arm in ("regularised", "gaussian", "p1"):
        r = pipe.fit_arm(cfg, fake, (arm, 0))
        assert r["epochs"] == 1 and 0 <= r["train_acc"] <= 1 and r["weight_norm"] > 0
    assert pipe._crop(fake[0][0], 28, g).shape == (16, 3, 28, 28)
    assert torch.equal(pipe._crop(fake[0][0], 28, None), fake[0][0][..., 2:30, 2:30])
