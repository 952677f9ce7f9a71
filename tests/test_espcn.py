import torch

from implementations.espcn import espcn, lr_feature_extractor
from implementations.srcnn import srcnn
from pipelines.shared.superres import conv_macs
from pipelines.shared.structural import count_macs, count_params, on_meta


def test_output_shape_and_pixel_shuffle_is_the_last_layer():
    net = espcn(scale=3)
    assert net(torch.zeros(2, 1, 17, 17)).shape == (2, 1, 51, 51)
    assert isinstance(net[-1], torch.nn.PixelShuffle) and net[-2].out_channels == 9
    assert [type(m) for m in net if not isinstance(m, torch.nn.Conv2d)][:2] == [torch.nn.Tanh, torch.nn.Tanh]


def test_parameter_counts_and_the_2_5x_ratio_at_r3():
    assert count_params(on_meta(lambda: espcn(scale=3))) == 1664 + 18464 + 2601
    ratio = count_params(on_meta(lambda: srcnn(f2=5))) / count_params(on_meta(lambda: espcn(scale=3)))
    assert abs(ratio - 2.52) < 0.01


def test_conv_macs_matches_torch_flop_counter_and_r2_cost():
    net = on_meta(lambda: espcn(scale=3))
    assert conv_macs(net, (1, 20, 30)) == count_macs(net, (1, 20, 30)) == 20 * 30 * (1600 + 18432 + 2592)
    up = on_meta(lambda: torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1))
    assert conv_macs(up, (4, 5, 5)) == 5 * 5 * 4 * 6 * 9
    stack = on_meta(lambda: lr_feature_extractor(espcn(scale=3)))
    assert conv_macs(stack, (1, 60, 90)) == 9 * conv_macs(stack, (1, 20, 30))


def test_pixel_shuffle_periodic_layout():
    """Eq. 4: channel c*r^2 + i*r + j of LR pixel (y, x) goes to HR pixel (r*y + i, r*x + j)."""
    r = 2
    t = torch.arange(4 * 3 * 3.0).reshape(1, 4, 3, 3)
    hr = torch.nn.PixelShuffle(r)(t)
    for i in range(r):
        for j in range(r):
            assert torch.equal(hr[0, 0, i::r, j::r], t[0, i * r + j])


