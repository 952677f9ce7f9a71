import math

import numpy as np
import torch

from implementations import wgan as W


def test_exact_w1_on_parallel_lines():
    for t in (-1.0, 0.3, 2.0):
        assert abs(W.exact_w1(W.parallel_lines(0, 256), W.parallel_lines(t, 256)) - abs(t)) < 1e-9


def test_exact_w1_is_an_optimal_assignment_not_a_sorted_match():
    x, y = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 0.1], [0.0, 0.1]])
    assert math.isclose(W.exact_w1(x, y), 0.1)


def test_clipping_bounds_every_weight():
    f = W.mlp(in_dim=2, hidden=16, depth=2)
    W.clip_weights(f, 0.01)
    assert max(p.abs().max().item() for p in f.parameters()) <= 0.01


def test_algorithm1_defaults_and_rmsprop():
    kw = W.train_wgan.__kwdefaults__
    assert (kw["lr"], kw["c"], kw["m"], kw["n_critic"]) == (5e-5, 0.01, 64, 5)
    opt = W.critic_optimizer([torch.zeros(1, requires_grad=True)])
    assert isinstance(opt, torch.optim.RMSprop) and opt.defaults["momentum"] == 0


def test_train_wgan_runs_n_critic_steps_and_keeps_clip():
    torch.manual_seed(0)
    g, f = W.mlp(in_dim=2, hidden=8, depth=1, out_dim=2), W.mlp(in_dim=2, hidden=8, depth=1)
    calls = []
    W.train_wgan(g, f, lambda k: torch.randn(k, 2), lambda k: torch.randn(k, 2), generator_steps=3,
                 on_step=lambda s, e: calls.append(s))
    assert calls == [0, 1, 2]
    assert max(p.abs().max().item() for p in f.parameters()) <= 0.01


def test_dcgan_critic_shape():
    f = W.dcgan_critic(nc=3, ndf=8, image_size=32)
    assert f(torch.randn(2, 3, 32, 32)).shape == (2,)


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines import wgan as stage  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402
from tests.claim_helpers import spread  # noqa: E402

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "wgan.yaml").claims}


def _verdict(cid, metrics, profile="cpu"):
    return check_claim(CLAIMS[cid], {"paper": "wgan", "profile": profile, "metrics": metrics}).verdict


def test_a_loss_that_only_falls_with_time_or_is_shuffled_does_not_correlate_within_steps():
    rng = np.random.default_rng(0)
    steps = np.arange(1, 21)
    w1 = np.stack([2.0 / np.sqrt(steps * k) + 0.01 * rng.standard_normal(20) for k in (4, 2, 1)])  # 3 runs
    assert stage.within_step_correlation(w1 * 0.3 + 0.001 * rng.standard_normal(w1.shape), w1) > 0.9  # tracks quality
    time_only = np.stack([1.0 / steps] * 3)  # the same curve in every run: a function of the step alone
    assert stage.within_step_correlation(time_only, w1) == 0.0
    shuffled = np.stack([rng.permutation(r) for r in (w1 * 0.3).T]).T  # runs shuffled within each step
    rs = [stage.within_step_correlation(np.stack([rng.permutation(c) for c in (w1 * 0.3).T]).T, w1) for _ in range(5)]
    assert shuffled.shape == w1.shape
    ok = {"w1_recheck_vs_w1_within_step_r": [0.9] * 5, "w1_spread_across_runs": [0.2] * 5, "w1_final_over_untrained_max": [0.3] * 5}
    assert _verdict("loss_correlates_with_quality", {"critic_vs_w1_within_step_r": spread(0.9, sd=0.05), **ok}, "full") == "reproduced"
    assert _verdict("loss_correlates_with_quality", {"critic_vs_w1_within_step_r": rs, **ok}, "full") != "reproduced"
    assert _verdict("loss_correlates_with_quality", {"critic_vs_w1_within_step_r": [0.9] * 5, **ok,
                                                     "w1_spread_across_runs": [0.0] * 5}, "full") == "invalid"
    diverged = [0.3, 0.3, 1.4, 0.3, 0.3]  # one run's W1 ended above its untrained generator's
    assert _verdict("loss_correlates_with_quality", {"critic_vs_w1_within_step_r": [0.9] * 5, **ok,
                                                     "w1_final_over_untrained_max": diverged}, "full") == "invalid"


def test_a_js_estimate_that_tracks_quality_fails_the_gan_claim_and_a_blind_design_is_invalid():
    ok = {"gan_w1_recheck_vs_w1_within_step_r": [0.95] * 5, "gan_w1_spread_across_runs": [0.5] * 5,
          "gan_w1_final_over_untrained_max": [0.3] * 5}
    assert _verdict("gan_js_estimate_does_not_track_quality", {"gan_js_vs_w1_within_step_r": spread(-0.3, sd=0.1), **ok}, "full") == "reproduced"
    assert _verdict("gan_js_estimate_does_not_track_quality", {"gan_js_vs_w1_within_step_r": spread(0.9, sd=0.05), **ok}, "full") == "not_reproduced"
    assert _verdict("gan_js_estimate_does_not_track_quality", {"gan_js_vs_w1_within_step_r": spread(-0.9, sd=0.05), **ok}, "full") == "not_reproduced"
    blind = {**ok, "gan_w1_recheck_vs_w1_within_step_r": [0.0] * 5}  # the design cannot see even W1 itself
    assert _verdict("gan_js_estimate_does_not_track_quality", {"gan_js_vs_w1_within_step_r": [-0.3] * 5, **blind}, "full") == "invalid"


