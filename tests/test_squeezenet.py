import functools

import torch
import torchvision

from implementations.squeezenet import Bypass, fire_widths, squeezenet
from pipelines.shared.structural import count_macs, count_params, on_meta


def test_output_shape_at_the_papers_input_size():
    assert squeezenet()(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)


def test_matches_torchvision_squeezenet1_0_layer_by_layer():
    ours, ref = on_meta(lambda: squeezenet()), on_meta(lambda: torchvision.models.squeezenet1_0())
    assert [p.shape for p in ours.parameters()] == [p.shape for p in ref.parameters()]
    assert count_params(ours) == count_params(ref) == 1_248_424
    assert count_macs(ours, (3, 224, 224)) == count_macs(ref, (3, 224, 224)) == 818_924_576


def test_metaparameters_give_table_1():
    assert fire_widths() == [(16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
                             (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]


def test_bypasses():
    simple, complex_ = on_meta(lambda: squeezenet(bypass="simple")), on_meta(lambda: squeezenet(bypass="complex"))
    assert sum(isinstance(m, Bypass) for m in simple) == 4  # fire3, 5, 7, 9
    assert count_params(simple) == 1_248_424
    # 1x1 bypass convolutions around fire2 (96->128), fire4 (128->256), fire6 (256->384), fire8 (384->512)
    assert count_params(complex_) - 1_248_424 == 96 * 128 + 128 * 256 + 256 * 384 + 384 * 512
    x = torch.randn(1, 3, 64, 64)
    assert squeezenet(bypass="simple", num_classes=7)(x).shape == (1, 7)


# ---------------------------------------------------------------- variants, knobs and the claims' logic
from functools import partial  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402
from fake_data import image_folder  # noqa: E402  (tests/ is on sys.path)

import pipelines.squeezenet as stage  # noqa: E402
from pipelines.shared.torchvision_meta import evaluate_classification  # noqa: E402
from tests import claim_helpers  # noqa: E402
from tests.claim_helpers import claims_of, verdict_of  # noqa: E402

CLAIMS = claims_of("squeezenet")
spread = functools.partial(claim_helpers.spread, sd=0.005)


def verdict(claim_id: str, metrics: dict, profile: str = "cpu") -> str:
    return verdict_of("squeezenet", CLAIMS, claim_id, metrics, profile)



def test_variant_sizes_from_the_built_models():
    s = stage.structural()
    assert count_params(on_meta(lambda: squeezenet(bypass="complex"))) == 1_588_392
    assert s["model_size_mib_complex_bypass"] == pytest.approx(1_588_392 * 4 / 2**20)
    assert count_params(on_meta(lambda: squeezenet(sr=0.75))) == 4_841_704
    assert fire_widths(sr=0.75)[0] == (96, 64, 64)  # squeeze = 0.75 x expand (128)


def test_scaled_down_knobs_keep_the_papers_defaults():
    # batch_norm / final_relu / init only change the scaled-down runs: the default build is the paper's
    default = squeezenet()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in default.modules())
    assert isinstance(default[-3], torch.nn.ReLU)
    small = squeezenet(num_classes=10, in_channels=1, base_e=64, incr_e=64, n_fire=4, stem_channels=32, stem_kernel=3,
                       stem_stride=1, pool_after_fire=(1,), batch_norm=True, final_relu=False, init="kaiming")
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in small.modules()) == 1 + 3 * 4
    assert isinstance(small[-3], torch.nn.Identity)
    assert small(torch.randn(2, 1, 16, 16)).shape == (2, 10)


def test_bypass_share_is_zero_without_bypasses():
    torch.manual_seed(0)
    x = torch.randn(8, 1, 16, 16)
    cfg = {"base_e": 64, "incr_e": 64, "n_fire": 4, "stem_channels": 32, "pool_after_fire": [1], "dropout": 0.0,
           "batch_norm": True, "final_relu": False, "init": "kaiming"}
    assert stage.bypass_share(stage.small(cfg, None), x) == 0.0
    assert 0.1 < stage.bypass_share(stage.small(cfg, "simple"), x) < 1.0


