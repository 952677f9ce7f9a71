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
