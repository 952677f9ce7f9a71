"""MobileNet v1 (Table 1): shapes, exact parameter and multiply-add counts, the width/resolution multipliers, and
the depthwise-separable cost identity of Eq. 5."""
import pytest
import torch
from torch import nn

from implementations.mobilenet import mobilenet
from pipelines.mobilenet import structure, weights
from pipelines.structural import count_macs, count_params, on_meta


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