def test_broken_bypass_switch_gives_identical_arms():
    cfg = {"image_size": 16, "base_e": 16, "incr_e": 16, "n_fire": 2, "stem_channels": 8, "pool_after_fire": [0],
           "dropout": 0.0, "batch_norm": True, "final_relu": False, "init": "kaiming", "lr": 0.05,
           "weight_decay": 0.0, "batch_size": 64, "epochs": 1, "train_limit": 64, "bypass_broken": True}
    a, b = stage.train_arm(cfg, ("vanilla", 3)), stage.train_arm(cfg, ("simple", 3))
    assert a["test_acc"] == b["test_acc"] and b["share"] == 0.0


def test_bypass_claims_cannot_pass_without_working_bypasses():
    ok = {"test_acc_vanilla": [0.97] * 10, "test_acc_simple_bypass": [0.97] * 10, "bypass_signal_share": [0.5] * 10}
    assert verdict("simple_bypass_not_worse", {**ok, "test_acc_bypass_minus_vanilla": spread(0.0)}) == "reproduced"
    # the broken switch: identical arms, no bypass carries signal -> the positive control fails
    broken = {**ok, "bypass_signal_share": [0.0] * 10}
    assert verdict("simple_bypass_not_worse", {**broken, "test_acc_bypass_minus_vanilla": spread(0.0)}) == "invalid"
    # a bypass that costs accuracy
    assert verdict("simple_bypass_not_worse", {**ok, "test_acc_bypass_minus_vanilla": spread(-0.03)}) == "not_reproduced"
    # the improvement claim: a real gain reproduces, none does not
    assert verdict("simple_bypass_improves_top1", {**ok, "test_acc_bypass_minus_vanilla": spread(0.02)}) == "reproduced"
    assert verdict("simple_bypass_improves_top1", {**ok, "test_acc_bypass_minus_vanilla": spread(-0.01)}) == "not_reproduced"
    # an arm that did not train makes both invalid
    dead = {**ok, "test_acc_simple_bypass": [0.97] * 9 + [0.1]}
    assert verdict("simple_bypass_improves_top1", {**dead, "test_acc_bypass_minus_vanilla": spread(0.02)}) == "invalid"


def test_alexnet_level_claim_needs_a_smaller_net_and_trained_nets():
    m = stage.torchvision_evidence()
    assert m["torchvision_squeezenet1_0_top1_acc"] == pytest.approx(0.58092)
    assert m["torchvision_param_ratio_alexnet_over_squeezenet"] == pytest.approx(61_100_840 / 1_248_424)
    assert verdict("torchvision_alexnet_level_top1", m) in ("reproduced", "not_reproduced")
    # the same net on both sides (ratio 1): the 'no worse' rule would pass trivially -> invalid
    same = {**m, "torchvision_param_ratio_alexnet_over_squeezenet": 1.0, "torchvision_top1_acc_squeezenet_minus_alexnet": 0.0}
    assert verdict("torchvision_alexnet_level_top1", same) == "invalid"
    worse = {**m, "torchvision_top1_acc_squeezenet_minus_alexnet": -0.05}
    assert verdict("torchvision_alexnet_level_top1", worse) == "not_reproduced"


def test_full_profile_reevaluates_torchvision_weights_offline(tmp_path, monkeypatch):
    image_folder(tmp_path, per_class=1)
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1000))
    monkeypatch.setattr(stage, "evaluate_classification", partial(evaluate_classification, net=net))
    m = stage.reevaluate_torchvision({"imagenet_val": str(tmp_path / "val"), "workers": 0}, SimpleNamespace(device="cpu"))
    assert m["torchvision_reeval_max_abs_deviation"] == max(abs(v) for k, v in m.items() if k.endswith("published"))
    assert len(m) == 5


def test_full_profile_trains_the_three_arms_on_fake_imagenet(tmp_path):
    image_folder(tmp_path, per_class=2)
    cfg = {"imagenet_train": str(tmp_path / "train"), "imagenet_val": str(tmp_path / "val"), "batch_size": 2,
           "workers": 0, "epochs": 1, "lr": 0.001, "weight_decay": 0.0, "seed": 0}
    m = stage._imagenet(cfg, SimpleNamespace(device="cpu", show_progress=False))
    assert set(m) == {f"imagenet_top{k}_{arm}" for k in (1, 5) for arm in ("vanilla", "simple", "sr_0p75")}
    assert all(0 <= v <= 1 for v in m.values())
