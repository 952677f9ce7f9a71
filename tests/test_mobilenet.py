"""MobileNet v1 (Table 1): shapes, exact parameter and multiply-add counts, the width/resolution multipliers, and
the depthwise-separable cost identity of Eq. 5."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from implementations.mobilenet import SHALLOW_ROWS, mobilenet
from pipelines.mobilenet import measure_full, structure, weights
from pipelines.shared.structural import count_macs, count_params, on_meta
from fake_data import image_folder  # tests/ is on sys.path (pytest, rootdir without __init__)


def test_output_shape_and_table1_layout():
    m = on_meta(mobilenet)
    assert m(torch.zeros(2, 3, 224, 224, device="meta")).shape == (2, 1000)
    convs = [x for x in m.modules() if isinstance(x, nn.Conv2d)]
    assert len(convs) == 27 and sum(c.groups > 1 for c in convs) == 13  # stem + 13 x (dw, pw)
    assert convs[-1].out_channels == 1024 and m[-1].in_features == 1024


def test_exact_counts():
    m = on_meta(mobilenet)
    assert weights(m) == 4_210_088 and count_params(m) == 4_231_976
    assert count_macs(m, (3, 224, 224)) == 568_740_352
    full = on_meta(lambda: mobilenet(separable_convs=False))
    assert count_macs(full, (3, 224, 224)) == 4_867_293_184


@pytest.mark.parametrize("alpha", [0.75, 0.5, 0.25])
def test_width_multiplier_scales_cost_roughly_by_alpha_squared(alpha):
    base, thin = on_meta(mobilenet), on_meta(lambda: mobilenet(alpha=alpha))
    ratio = count_macs(thin, (3, 224, 224)) / count_macs(base, (3, 224, 224))
    assert alpha ** 2 < ratio < 1.2 * alpha ** 2  # Sec. 3.3: "roughly alpha^2" (depthwise and stem terms are linear)


def test_resolution_multiplier_scales_cost_by_rho_squared_and_keeps_params():
    m = on_meta(mobilenet)
    rho = 160 / 224
    ratio = count_macs(m, (3, 160, 160)) / count_macs(m, (3, 224, 224))
    assert abs(ratio - rho ** 2) < 1e-3


def test_eq5_reduction_and_table2_shares_sum_to_one():
    s = structure()
    assert s["table3_cost_ratio_separable_over_full"] == pytest.approx(1 / 512 + 1 / 9, abs=1e-12)
    assert sum(v for k, v in s.items() if k.startswith("table2_macs_share")) == pytest.approx(1.0)
    assert sum(v for k, v in s.items() if k.startswith("table2_params_share")) == pytest.approx(1.0)


def test_scaled_down_model_on_digits():
    m = mobilenet(alpha=0.5, num_classes=10, in_channels=1, blocks=4, stem_stride=1)
    assert m(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


def test_shallow_mobilenet_drops_the_five_14x14x512_rows():
    shallow = on_meta(lambda: mobilenet(skip_rows=SHALLOW_ROWS))
    assert shallow(torch.zeros(1, 3, 224, 224, device="meta")).shape == (1, 1000)
    convs = [x for x in shallow.modules() if isinstance(x, nn.Conv2d)]
    assert len(convs) == 27 - 2 * 5
    # each removed row: 3x3 depthwise + 1x1 pointwise, 512 -> 512 at 14x14 (Sec. 3.1 cost formula)
    row_macs = 14 * 14 * 512 * (9 + 512)
    assert count_macs(on_meta(mobilenet), (3, 224, 224)) - count_macs(shallow, (3, 224, 224)) == 5 * row_macs
    assert weights(on_meta(mobilenet)) - weights(shallow) == 5 * 512 * (9 + 512)


def test_full_profile_table5_on_fake_imagenet(tmp_path, monkeypatch):
    image_folder(tmp_path, per_class=1)
    cfg = {"seeds_imagenet": [0], "imagenet": {"data_dir": str(tmp_path), "batch_size": 2, "workers": 0, "epochs": 1,
                                               "lr": 0.01, "lr_step_epochs": 1, "optimizer": "rmsprop"}}
    m = {}
    out = measure_full(cfg, SimpleNamespace(profile="full", device="cpu", show_progress=False), m)
    assert out["seeds"] == [0] and len(m["imagenet_top1_error_1p0_224"]) == 1
    assert m["imagenet_top1_acc_thinner_minus_shallower"][0] == \
        m["imagenet_top1_error_shallow_224"][0] - m["imagenet_top1_error_0p75_224"][0]


def test_separable_no_worse_claim_needs_its_positive_control():
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    claims = {c.id: c for c in load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "mobilenet.yaml").claims}

    def verdict(metrics):
        return check_claim(claims["separable_small_accuracy_cost"],
                           {"paper": "mobilenet", "profile": "cpu", "metrics": metrics}).verdict

    diff = [0.002, -0.004, 0.0, 0.003, -0.001]
    ok = {"test_acc_mini_full_conv": [0.98] * 5, "test_acc_mini_separable": [0.98] * 5,
          "macs_ratio_mini_full_over_separable": 7.0, "test_acc_separable_minus_full_conv": diff}
    assert verdict(ok) == "reproduced"
    # identical arms (separable_convs ignored): no multiply-add saving, the 'no worse' rule proves nothing
    assert verdict({**ok, "macs_ratio_mini_full_over_separable": 1.0}) == "invalid"
    assert verdict({**ok, "test_acc_separable_minus_full_conv": [d - 0.06 for d in diff]}) == "not_reproduced"


def test_arms_are_built_from_the_settings_passed_in():
    from pipelines.mobilenet import builders

    cfg = {"alpha": 0.5, "blocks": 4}
    b = builders(cfg)
    assert set(b) == {"separable", "full_conv"}
    assert weights(on_meta(b["full_conv"])) > weights(on_meta(b["separable"]))
    assert b["separable"]()(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_scaled_down_pair_differs_in_cost_as_the_papers_pair():
    """Design of the cpu analogue (moved from the claim file: a property of our scaled-down nets, not a paper claim):
    the separable net saves several times the multiply-adds of the full-convolution one (Table 4: 8.5x)."""
    from pipelines.mobilenet import builders
    from pipelines.shared.common import load_params, paper_config

    cfg = paper_config("mobilenet", "cpu", load_params())
    b = {k: on_meta(v) for k, v in builders(cfg).items()}
    macs = {k: count_macs(m, (1, 8, 8)) for k, m in b.items()}
    assert macs["full_conv"] / macs["separable"] >= 5
