import torch

from implementations import vae as V


def test_gaussian_kl_matches_torch():
    mu, logvar = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                            torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(V.gaussian_kl(mu, logvar), ref, atol=1e-12)
    assert V.gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0


def test_reparameterize_moments():
    torch.manual_seed(0)
    z = V.reparameterize(torch.tensor([2.0]), torch.log(torch.tensor([9.0])), 200_000)
    assert abs(z.mean() - 2) < 0.05 and abs(z.std() - 3) < 0.05


def test_gradient_estimators_unbiased_and_variance_ratio():
    f = lambda z: (z - 3) ** 2  # noqa: E731
    sf = V.score_function_grads(f, 0.0, 1.0, 200_000, torch.Generator().manual_seed(0))
    rp = V.reparam_grads(f, 0.0, 1.0, 200_000, torch.Generator().manual_seed(1))
    assert abs(sf.mean() + 6) < 0.2 and abs(rp.mean() + 6) < 0.05
    assert 45 < (sf.var() / rp.var()).item() < 67  # analytic 222 / 4 = 55.5


def test_elbo_shape_and_bound():
    torch.manual_seed(0)
    m = V.vae(x_dim=64, hidden=32, z_dim=4)
    x = (torch.rand(10, 64) > 0.5).float()
    e = m.elbo(x, samples=3)
    assert e.shape == (10,) and (e < 0).all()  # a Bernoulli likelihood bound is below log 1 = 0
    assert isinstance(V.optimizer(m.parameters()), torch.optim.Adagrad)


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines import vae as stage  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "vae.yaml").claims}


def test_a_decoder_that_ignores_z_cannot_pass_the_aevb_claims():
    """The broken model: the decoder sees zeros instead of z. Both L arms and all N_z are then the same
    independent-pixel model; the gates (the bound beats independent pixels, KL > 0) make every claim invalid."""
    cfg = {"data": "digits", "hidden": 32, "lr": 0.02, "batch_size": 100, "eval_samples": 2, "epochs": 3,
           "eval_every": 3, "z_dims": [10, 50], "reference_z": 10, "sample_counts": [1, 5]}
    data = stage.load(cfg)
    seeds = list(range(5))
    res = {}
    for s, arm, z, L in stage.items_for(cfg, seeds):
        res[(s, arm, z, L)] = stage.train_arm(cfg, data, (s, "ignore_z" if arm == "aevb" else arm, z, L))
        if arm == "aevb" and L == 1 and z == 10:
            res[(s, arm, z, L)]["grad_var_L1_over_Lhi"] = 5.0  # the positive control acts; the gates must still fail
    metrics = stage.metrics_of(cfg, res, seeds, stage.pixel_marginals_ll(*data))
    assert max(metrics["test_kl_nz10"]) < 0.5 and max(metrics["test_elbo_nz10_minus_pixel_marginals"]) < 1
    measured = {"paper": "vae", "profile": "cpu", "metrics": metrics}
    for cid in ("single_sample_l1_suffices", "superfluous_latents_no_overfit", "superfluous_latents_gap", "aevb_beats_wake_sleep"):
        assert check_claim(CLAIMS[cid], measured).verdict == "invalid", cid


def test_wake_sleep_updates_both_halves_and_only_through_their_own_phase():
    torch.manual_seed(0)
    m = V.vae(x_dim=16, hidden=8, z_dim=2)
    x = (torch.rand(20, 16) > 0.5).float()
    m.wake_sleep_loss(x).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_aevb_claim_fails_when_wake_sleep_is_as_good():
    trained = {"test_elbo_aevb_nz10_minus_pixel_marginals": [3.0] * 5, "train_elbo_wake_sleep_minus_init": [20.0] * 5}
    same = {**trained, "train_elbo_aevb_minus_wake_sleep": [0.1, -0.1, 0.05, -0.05, 0.0]}
    assert check_claim(CLAIMS["aevb_beats_wake_sleep"], {"paper": "vae", "profile": "cpu", "metrics": same}).verdict != "reproduced"
