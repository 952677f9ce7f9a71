import torch
import torchvision

from implementations import deepdream as DD
from pipelines.shared.structural import on_meta


def test_googlenet_is_22_layers_deep():
    g = on_meta(lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False))
    assert DD.parameterized_depth(g) == 22
    assert DD.parameterized_depth(DD.digit_cnn()) == 4


def test_dream_raises_the_layer_activation():
    torch.manual_seed(0)
    net = DD.digit_cnn(width=4).eval()
    x = torch.rand(1, 1, 16, 16)
    y = DD.dream(net, x, 1, steps=3, octaves=2, jitter=2, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert DD.layer_output(net, y, 1).norm() > DD.layer_output(net, x, 1).norm()


def test_class_visualisation_raises_target_logits():
    torch.manual_seed(0)
    net = DD.digit_cnn(width=4)
    t = torch.tensor([0, 3])
    for prior in (True, False):
        x = DD.visualize_class(net, t, (1, 8, 8), steps=20, prior=prior, generator=torch.Generator().manual_seed(0))
        x0 = (0.5 + 0.1 * torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
        assert x.shape == (2, 1, 8, 8)
        assert net(x).gather(1, t[:, None]).sum() > net(x0).gather(1, t[:, None]).sum()


def test_total_variation():
    assert DD.total_variation(torch.ones(1, 1, 4, 4)) == 0
    x = torch.zeros(1, 1, 2, 2)
    x[..., 0, 0] = 1
    assert DD.total_variation(x) == 2


def test_without_feedback_one_step_is_the_same_and_later_steps_never_see_the_change():
    torch.manual_seed(0)
    net = DD.digit_cnn(width=4).eval()
    x = torch.rand(1, 1, 16, 16)
    kw = dict(octaves=1, jitter=0)
    one = [DD.dream(net, x, 2, steps=1, feedback=f, **kw) for f in (True, False)]
    assert torch.equal(one[0], one[1])  # the first step is the same: feedback starts at the second
    a, b = DD.dream(net, x, 2, steps=5, feedback=False, **kw), DD.dream(net, x, 2, steps=5, **kw)
    assert not torch.equal(a, b)
    # open loop: the gradient is always the one at x, so the change is 5 equal steps (up to the clamp)
    step = one[1] - x
    assert torch.allclose(a, (x + 5 * step).clamp(0, 1), atol=1e-5)


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines import deepdream as pipe  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "deepdream.yaml").claims}


def _verdict(cid, metrics):
    return check_claim(CLAIMS[cid], {"paper": "deepdream", "profile": "cpu", "metrics": metrics}).verdict


def test_no_feedback_cannot_pass_the_feedback_claims():
    """Broken loops: zero dream steps (the image is not changed) and the feedback switched off in both arms."""
    torch.manual_seed(0)
    net = DD.digit_cnn(width=4).eval()
    photo = torch.rand(1, 1, 16, 16)
    cfg = {"octaves": 2, "jitter": 2}
    zero = [pipe.dream_gains(net, photo, {**cfg, "dream_steps": 0}, s) for s in range(5)]
    assert all(z["activation_gain_conv3"] == 1.0 for z in zero)
    gate = {"acc_a": [0.95] * 5}
    log_gain = [float(torch.tensor(z["activation_gain_conv3"]).log()) for z in zero]
    assert _verdict("feedback_loop_amplifies", {**gate, "log_activation_gain_conv3": log_gain}) == "not_reproduced"
    # the open-loop arm against itself: the ratio is exactly 1
    opens = [pipe.dream_gains(net, photo, {**cfg, "dream_steps": 3}, s) for s in range(5)]
    same = [o["activation_gain_conv3_open_loop"] / o["activation_gain_conv3_open_loop"] for o in opens]
    assert _verdict("feedback_loop_beats_open_loop",
                    {**gate, "log_gain_ratio_feedback_over_open_loop_conv3": [float(torch.tensor(r).log()) for r in same]}) == "not_reproduced"


def test_visualisation_claims_fail_with_identical_arms_and_need_a_working_comparator():
    from tests.claim_helpers import claims_of, verdict_of
    claims = claims_of("deepdream")
    ok = {"acc_a": [0.95] * 8, "acc_b": [0.95] * 8, "target_prob_a_noprior": [0.99] * 8, "target_prob_a_prior": [0.9] * 8}
    same = {**ok, "lag1_gap_to_real_noprior_minus_prior": [0.0] * 8, "agreement_b_prior_minus_noprior": [0.0] * 8}
    assert verdict_of("deepdream", claims, "visualisation_prior_gives_natural_statistics", same) == "not_reproduced"
    assert verdict_of("deepdream", claims, "visualisation_needs_prior_to_work", same) == "not_reproduced"
    noise = {**ok, "lag1_gap_to_real_noprior_minus_prior": [0.01, -0.01] * 4, "agreement_b_prior_minus_noprior": [0.1, -0.1] * 4}
    assert verdict_of("deepdream", claims, "visualisation_prior_gives_natural_statistics", noise) != "reproduced"
    assert verdict_of("deepdream", claims, "visualisation_needs_prior_to_work", noise) != "reproduced"
    short = {**same, "target_prob_a_noprior": [0.99] * 7 + [0.5], "lag1_gap_to_real_noprior_minus_prior": [0.2] * 8}
    assert verdict_of("deepdream", claims, "visualisation_prior_gives_natural_statistics", short) == "invalid"
