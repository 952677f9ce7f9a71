import torch

from implementations.class_imbalance import (all_cnn_c, class_prior, imbalance_ratio, imbalanced_subset,
                                             linear_imbalance_counts, oversample, step_imbalance_counts,
                                             threshold_by_prior, undersample)


def test_step_and_linear_counts():
    assert step_imbalance_counts(5000, 10, mu=0.5, rho=10) == [500] * 5 + [5000] * 5
    assert step_imbalance_counts(5000, 10, mu=0.2, rho=50) == [100] * 2 + [5000] * 8
    lin = linear_imbalance_counts(5000, 10, rho=10)
    assert lin[0] == 500 and lin[-1] == 5000 and imbalance_ratio(lin) == 10
    assert sum(lin) == sum(step_imbalance_counts(5000, 10, mu=0.5, rho=10)) == 27500  # Sec. 4.3


def test_samplers_class_counts():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat_interleave(100)
    idx = imbalanced_subset(y, step_imbalance_counts(100, 10, mu=0.5, rho=50), g)
    yi = y[idx]
    assert torch.bincount(yi).tolist() == [2] * 5 + [100] * 5
    over = oversample(yi, g)
    assert torch.bincount(yi[over]).tolist() == [100] * 10
    assert set(over.tolist()) == set(range(len(yi)))  # every original example is kept
    under = undersample(yi, g)
    assert torch.bincount(yi[under]).tolist() == [2] * 10
    assert len(set(under.tolist())) == 20  # without replacement


def test_thresholding_moves_decisions_to_minorities_but_keeps_auc_order():
    prior = class_prior(torch.tensor([0] * 90 + [1] * 10), 2)
    p = torch.tensor([[0.8, 0.2], [0.95, 0.05]])
    t = threshold_by_prior(p, prior)
    assert t.argmax(1).tolist() == [1, 0]  # 0.2 / 0.1 > 0.8 / 0.9
    assert torch.equal(t[:, 1].argsort(), p[:, 1].argsort())  # per-class order unchanged -> same AUC


def test_all_cnn_c_shape():
    assert all_cnn_c()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_auc_unchanged_by_dividing_by_the_prior_but_changed_by_renormalising():
    """Sec. 4.4: 'multiplying a decision variable by any positive number does not change the area under the ROC
    curve' (an identity of the definition, so a unit test rather than a claim). The pipeline's macro one-vs-rest
    AUC is unchanged by thresholding's division by the prior; renormalising the rows afterwards (a broken
    thresholding) does change it, so this test can fail."""
    from pipelines.class_imbalance import macro_auc

    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat(30)
    logits = torch.randn(300, 10, generator=g) + 1.5 * torch.nn.functional.one_hot(y, 10)
    probs = logits.softmax(1)
    prior = class_prior(torch.tensor([0] * 50 + [1] * 50 + list(range(2, 10)) * 2), 10)
    divided = threshold_by_prior(probs, prior)
    assert abs(macro_auc(divided, y) - macro_auc(probs, y)) < 1e-12
    renormalised = divided / divided.sum(1, keepdim=True)
    assert abs(macro_auc(renormalised, y) - macro_auc(probs, y)) > 1e-3


def test_oversampling_that_does_nothing_cannot_pass():
    """The broken factor: an 'oversampler' that returns the imbalanced set unchanged. Its nets equal the baseline's,
    so the superiority claims do not reproduce and the no-overfitting claim loses its positive control."""
    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file
    from pipelines.shared.common import REPO

    claims = {c.id: c for c in load_claim_file(REPO / "claims" / "class_imbalance.yaml").claims}
    zeros = [0.0] * 6
    m = {"auc_over_minus_base_rho50": zeros, "auc_over_minus_under_rho50": zeros, "auc_over_minus_base_rho10": zeros,
         "train_test_gap_over_minus_base_rho50": zeros, "train_test_gap_base_rho50": [0.3] * 6,
         **{f"auc_{arm}_rho{r}": [0.97] * 6 for arm in ("base", "over", "under") for r in (10, 50)}}  # every arm trained
    verdict = lambda cid: check_claim(claims[cid], {"paper": "class_imbalance", "profile": "cpu",  # noqa: E731
                                                    "metrics": m}).verdict
    assert verdict("oversampling_dominant") == "not_reproduced"
    assert verdict("oversampling_dominant_mild") == "not_reproduced"
    assert verdict("oversampling_no_overfitting") == "invalid"


def test_an_arm_that_did_not_train_makes_the_comparisons_invalid():
    from tests.claim_helpers import claims_of, verdict_of
    claims = claims_of("class_imbalance")
    trained = {f"auc_{arm}_rho{r}": [0.97] * 6 for arm in ("base", "over", "under") for r in (10, 50)}
    m = {**trained, "auc_over_minus_base_rho50": [0.02, 0.03] * 3, "auc_base_rho50": [0.97] * 5 + [0.5]}
    assert verdict_of("class_imbalance", claims, "oversampling_dominant", m) == "invalid"
