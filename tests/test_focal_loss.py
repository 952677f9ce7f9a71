import functools
import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from implementations.focal_loss import (
    balanced_cross_entropy,
    dense_classifier,
    focal_loss,
    modulating_factor,
    prior_bias,
)
from pipelines.focal_loss import _retinanet_anchors


def test_focal_loss_hand_computation():
    # one positive at p = 0.9 and one negative at p = 0.2 (Eq. 5): -alpha_t (1 - p_t)^2 log p_t
    logits = torch.tensor([math.log(0.9 / 0.1), math.log(0.2 / 0.8)], dtype=torch.float64)
    targets = torch.tensor([1.0, 0.0], dtype=torch.float64)
    hand = 0.25 * 0.1 ** 2 * -math.log(0.9) + 0.75 * 0.2 ** 2 * -math.log(0.8)
    assert focal_loss(logits, targets).item() == pytest.approx(hand, rel=1e-12)


def test_matches_torchvision_and_reduces_to_ce():
    torch.manual_seed(0)
    x, t = torch.randn(500), (torch.rand(500) < 0.1).float()
    assert torch.allclose(focal_loss(x, t, reduction="none"), sigmoid_focal_loss(x, t, 0.25, 2.0, "none"))
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert torch.allclose(focal_loss(x, t, alpha=-1, gamma=0.0, reduction="none"), ce, atol=1e-7)
    alpha_t = 0.75 * t + 0.25 * (1 - t)
    assert torch.allclose(balanced_cross_entropy(x, t, reduction="none"), alpha_t * ce, atol=1e-7)


def test_gradient_matches_closed_form():
    # d FL / d x for a positive, alpha off: with p = sigmoid(x), FL = -(1-p)^g log p
    x = torch.tensor([0.3, -1.2, 2.5], dtype=torch.float64, requires_grad=True)
    focal_loss(x, torch.ones(3, dtype=torch.float64), alpha=-1, gamma=2.0).backward()
    p, g = torch.sigmoid(x.detach()), 2.0
    closed = (1 - p) ** g * (g * p * torch.log(p) + p - 1)
    assert torch.allclose(x.grad, closed, atol=1e-12)


def test_downweighting_factors():
    assert 1 / modulating_factor(0.9) == pytest.approx(100)
    assert 1 / modulating_factor(1 - 1 / math.sqrt(1000)) == pytest.approx(1000)
    assert 1 / modulating_factor(0.5) == pytest.approx(4)


def test_prior_init():
    assert prior_bias(0.01) == pytest.approx(-4.59512, abs=1e-5)
    assert torch.sigmoid(torch.tensor(prior_bias(0.01))).item() == pytest.approx(0.01, abs=1e-7)
    net = dense_classifier(in_channels=1, width=8, depth=2)
    assert net[-1].bias.item() == pytest.approx(prior_bias(0.01))
    assert net(torch.zeros(1, 1, 16, 16)).shape == (1, 1, 16, 16)
    assert dense_classifier(in_channels=1, width=8, depth=2, prior=None)[-1].bias.item() == 0.0


def test_retinanet_head_size():
    # 4 x (256*256*9 + 256) + 256*9*9 + 9 for K = 1 class and A = 9 anchors (Fig. 3c, KA outputs)
    net = dense_classifier(num_classes=9)
    assert sum(p.numel() for p in net.parameters()) == 4 * (256 * 256 * 9 + 256) + 256 * 9 * 9 + 9


def test_retinanet_anchor_count():
    assert _retinanet_anchors() == (100 ** 2 + 50 ** 2 + 25 ** 2 + 13 ** 2 + 7 ** 2) * 9 == 120087


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim
from claimcheck.schema import load_claim_file
from pipelines import focal_loss as stage
from pipelines.shared.common import REPO

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "focal_loss.yaml").claims}
TINY = {"width": 4, "depth": 1, "lr": 0.01, "iters": 3, "batch_size": 4}


def _verdict(cid, metrics):
    return check_claim(CLAIMS[cid], {"paper": "focal_loss", "profile": "cpu", "metrics": metrics}).verdict


