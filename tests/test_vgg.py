"""VGG: Table 1 configurations against torchvision's reference models (exact counts), C's 1x1 and A-LRN's LRN,
the 3x3-stack identities of Sec. 2.3, and the scaled-down models the cpu stage trains."""
import functools

import pytest
import torch
import torchvision

from implementations.vgg import conv_stack, vgg
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.vgg import receptive_field


@pytest.mark.parametrize("name,config", [("vgg11", "A"), ("vgg13", "B"), ("vgg16", "D"), ("vgg19", "E")])
@pytest.mark.parametrize("bn", [False, True])
def test_configs_match_torchvision(name, config, bn):
    tv = on_meta(getattr(torchvision.models, name + ("_bn" if bn else "")))
    assert count_params(on_meta(lambda: vgg(config=config, batch_norm=bn))) == count_params(tv)


def test_vgg16_macs_and_output_shape():
    m = on_meta(lambda: vgg(config="D"))
    assert m(torch.zeros(2, 3, 224, 224, device="meta")).shape == (2, 1000)
    assert count_macs(m, (3, 224, 224)) == count_macs(on_meta(torchvision.models.vgg16), (3, 224, 224)) == 15_470_264_320


def test_config_c_and_a_lrn():
    c = on_meta(lambda: vgg(config="C"))
    assert sum(x.kernel_size == (1, 1) for x in c.modules() if isinstance(x, torch.nn.Conv2d)) == 3
    assert count_params(c) == 133_638_952
    a_lrn = on_meta(lambda: vgg(config="A-LRN"))
    assert sum(isinstance(x, torch.nn.LocalResponseNorm) for x in a_lrn.modules()) == 1
    assert count_params(a_lrn) == count_params(on_meta(lambda: vgg(config="A")))  # LRN has no parameters


def test_shallow_b_replaces_pairs_by_5x5():
    shallow = on_meta(lambda: vgg(config="B-shallow"))
    convs = [x for x in shallow.modules() if isinstance(x, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5)] * 5


@pytest.mark.parametrize("C", [8, 64])
def test_three_3x3_vs_one_7x7(C):
    assert count_params(conv_stack(C, kernel=3, depth=3)) == 27 * C * C
    assert count_params(conv_stack(C, kernel=7, depth=1)) == 49 * C * C
    assert receptive_field(conv_stack(2, depth=3), 2) == 7 and receptive_field(conv_stack(2, depth=1), 2) == 3


def test_scaled_down_model_on_digits_shape():
    m = vgg(config="B", num_classes=10, in_channels=1, width=0.25, stages=3, fc_width=64, pool_size=1)
    assert m(torch.zeros(4, 1, 8, 8)).shape == (4, 10)
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 16, 32, 32, 64, 64]


# ---------------------------------------------------------------- the cpu experiment, full profile, claims' logic
from functools import partial  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from fake_data import image_folder  # noqa: E402  (tests/ is on sys.path)

import pipelines.vgg as stage  # noqa: E402
from implementations.vgg import fully_convolutional  # noqa: E402
from pipelines.shared.torchvision_meta import evaluate_classification  # noqa: E402
from tests import claim_helpers  # noqa: E402
from tests.claim_helpers import claims_of, verdict_of  # noqa: E402

CLAIMS = claims_of("vgg")
spread = functools.partial(claim_helpers.spread, sd=0.005)


def verdict(claim_id: str, metrics: dict, profile: str = "cpu") -> str:
    return verdict_of("vgg", CLAIMS, claim_id, metrics, profile)



def test_paper_preprocessing_subtracts_the_training_mean_on_the_0_255_scale():
    Xtr, Xte = torch.rand(20, 1, 8, 8), torch.rand(5, 1, 8, 8)
    a, b = stage.paper_preprocessing(Xtr, Xte)
    assert abs(a.mean().item()) < 1e-3 and torch.allclose(a, Xtr * 255 - (Xtr * 255).mean())
    assert torch.allclose(b, Xte * 255 - (Xtr * 255).mean())