def test_step_matched_runs_on_the_ring_and_on_images_give_every_metric():
    cfg = {"hidden": 8, "eval_every": 2, "generator_steps": 6, "n_critic_start": 2, "lrs_g": [1e-3, 5e-4],
           "gan_lr": 1e-4, "gan_lrs_g": [1e-3, 5e-4], "gan_steps": 6, "gan_eval_every": 2, "ring_lr": 1e-3, "ring_clip": 0.05}
    keys = {"critic_vs_w1_within_step_r", "gan_js_vs_w1_within_step_r", "w1_recheck_vs_w1_within_step_r",
            "gan_w1_recheck_vs_w1_within_step_r", "w1_spread_across_runs", "gan_w1_spread_across_runs",
            "w1_final_over_untrained_max", "gan_w1_final_over_untrained_max"}
    X = torch.rand(64, 3, 16, 16) * 2 - 1  # DCGAN at 16x16: the image path's shapes, at a test's cost
    small = stage.Problem(lambda k: X[torch.randint(0, 64, (k,))], lambda k: torch.randn(k, 100),
                          lambda: W.dcgan_generator(ngf=4, image_size=16), lambda: W.dcgan_critic(ndf=4, image_size=16),
                          5e-5, 0.01)
    for p in (stage.ring_problem(cfg), small):
        out = stage.step_matched_runs(cfg, p, 0)
        assert keys <= set(out) and len(out["wgan"][0]["w1"]) == 3
        assert all(np.isfinite(out[k]) for k in keys)


def test_untrained_critics_make_the_critic_claims_invalid():
    line = lambda t: torch.stack([torch.full((256,), t), torch.rand(256)], 1)  # noqa: E731
    trained = W.mlp(in_dim=2, hidden=8, depth=1)
    with torch.no_grad():  # f(x, y) = -x: separates the line at 0 from the line at 2 in the direction it ascends
        trained[0].weight.zero_(), trained[0].bias.zero_(), trained[2].weight.fill_(1.0), trained[2].bias.zero_()
        trained[0].weight[0, 0] = -1.0
        trained[0].bias[0] = 5.0
    assert stage.separation_auc(trained, line(0.0), line(2.0)) == 1.0
    coin = [1.0, 0.0, 1.0, 1.0, 0.0]  # untrained critics order the two samples one way or the other by chance
    assert _verdict("critic_tracks_emd", {"critic_vs_true_w1_pearson": [0.99] * 5, "critic_auc_farthest_line": coin}) == "invalid"
    assert _verdict("critic_clean_gradients", {"critic_grad_ratio_at_fakes": [0.4] * 5, "critic_auc_real_vs_fake": coin}) == "invalid"


def test_a_collapsed_generator_fails_and_an_unconverged_one_is_invalid():
    rng = np.random.default_rng(0)
    real = stage.ring(1024).numpy()
    collapsed = np.array([[2.0, 0.0]]) + 0.02 * rng.standard_normal((1024, 2))  # every sample on one mode
    blurred = real * 1.0 + 0.5 * rng.standard_normal((1024, 2))  # not on the modes yet
    assert stage.modes_covered(real) == 8 and stage.modes_covered(collapsed) == 1
    assert stage.near_fraction(collapsed) > 0.9 and stage.near_fraction(blurred) < 0.5
    full = lambda x: {"modes_covered_of_8": [stage.modes_covered(x)] * 5, "near_mode_fraction": [stage.near_fraction(x)] * 5}  # noqa: E731
    assert _verdict("no_mode_collapse", full(real), "full") == "reproduced"
    assert _verdict("no_mode_collapse", full(collapsed), "full") == "not_reproduced"
    assert _verdict("no_mode_collapse", full(blurred), "full") == "invalid"


def test_generator_step_size_can_differ_from_the_critics():
    torch.manual_seed(0)
    g, f = W.mlp(in_dim=2, hidden=8, depth=1, out_dim=2), W.mlp(in_dim=2, hidden=8, depth=1)
    before = [p.detach().clone() for p in g.parameters()]
    W.train_wgan(g, f, lambda k: torch.randn(k, 2), lambda k: torch.randn(k, 2), generator_steps=1, lr_g=0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, g.parameters()))


def test_critic_claims_fail_for_a_critic_blind_to_w_or_with_vanishing_gradients():
    fit = {"critic_auc_farthest_line": [1.0] * 5, "critic_auc_real_vs_fake": [1.0] * 5}
    assert _verdict("critic_tracks_emd", {"critic_vs_true_w1_pearson": spread(0.98, sd=0.02), **fit}) == "reproduced"
    assert _verdict("critic_tracks_emd", {"critic_vs_true_w1_pearson": spread(0.0, sd=0.3), **fit}) == "not_reproduced"
    assert _verdict("critic_clean_gradients", {"critic_grad_ratio_at_fakes": spread(0.35, sd=0.05), **fit}) == "reproduced"
    gan_like = spread(0.002, sd=0.001)  # what the saturated GAN discriminator gives
    assert _verdict("critic_clean_gradients", {"critic_grad_ratio_at_fakes": gan_like, **fit}) == "not_reproduced"
