import torch

from implementations.perceptual_loss import (VGG16_RELU, feature_reconstruction_loss, gram, small_vgg,
                                             style_reconstruction_loss, transform_net, vgg16_loss_network)
from pipelines.perceptual_loss import gram_checks, shape_checks, speedup_macs
from pipelines.shared.structural import on_meta


def test_transformation_networks_shapes():
    m = shape_checks()
    assert m["style_net_output_side_for_256"] == 256 and m["style_net_stride2_convs"] == 2
    assert m["style_net_fractional_convs"] == 2
    assert m["sr_x4_output_side_for_72"] == 288 and m["sr_x4_fractional_convs"] == 2
    assert m["sr_x8_output_side_for_36"] == 288 and m["sr_x8_fractional_convs"] == 3
    out = transform_net(task="sr", scale=4, channels=1, width=8, num_residual=1)(torch.rand(2, 1, 10, 10))
    assert out.shape == (2, 1, 40, 40) and 0 <= out.min() and out.max() <= 1


def test_vgg_layer_indices_end_at_the_named_relu():
    vgg = on_meta(lambda: vgg16_loss_network(layer="relu4_3"))
    assert isinstance(vgg[-1], torch.nn.ReLU) and len(vgg) == VGG16_RELU["relu4_3"]
    assert vgg[VGG16_RELU["relu2_2"] - 2].out_channels == 128  # conv2_2 precedes relu2_2


def test_gram_and_losses():
    m = gram_checks()
    assert m["gram_asymmetry_max"] < 1e-12 and m["gram_min_eigenvalue"] > -1e-12
    assert m["gram_permutation_change_max"] < 1e-12 and m["style_loss_64_vs_96_is_finite"] == 1.0
    phi = torch.ones(1, 2, 3, 3)
    assert torch.allclose(gram(phi), torch.full((1, 2, 2), 9 / 18))
    assert style_reconstruction_loss(phi, phi) == 0
    assert feature_reconstruction_loss(phi, phi + 1) == 1.0  # Eq. 2 normalises by C H W


def test_speedup_count_and_small_loss_network():
    assert speedup_macs(64, 500) > 1000
    assert small_vgg()(torch.rand(2, 1, 32, 32)).shape == (2, 10)


def test_speed_timing_interleaves_and_reports_per_repeat_log_ratios():
    from pipelines.perceptual_loss import speed_timing

    m = speed_timing({"speed_timing_side": 32, "speed_iterations": 500, "speed_repeats": 3})
    assert len(m["log_speedup_feedforward_over_optimisation"]) == 3
    assert m["seconds_feedforward_style_net"] > 0 and m["seconds_per_optimisation_iteration"] > 0


def _verdicts(metrics: dict, profile: str) -> dict:
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    cf = load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "perceptual_loss.yaml")
    measured = {"paper": "perceptual_loss", "profile": profile, "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if c.metric in metrics}


def test_timing_claim_fails_when_the_optimisation_costs_no_more_than_a_forward_pass():
    """A broken timing (the 'optimisation iteration' as cheap as the network's forward pass) gives ln 500 < ln 1000."""
    import math

    spread = [0.03, -0.02, 0.01, -0.04, 0.02, 0.0, -0.01, 0.03, -0.03, 0.01]
    fair = {"log_ratio_feedforward_against_itself": spread}  # the harness on identical arms: about 0
    same = {"log_speedup_feedforward_over_optimisation": [math.log(500) + e for e in spread], **fair}
    assert _verdicts(same, "cpu")["three_orders_faster"] == "not_reproduced"
    fast = {"log_speedup_feedforward_over_optimisation": [math.log(2000) + e for e in spread], **fair}
    assert _verdicts(fast, "cpu")["three_orders_faster"] == "reproduced"
    biased = {**fast, "log_ratio_feedforward_against_itself": [0.5 + e for e in spread]}  # the harness favours one slot
    assert _verdicts(biased, "cpu")["three_orders_faster"] == "invalid"


def test_table3_comparison_counts_only_when_each_network_wins_its_own_objective():
    good = {"psnr_db_pixel_minus_feature_loss": [1.2, 1.4, 1.3, 1.25, 1.35],
            "psnr_db_pixel_loss_minus_bicubic": [-0.1, 0.0, -0.05, 0.0, -0.1],
            "log_feature_distance_ratio_feature_loss_over_bicubic": [-0.5, -0.4, -0.45, -0.5, -0.4],
            "log_feature_distance_ratio_feature_over_pixel_loss": [-0.3, -0.2, -0.25, -0.3, -0.2]}
    v = _verdicts(good, "full")
    assert v["pixel_loss_higher_psnr"] == v["feature_loss_lower_feature_distance"] == "reproduced"
    undertrained_feature = {**good, "log_feature_distance_ratio_feature_over_pixel_loss": [0.2, 0.1, 0.15, 0.2, 0.1]}
    assert _verdicts(undertrained_feature, "full")["pixel_loss_higher_psnr"] == "invalid"
    undertrained_pixel = {**good, "psnr_db_pixel_loss_minus_bicubic": [-6.0, -4.0, -5.0, -6.0, -4.0]}
    assert _verdicts(undertrained_pixel, "full")["pixel_loss_higher_psnr"] == "invalid"
    no_gap = {**good, "psnr_db_pixel_minus_feature_loss": [0.1, -0.1, 0.0, 0.1, -0.1]}
    assert _verdicts(no_gap, "full")["pixel_loss_higher_psnr"] == "not_reproduced"
