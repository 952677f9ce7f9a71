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