def test_extra_test_sets_are_scored_by_the_same_trained_network(tmp_path):
    """Full profile: Set14 is scored beside Set5 by the network trained once (here a folder of two PNGs)."""
    import numpy as np
    from PIL import Image

    from pipelines import espcn as stage
    from pipelines.shared.common import paper_config

    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (54, 60, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    cfg = paper_config("espcn", "smoke") | {"device": "cpu", "extra_test_images": {"set14": str(tmp_path)},
                                             "test_crop": None}
    res = stage._seed_run(cfg, 0)
    assert len(res["net"]) == 1 and len(res["net_set14"]) == 2 and all(np.isfinite(res["net_set14"]))
    # the training-set-size arm (full profile): ESPCN-relu trained on another folder, scored the same way
    res = stage._seed_run(cfg, 0, train_images=str(tmp_path), activation="relu")
    assert len(res["net"]) == 1 and np.isfinite(res["net"]).all()


def test_deconvolution_and_hr_space_filter_compute_the_sub_pixel_layer():
    """Sec. 2.2: with k_s = r k_L the deconvolution (stride r) and the stride-1 HR-space filter on the perforated map
    are the same function as the sub-pixel convolution + shuffle; so the multiply-add ratios compare equals."""
    from implementations.espcn import deconvolution_upscaler, hr_space_upscaler

    r, n, kl = 3, 4, 3
    g = torch.Generator().manual_seed(0)
    sub = torch.nn.Conv2d(n, r * r, kl, padding=1, bias=False)
    dec = deconvolution_upscaler(scale=r, n_in=n, kernel=kl)
    hrs = hr_space_upscaler(scale=r, n_in=n, kernel=kl)
    with torch.no_grad():
        sub.weight.copy_(torch.randn(sub.weight.shape, generator=g))
        dec.bias.zero_(), hrs.bias.zero_()
        for i in range(r):  # W_s[a] with a = r (k_L - 1 - u) + i holds W_L[i r + j, :, u, v]
            for j in range(r):
                for u in range(kl):
                    for v in range(kl):
                        w = sub.weight[i * r + j, :, u, v]
                        dec.weight[:, 0, r * (kl - 1 - u) + i, r * (kl - 1 - v) + j] = w
        hrs.weight.copy_(dec.weight.transpose(0, 1).flip(-2, -1))  # a transposed conv is a flipped correlation
    x = torch.randn(2, n, 7, 8, generator=g)
    want = torch.nn.PixelShuffle(r)(sub(x))
    perforated = torch.zeros(2, n, 7 * r, 8 * r)
    perforated[..., r // 2::r, r // 2::r] = x  # un-pooling: each LR value at the centre of its r x r cell
    assert torch.allclose(dec(x), want, atol=1e-5)
    assert torch.allclose(hrs(perforated), want, atol=1e-5)


def test_upscaler_multiply_adds_from_the_built_layers():
    from pipelines.espcn import upscaler_macs

    m = upscaler_macs(3, (20, 30))
    assert m["subpixel"] == 20 * 30 * 9 * 32 * 9  # r^2 maps x 32 inputs x 3x3 per LR pixel
    assert m["hr_space"] == 9 * m["subpixel"] and m["deconvolution"] == m["subpixel"]
    assert upscaler_macs(2, (20, 30))["hr_space"] == 4 * upscaler_macs(2, (20, 30))["subpixel"]


def test_interleaved_timing_alternates_and_sees_a_slower_arm():
    from pipelines.shared.timing import interleaved_log_ratios

    calls = []
    slow = lambda: calls.append("s") or sum(range(200000))  # noqa: E731
    fast = lambda: calls.append("f")  # noqa: E731
    logs, ts, tf = interleaved_log_ratios(slow, fast, 4)
    assert len(logs) == len(ts) == len(tf) == 4 and min(logs) > 0
    assert calls == ["s", "f", "s", "f", "f", "s", "s", "f", "f", "s"]  # warm-up, then the order alternates


def _verdicts(metrics: dict) -> dict:
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    cf = load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "espcn.yaml")
    measured = {"paper": "espcn", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if c.metric in metrics}


def test_timing_claims_fail_without_a_speed_up():
    """Identical arms (log ratio about 0) or a speed-up below 10x cannot pass the timing claims."""
    import math

    spread = [0.05, -0.04, 0.03, -0.02, 0.06, -0.05, 0.01, 0.0, -0.03, 0.02]
    fair = {"log_ratio_espcn_against_itself": spread, "log_ratio_subpixel_training_against_itself": spread}
    none = {"log_speedup_espcn_over_srcnn_955": spread, "log_speedup_subpixel_over_deconvolution_training": spread, **fair}
    v = _verdicts(none)
    assert v["realtime_speed"] == "not_reproduced"
    assert v["subpixel_faster_than_deconvolution_in_training"] in ("inconclusive", "not_reproduced")
    eight = {"log_speedup_espcn_over_srcnn_955": [math.log(8) + e for e in spread], **fair}
    assert _verdicts(eight)["realtime_speed"] == "not_reproduced"
    fast = {"log_speedup_espcn_over_srcnn_955": [math.log(20) + e for e in spread],
            "log_speedup_subpixel_over_deconvolution_training": [1.0 + e for e in spread], **fair}
    assert set(_verdicts(fast).values()) == {"reproduced"}


def test_a_harness_that_favours_one_slot_makes_the_timing_claims_invalid():
    """Identical work timed against itself must come out even; a harness whose second slot always runs 40 % faster
    (a warm cache the alternation failed to cancel) would manufacture speed-ups, so the claims are not judged."""
    import math

    spread = [0.05, -0.04, 0.03, -0.02, 0.06, -0.05, 0.01, 0.0, -0.03, 0.02]
    biased = [0.5 + e for e in spread]
    v = _verdicts({"log_speedup_espcn_over_srcnn_955": [math.log(30) + e for e in spread],
                   "log_speedup_subpixel_over_deconvolution_training": [1.0 + e for e in spread],
                   "log_ratio_espcn_against_itself": biased, "log_ratio_subpixel_training_against_itself": biased})
    assert v["realtime_speed"] == v["subpixel_faster_than_deconvolution_in_training"] == "invalid"
    fair = _verdicts({"log_speedup_espcn_over_srcnn_955": [math.log(30) + e for e in spread],
                      "log_speedup_subpixel_over_deconvolution_training": [1.0 + e for e in spread],
                      "log_ratio_espcn_against_itself": spread, "log_ratio_subpixel_training_against_itself": spread})
    assert fair["realtime_speed"] == fair["subpixel_faster_than_deconvolution_in_training"] == "reproduced"
