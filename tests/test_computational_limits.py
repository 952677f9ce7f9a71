import numpy as np
import pytest
import torch
from scipy import stats

from implementations import computational_limits as cl
from pipelines.computational_limits import compute_fit, torchvision_table
from pipelines.shared.structural import count_params


def test_params_grow_linearly_with_n_and_flops_quadratically():
    """Sec. 2's overparameterized regime (was the claim overparam_quadratic, true by construction): width tied to n
    makes params ~ n, so training FLOPs (per sample x n samples x epochs) grow as n^2."""
    ps = [count_params(cl.overparameterized_mlp(num_samples=n)) for n in (100, 1000, 10000)]
    assert abs(ps[1] / ps[0] - 10) < 0.2 and abs(ps[2] / ps[1] - 10) < 0.05
    m = torch.nn.Sequential(torch.nn.Linear(64, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    # forward 2 FLOPs per MAC; backward: weight grads of both layers, input grad only of the second (x needs none)
    assert cl.training_flops_per_sample(m, 64) == 2 * (6400 + 1000) + 2 * (6400 + 1000) + 2 * 1000
    ns = np.array([100, 200, 400, 800])
    flops = [cl.training_flops_per_sample(cl.overparameterized_mlp(num_samples=int(n)), 64) * n * 50 for n in ns]
    assert 1.9 <= stats.linregress(np.log(ns), np.log(flops)).slope <= 2.1


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


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim
from claimcheck.schema import load_claim_file
from pipelines.shared.common import REPO

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "computational_limits.yaml").claims}


def _verdicts(fit: dict) -> dict:
    measured = {"paper": "computational_limits", "profile": "cpu", "metrics": {f"imagenet_{k}": v for k, v in fit.items()}}
    ids = ("compute_performance_fit", "compute_explains_r2_in_paper_range", "polynomial_fits_better_than_exponential")
    return {i: check_claim(CLAIMS[i], measured).verdict for i in ids}


def test_torchvision_table_is_the_published_metadata():
    gflops, error, names = torchvision_table()
    assert len(names) >= 100 and len(set(names)) == len(names)
    i = names.index("AlexNet_Weights.IMAGENET1K_V1")
    assert gflops[i] == pytest.approx(0.714, rel=0.01) and error[i] == pytest.approx(1 - 0.56522)


@pytest.mark.parametrize("shuffle_seed", range(5))
def test_shuffled_compute_fails_the_power_law_claims(shuffle_seed):
    """The null: error independent of compute (GFLOPS shuffled across the weights). The slope's permutation test
    must not reproduce, and the two claims gated on it are invalid. (The former Pareto-frontier design passed this
    null about half the time.)"""
    gflops, error, _ = torchvision_table()
    null = np.random.default_rng(shuffle_seed).permutation(gflops)
    verdicts = _verdicts(compute_fit(null, error, permutations=2000, seed=1))
    assert verdicts["compute_performance_fit"] == "not_reproduced"
    assert verdicts["compute_explains_r2_in_paper_range"] == "invalid"
    assert verdicts["polynomial_fits_better_than_exponential"] == "invalid"


def test_a_frontier_falls_by_construction_but_the_all_points_fit_does_not():
    rng = np.random.default_rng(0)
    compute, error = rng.uniform(1, 1000, 200), rng.uniform(0.05, 0.5, 200)  # independent
    front = cl.pareto_frontier(compute, error)
    assert cl.loglog_fit(compute[front], error[front]).slope < 0  # why the frontier design was hollow
    assert compute_fit(compute, error, permutations=2000)["slope_permutation_p"] > 0.01