def _tiny_data():
    return tuple(stage.blobs(n, 12, s, 0.6) for n, s in ((8, 1), (4, 2), (4, 3)))


def test_focal_loss_replaced_by_alpha_ce_cannot_pass_fl_beats_ce():
    """The broken factor: the 'FL' arms are alpha-CE (gamma 0, alpha .75), identical to the CE arms: the picked
    arms score the same and the superiority rule does not reproduce."""
    ce = {"gamma": 0.0, "alpha": 0.75, "prior": 0.01}
    cfg = TINY | {"dense_arms": {"alpha_ce_0.75": ce, "focal_gamma2": ce}}
    data = _tiny_data()
    diffs = []
    for seed in range(5):
        runs = {n: stage.dense_arm(cfg, data, "cpu", (seed, n)) for n in cfg["dense_arms"]}
        diffs.append(stage.pick_on_validation(runs, ["focal_gamma2"])[1] - stage.pick_on_validation(runs, ["alpha_ce_0.75"])[1])
    assert diffs == [0.0] * 5
    ok = [0.9] * 5
    gates = {m: ok for m in ("ap_test_alpha_ce_0.75", "ap_test_alpha_ce_0.5", "ap_test_focal_gamma1", "ap_test_focal_gamma2")}
    gates |= {"diverged_focal_gamma2": [0.0] * 5, "diverged_alpha_ce_0.75": [0.0] * 5}
    assert _verdict("fl_beats_ce", {"ap_focal_minus_best_alpha_ce": diffs, **gates}) != "reproduced"


def test_validation_picks_the_arm_never_the_test_split():
    runs = {"a": {"ap_val": 0.9, "ap_test": 0.1}, "b": {"ap_val": 0.2, "ap_test": 0.99}}
    assert stage.pick_on_validation(runs, ["a", "b"]) == ("a", 0.1)


def test_prior_init_given_to_both_arms_cannot_pass_the_initialisation_claims():
    """The broken factor: the 'bias 0' arm also starts from the prior: the first losses are equal (ratio 1), the AP
    difference is 0, and neither initialisation claim reproduces."""
    arm = {"gamma": 0.0, "alpha": 0.5, "prior": 0.01}
    cfg = TINY | {"dense_arms": {"alpha_ce_0.5": arm, "ce_bias0": arm}}
    data = _tiny_data()
    runs = [{n: stage.dense_arm(cfg, data, "cpu", (s, n)) for n in cfg["dense_arms"]} for s in range(5)]
    ratio = [r["ce_bias0"]["first_loss"] / r["alpha_ce_0.5"]["first_loss"] for r in runs]
    gap = [r["alpha_ce_0.5"]["ap_test"] - r["ce_bias0"]["ap_test"] for r in runs]
    assert ratio == [1.0] * 5 and gap == [0.0] * 5
    assert _verdict("prior_init_shrinks_initial_ce", {"ce_first_iter_loss_bias0_over_prior": ratio}) != "reproduced"
    metrics = {"ap_test_ce_prior_minus_bias0": gap, "ap_test_alpha_ce_0.5": [0.9] * 5}
    assert _verdict("plain_ce_without_prior_fails", metrics) != "reproduced"


def test_first_iteration_background_share_is_read_from_the_built_model():
    """Bias 0: every anchor starts near p = .5, so each background anchor costs ~log 2 and the background's share
    of the first loss is about its share of the anchors; with the prior, positives cost -log(.01) each."""
    data = _tiny_data()
    zero = stage.dense_arm(TINY | {"dense_arms": {"a": {"gamma": 0.0, "alpha": 0.5, "prior": None}}}, data, "cpu", (0, "a"))
    fg = float(data[0][1].mean())
    assert zero["first_background_share"] > 0.9 and abs(zero["first_background_share"] - (1 - fg)) < 0.1