def test_lrn_excess_is_zero_for_small_inputs_and_for_a_no_op_lrn():
    cfg = {"width": 0.25, "stages": 3, "fc_width": 16}
    torch.manual_seed(0)
    net = stage.mini(cfg, "A-LRN")
    x = torch.rand(64, 1, 8, 8)
    assert stage.lrn_divisive_excess(net, x) < 1e-3  # [0, 1] pixels: LRN is a constant division by 2^0.75
    assert stage.lrn_divisive_excess(net, x * 255 - 100) > 0.05  # the paper's pixel scale: the normalisation acts
    assert abs(stage.lrn_divisive_excess(stage.mini({**cfg, "lrn_alpha_scale": 0.0}, "A-LRN"), x * 255 - 100)) < 1e-6
    # the broken-LRN switch multiplies alpha: it reaches the layer
    lrn = next(m for m in stage.mini({**cfg, "lrn_alpha_scale": 1e8}, "A-LRN").modules()
               if isinstance(m, torch.nn.LocalResponseNorm))
    assert lrn.alpha == pytest.approx(5e-4 * 1e8)


def test_lrn_claim_cannot_pass_a_broken_or_idle_lrn():
    ok = {"test_acc_A": [0.97] * 10, "test_acc_A-LRN": [0.97] * 10, "lrn_divisive_excess": [0.1] * 10}
    assert verdict("lrn_does_not_help", {**ok, "test_acc_lrn_minus_plain": spread(0.0)}) == "reproduced"
    # alpha x 1e8: the LRN arm at chance "does not improve" either, but the gate says it did not train
    broken = {**ok, "test_acc_A-LRN": [0.1] * 10}
    assert verdict("lrn_does_not_help", {**broken, "test_acc_lrn_minus_plain": spread(-0.87)}) == "invalid"
    # an LRN that only rescales (inputs too small, or alpha 0) cannot act: the positive control fails
    idle = {**ok, "lrn_divisive_excess": [0.0] * 10}
    assert verdict("lrn_does_not_help", {**idle, "test_acc_lrn_minus_plain": spread(0.0)}) == "invalid"
    # an LRN that helps by 3 points contradicts the paper
    assert verdict("lrn_does_not_help", {**ok, "test_acc_lrn_minus_plain": spread(0.03)}) == "not_reproduced"


def test_deep_vs_shallow_claim_rejects_identical_or_untrained_arms():
    ok = {"test_acc_B": [0.97] * 10, "test_acc_B-shallow": [0.97] * 10}
    assert verdict("deep_3x3_beats_shallow_5x5", {**ok, "test_acc_deep_3x3_minus_shallow_5x5": spread(0.02)}) == "reproduced"
    assert verdict("deep_3x3_beats_shallow_5x5", {**ok, "test_acc_deep_3x3_minus_shallow_5x5": spread(0.0, sd=1e-4)}) != "reproduced"
    dead = {**ok, "test_acc_B": [0.97] * 9 + [0.5]}
    assert verdict("deep_3x3_beats_shallow_5x5", {**dead, "test_acc_deep_3x3_minus_shallow_5x5": spread(0.02)}) == "invalid"


def test_torchvision_depth_trend_and_saturation_claims():
    m = stage.torchvision_evidence()
    assert m["torchvision_vgg16_top1_error"] == pytest.approx(1 - 0.71592)
    assert m["torchvision_top1_error_A_minus_D"] == pytest.approx(0.71592 - 0.69020)
    assert m["torchvision_bn_top1_error_D_minus_E"] == pytest.approx(0.74218 - 0.73360)
    # a flat trend (depth does nothing) cannot pass the saturation claim: its positive control fails
    flat = {**m, "torchvision_top1_error_A_minus_D": 0.0, "torchvision_top1_error_D_minus_E": 0.0}
    assert verdict("depth_saturates_d_to_e_torchvision", flat) == "invalid"
    assert verdict("depth_lowers_error_a_to_d_torchvision", flat) == "not_reproduced"


def test_fully_convolutional_matches_the_fc_net_and_takes_any_size():
    torch.manual_seed(0)
    m = vgg(config="A", width=0.0625, fc_width=32, num_classes=5).eval()
    d = fully_convolutional(m).eval()
    x = torch.randn(2, 3, 224, 224)
    torch.testing.assert_close(d(x), m(x))
    assert d(torch.randn(1, 3, 256, 300)).shape == (1, 5)


