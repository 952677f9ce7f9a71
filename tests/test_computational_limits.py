import numpy as np
import torch

from implementations import computational_limits as cl
from pipelines.computational_limits import training_flops_per_sample
from pipelines.shared.structural import count_params


def test_params_grow_linearly_with_n_and_flops_quadratically():
    ps = [count_params(cl.overparameterized_mlp(num_samples=n)) for n in (100, 1000, 10000)]
    assert abs(ps[1] / ps[0] - 10) < 0.2 and abs(ps[2] / ps[1] - 10) < 0.05
    m = torch.nn.Sequential(torch.nn.Linear(64, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    # forward 2 FLOPs per MAC; backward: weight grads of both layers, input grad only of the second (x needs none)
    assert training_flops_per_sample(m, 64) == 2 * (6400 + 1000) + 2 * (6400 + 1000) + 2 * 1000


def test_pareto_frontier_and_fits():
    compute = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    error = np.array([0.5, 0.6, 0.3, 0.35, 0.1])
    assert cl.pareto_frontier(compute, error).tolist() == [0, 2, 4]
    c = np.logspace(0, 4, 9)
    fit = cl.loglog_fit(c, 2.0 * c ** -0.5)
    assert abs(fit.slope + 0.5) < 1e-12 and abs(fit.rvalue ** 2 - 1) < 1e-12


def test_expert_and_flexible_models():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 50))
    y = X[:, :3] @ np.array([1.0, -1.0, 0.5])
    cols, expert = cl.expert_model([0, 1, 2])
    assert np.allclose(expert.fit(X[:, cols], y).coef_, [1.0, -1.0, 0.5])
    lasso = cl.flexible_model(num_samples=200, num_features=50).fit(X, y)
    assert np.count_nonzero(lasso.coef_[3:]) < 10