# ------------------------------------------------------------------------------- full profile: RetinaNet on COCO
class _GroundTruth(torch.nn.Module):
    """'Detects' the annotated boxes of the images in the loader's order; coco_ids: labels as COCO category ids (as
    torchvision's COCO weights give them) instead of 0..K-1."""

    def __init__(self, val, coco_ids: bool = False):
        super().__init__()
        self.val, self.coco_ids, self.next = val, coco_ids, 0

    def forward(self, images):
        outs = []
        for _ in images:
            t = self.val[self.next % len(self.val)][1]
            self.next += 1
            labels = torch.tensor([self.val.categories[int(c)] for c in t["labels"]]) if self.coco_ids else t["labels"]
            outs.append({"boxes": t["boxes"], "labels": labels, "scores": torch.ones(len(t["labels"]))})
        return outs


def test_retinanet_with_gamma_2_alpha_25_is_torchvisions_retinanet():
    """The classification loss this file plugs into torchvision's RetinaNet is torchvision's own focal loss at the
    paper's (gamma, alpha), on the same weights and the same batch; gamma = 0 (alpha-CE) gives a larger loss."""
    from torchvision.models.detection import retinanet_resnet50_fpn

    from implementations.focal_loss import retinanet

    torch.manual_seed(0)
    ours = retinanet(num_classes=5, min_size=96, max_size=128)
    reference = retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=5, min_size=96, max_size=128)
    reference.load_state_dict(ours.state_dict())
    ce = retinanet(gamma=0.0, alpha=0.75, num_classes=5, min_size=96, max_size=128)
    ce.load_state_dict(ours.state_dict())
    images = [torch.rand(3, 90, 120), torch.rand(3, 80, 100)]
    targets = [{"boxes": torch.tensor([[10.0, 10, 60, 70]]), "labels": torch.tensor([3])},
               {"boxes": torch.tensor([[5.0, 20, 50, 79], [60, 10, 99, 60]]), "labels": torch.tensor([0, 4])}]
    a, b, c = (m.train()(images, targets) for m in (ours, reference, ce))
    assert torch.equal(a["classification"], b["classification"]) and torch.equal(a["bbox_regression"], b["bbox_regression"])
    assert c["classification"] > 2 * a["classification"]  # 3.7x: without (1 - p_t)^gamma the easy negatives add up
    assert ours.head.classification_head.cls_logits.out_channels == 9 * 5  # A = 9 anchors x K classes (Sec. 4)


def test_coco_box_ap_is_one_for_the_ground_truth(tmp_path):
    """Boxes and labels read from a COCO folder, given back as detections, score AP 1: labels map back to COCO's
    category ids and boxes back to x, y, w, h. Crowd boxes are not training targets."""
    from fake_data import fake_coco_detection

    from pipelines.focal_loss import CocoBoxes, coco_box_ap, coco_instances

    fake_coco_detection(tmp_path)
    val = CocoBoxes(*coco_instances(tmp_path, "val"), train=False)

    GroundTruth = functools.partial(_GroundTruth, val)
    assert [len(val[i][1]["labels"]) for i in range(3)] == [2, 2, 2] and val.categories == [1, 3, 7]
    model = GroundTruth()
    cfg = {"coco_batch_size": 2, "coco_workers": 0}
    assert coco_box_ap(model, val, cfg, "cpu") > 0.99
    shifted = GroundTruth()
    shifted.next = 1  # every image gets the next image's boxes
    assert coco_box_ap(shifted, val, cfg, "cpu") < 0.5


def test_full_profile_trains_and_scores_retinanet_on_a_coco_folder(tmp_path):
    from fake_data import fake_coco_detection

    from pipelines.focal_loss import measure_coco
    from pipelines.shared.common import paper_config
    from pipelines.shared.run import Run

    fake_coco_detection(tmp_path / "coco", images=2)
    cfg = paper_config("focal_loss", "full") | {
        "coco_dir": str(tmp_path / "coco"), "coco_min_size": 64, "coco_max_size": 96, "coco_iterations": 2,
        "coco_lr_steps": [1], "coco_warmup": 1, "coco_batch_size": 2, "coco_workers": 0, "coco_imagenet_backbone": False,
        "coco_reeval_torchvision": False,
        "coco_arms": {k: v for k, v in paper_config("focal_loss", "full")["coco_arms"].items()
                      if k in ("focal", "alpha_ce", "r101_ohem")}}
    metrics, setting = measure_coco(cfg, Run(key="focal_loss", profile="full", figures=tmp_path, device="cpu"))
    assert set(metrics) == {"coco_ap_focal", "coco_ap_alpha_ce", "coco_ap_r101_ohem", "coco_ap_focal_minus_alpha_ce",
                            "coco_ap_worst_gamma_minus_alpha_ce"}
    assert all(0 <= v <= 1 for v in metrics["coco_ap_focal"] + metrics["coco_ap_alpha_ce"] + metrics["coco_ap_r101_ohem"])
    assert "2 images with boxes" in setting["coco"]