def test_full_profile_multiscale_training_and_dense_evaluation_offline(tmp_path):
    image_folder(tmp_path, per_class=1)
    torch.manual_seed(0)
    model = vgg(config="A", width=0.0625, fc_width=16, num_classes=2)
    cfg = {"data_dir": str(tmp_path), "jitter": [224, 240], "epochs": 1, "batch_size": 2, "lr": 0.001,
           "lr_step_epochs": 1, "workers": 0}
    run = SimpleNamespace(device="cpu", show_progress=False)
    stage.train_scale_jittered(model, cfg, run)
    res = stage.dense_multiscale_errors(model, cfg, run, [224, 256])
    assert 0 <= res["top1_error"] <= 1 and res["top5_error"] == 0.0


def test_full_profile_reevaluates_torchvision_weights_offline(tmp_path, monkeypatch):
    image_folder(tmp_path, per_class=1)
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1000))
    monkeypatch.setattr(stage, "evaluate_classification", partial(evaluate_classification, net=net, workers=0))
    m = stage.reevaluate_torchvision({"imagenet": {"data_dir": str(tmp_path), "batch_size": 2, "workers": 0}},
                                     SimpleNamespace(device="cpu"), ["vgg11", "vgg11_bn"])
    assert m["torchvision_vgg_reeval_acc1_max_abs_deviation"] == max(
        abs(m["torchvision_vgg11_reeval_acc1_minus_published"]), abs(m["torchvision_vgg11_bn_reeval_acc1_minus_published"]))


def test_full_profile_assembles_the_depth_trend_and_shallow_comparison(monkeypatch):
    """measure_full's bookkeeping, with the ImageNet training replaced by fixed errors per configuration."""
    errors = {"A": 0.30, "B": 0.29, "D": 0.27, "E": 0.272, "B-shallow": 0.33}
    monkeypatch.setattr(stage, "vgg", lambda config="D", **kw: SimpleNamespace(config=config))
    monkeypatch.setattr(stage, "imagenet_top1_top5", lambda model, cfg, run: {"top1_error": errors[model.config],
                                                                             "top5_error": errors[model.config] / 3})
    monkeypatch.setattr(stage, "train_scale_jittered", lambda model, cfg, run: model)
    monkeypatch.setattr(stage, "dense_multiscale_errors", lambda model, cfg, run, scales: {"top1_error": 0.25, "top5_error": 0.08})
    monkeypatch.setattr(stage, "reevaluate_torchvision", lambda cfg, run, names: {})
    cfg = {"seed_imagenet": 0, "configs_imagenet": ["A", "B", "D", "E", "B-shallow"], "imagenet": {},
           "imagenet_jitter": {"jitter": [256, 512]}, "test_scales": [256, 384, 512]}
    out = stage.measure_full(cfg, SimpleNamespace(device="cpu"), {})
    m = out["metrics"]
    assert m["imagenet_top1_error_A_minus_D"] == pytest.approx(0.03)
    assert m["imagenet_top1_error_D_minus_E"] == pytest.approx(-0.002)
    assert m["imagenet_top1_error_shallow_minus_B"] == pytest.approx(0.04)
    assert m["imagenet_multiscale_top1_error_vgg_D"] == 0.25
    assert verdict("imagenet_deep_3x3_beats_shallow_5x5", m, "full") == "reproduced"
    assert verdict("imagenet_depth_saturates_d_to_e", m, "full") == "reproduced"


def test_torchvision_evidence_is_not_judged_on_another_networks_weights():
    """Reading the batch-normalised row for configuration D (a wrong row, the broken version of the evidence) shows
    as a parameter gap, and the claim that rests on that row is then invalid, whatever the error it reads."""
    from pipelines.shared.torchvision_meta import params_gap, retraining

    assert params_gap(retraining("vgg16"), lambda: vgg(config="D")) == 0
    wrong = params_gap(retraining("vgg16_bn"), lambda: vgg(config="D"))
    assert wrong != 0
    paper_d = {"torchvision_vgg16_top1_error": CLAIMS["torchvision_vgg_d_top1_error"].claimed}  # it passes on the paper's number
    assert verdict("torchvision_vgg_d_top1_error", {**paper_d, "torchvision_vgg16_params_minus_ours": 0}) == "reproduced"
    assert verdict("torchvision_vgg_d_top1_error", {**paper_d, "torchvision_vgg16_params_minus_ours": wrong}) == "invalid"
