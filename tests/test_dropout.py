"""Dropout: retain-probability semantics, weight scaling = inverted dropout, Monte-Carlo averaging, max-norm."""
import torch

from implementations.dropout import dropout_mlp, max_norm_, monte_carlo_probs, weight_scaled_probs


def test_builder_shapes_and_retain_probabilities():
    m = dropout_mlp(in_features=64, hidden=(32, 32), retain_input=0.8, retain_hidden=0.5)
    assert m(torch.zeros(5, 64)).shape == (5, 10)
    assert [round(d.p, 6) for d in m if isinstance(d, torch.nn.Dropout)] == [0.2, 0.5, 0.5]  # torch takes the drop probability


def test_inverted_dropout_equals_weight_scaling_at_test_time():
    """Sec. 4: training with masks r ~ Bernoulli(p) and testing with W_test = p W is what torch's eval mode computes
    (it scales kept units by 1/p while training instead): the expected training-time layer output equals eval's."""
    torch.manual_seed(0)
    lin, x = torch.nn.Linear(16, 4), torch.randn(1, 16)
    drop = torch.nn.Dropout(0.5).train()
    mc = torch.stack([lin(drop(x)) for _ in range(20000)]).mean(0)
    torch.testing.assert_close(mc, lin(x), atol=0.05, rtol=0)


def test_monte_carlo_average_is_reproducible_and_a_distribution():
    torch.manual_seed(0)
    m, X = dropout_mlp(in_features=8, hidden=(16,)), torch.randn(7, 8)
    a = monte_carlo_probs(m, X, 5, generator=torch.Generator().manual_seed(1))
    b = monte_carlo_probs(m, X, 5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a.sum(1), torch.ones(7))
    assert not m.training and weight_scaled_probs(m, X).shape == (7, 10)


def test_max_norm_projects_only_long_rows():
    m = dropout_mlp(in_features=4, hidden=(3,), num_classes=2)
    with torch.no_grad():
        m[1].weight.copy_(torch.tensor([[3.0, 4.0, 0, 0], [0.1, 0, 0, 0], [0, 0, 6.0, 8.0]]))
    max_norm_(m, 5.0)
    torch.testing.assert_close(m[1].weight.norm(dim=1), torch.tensor([5.0, 0.1, 5.0]))


# ------------------------------------------------------------------------------------------ the checks can fail

from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines import dropout as pipe  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "dropout.yaml").claims}


def _verdict(cid, metrics):
    return check_claim(CLAIMS[cid], {"paper": "dropout", "profile": "cpu", "metrics": metrics}).verdict


def test_standardisation_only_centres_pixels_that_barely_vary():
    (Xtr, _), (Xva, _), (Xte, _) = pipe.data(0, 300, 300)
    assert len(Xtr) == 300 and len(Xva) == 300 and len(Xte) == 1197
    assert Xte.abs().max() < 100  # a stray test pixel divided by a near-zero training spread would be ~1e6


def test_dropout_switched_off_cannot_pass_the_tiny_data_and_monte_carlo_claims():
    """The broken factor: retain probability 1 (no dropout). Both nets are then the same, the positive controls
    (dropout changes the activations; one sampled net is worse than weight scaling) fail and the claims are invalid."""
    cfg = {"hidden": [16, 16], "lr": 0.05, "momentum": 0.9, "batch_size": 50, "epochs": 2, "n_train": 300,
           "n_val": 300, "n_tiny": 100, "retain_input": 1.0, "retain_hidden": 1.0}
    tiny = [pipe.tiny_arms(cfg, "cpu", s) for s in range(5)]
    metrics = {"test_error_dropout_minus_plain_tiny_data": [t["dropout"] - t["plain"] for t in tiny],
               "mean_hidden_activation_dropout_minus_plain_tiny_data": [t["act_dropout"] - t["act_plain"] for t in tiny],
               "test_error_plain_tiny_data": [0.1] * 5, "test_error_dropout_tiny_data": [0.1] * 5}
    assert metrics["test_error_dropout_minus_plain_tiny_data"] == [0.0] * 5
    assert _verdict("no_gain_on_tiny_data", metrics) == "invalid"
    mc = {"test_error_mc50_minus_weight_scaling": [0.0] * 5, "test_error_mc1_minus_weight_scaling": [0.0] * 5,
          "test_error_dropout": [0.05] * 5}
    assert _verdict("weight_scaling_matches_mc_average", mc) == "invalid"


def test_retain_probability_claims_fail_without_an_effect_or_with_diverged_arms():
    trained = {"test_accuracy_worst_retain_p": [0.8] * 6}
    none = {**trained, "test_error_retain_0p1_minus_0p5": [0.002, -0.002, 0.001, -0.001, 0.0, 0.0],
            "train_error_retain_0p1_minus_0p5": [0.0] * 6, "test_error_retain_0p8_minus_0p4": [0.0] * 6}
    assert _verdict("small_retain_probability_underfits", none) == "not_reproduced"
    assert _verdict("small_retain_probability_raises_test_error", none) in ("inconclusive", "not_reproduced")
    assert _verdict("retain_probability_plateau", none) == "invalid"  # p does nothing: no positive control
    diverged = {**none, "test_accuracy_worst_retain_p": [0.1] * 6,  # the old design: p = 0.1 at chance
                "test_error_retain_0p1_minus_0p5": [0.85] * 6, "train_error_retain_0p1_minus_0p5": [0.85] * 6}
    assert _verdict("small_retain_probability_underfits", diverged) == "invalid"


def test_max_norm_that_never_acts_makes_the_table9_claim_invalid():
    m = {"test_error_dropout_maxnorm_minus_l2": [-0.01] * 5, "test_error_l2": [0.05] * 5,
         "test_error_dropout_maxnorm": [0.04] * 5, "fraction_of_units_at_max_norm": [0.0] * 5}
    assert _verdict("dropout_maxnorm_beats_l2", m) == "invalid"
    model = dropout_mlp(in_features=4, hidden=(3,), num_classes=2)
    assert pipe.rows_at_bound(model, 100.0) == 0.0 and pipe.rows_at_bound(model, 1e-6) == 1.0