def test_full_profile_without_coco_says_where_to_put_it(tmp_path):
    import pytest

    from pipelines.focal_loss import measure_coco
    from pipelines.shared.data import DataUnavailable

    with pytest.raises(DataUnavailable, match="COCO_DIR"):
        measure_coco({"coco_dir": str(tmp_path)}, None)


def test_full_profile_reevaluates_torchvisions_weights_on_a_coco_folder(tmp_path):
    """The re-evaluation path of torchvision_retinanet_weights_reproduce_their_number, with a stand-in for the COCO_V1
    weights that 'detects' the annotated boxes with COCO's own category ids (as torchvision's COCO models do)."""
    from fake_data import fake_coco_detection

    from pipelines.focal_loss import (
        CocoBoxes,
        coco_instances,
        reeval_torchvision_retinanet,
    )

    fake_coco_detection(tmp_path)
    val = CocoBoxes(*coco_instances(tmp_path, "val"), train=False)

    net = _GroundTruth(val, coco_ids=True)
    out = reeval_torchvision_retinanet({"coco_batch_size": 2, "coco_workers": 0}, val, "cpu", net=net)
    assert out["coco_torchvision_retinanet_reeval_ap"] > 0.99
    assert abs(out["coco_torchvision_retinanet_reeval_minus_published"] - (out["coco_torchvision_retinanet_reeval_ap"] - 0.364)) < 1e-9


def test_torchvision_retinanet_metadata_is_read_offline():
    from pipelines.focal_loss import torchvision_retinanet_metrics

    assert torchvision_retinanet_metrics() == {"torchvision_retinanet_r50_fpn_box_ap": pytest.approx(0.364)}


def test_resnet101_fpn_and_ohem_variants_build_and_train_one_step():
    from implementations.focal_loss import retinanet

    torch.manual_seed(0)
    m = retinanet(depth=101, ohem=16, num_classes=3, min_size=64, max_size=96)
    assert sum(p.numel() for p in m.backbone.body.parameters()) > 40e6  # ResNet-101's trunk (~42.5 M without fc)
    out = m.train()([torch.rand(3, 64, 80)], [{"boxes": torch.tensor([[5.0, 5, 40, 50]]), "labels": torch.tensor([1])}])
    assert torch.isfinite(out["classification"]) and m.head.classification_head.ohem == 16


def test_loss_concentration_claims_need_a_trained_model():
    from tests.claim_helpers import claims_of, verdict_of
    claims = claims_of("focal_loss")
    trained = {"concentration_model_ap_test": [0.95] * 12, "neg_frac_half_loss_gamma2_over_gamma0": [0.05] * 12,
               "pos_ratio_minus_neg_ratio": [0.4, 0.5] * 6}
    assert verdict_of("focal_loss", claims, "loss_concentration", trained) == "reproduced"
    assert verdict_of("focal_loss", claims, "loss_concentration_positives_minor", trained) == "reproduced"
    untrained = {**trained, "concentration_model_ap_test": [0.95] * 11 + [0.1]}
    assert verdict_of("focal_loss", claims, "loss_concentration", untrained) == "invalid"
    assert verdict_of("focal_loss", claims, "loss_concentration_positives_minor", untrained) == "invalid"
    no_concentration = {**trained, "neg_frac_half_loss_gamma2_over_gamma0": [1.0] * 12}
    assert verdict_of("focal_loss", claims, "loss_concentration", no_concentration) == "not_reproduced"
