import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

from implementations.focal_loss import (balanced_cross_entropy, dense_classifier, focal_loss, modulating_factor,
                                        prior_bias)
from pipelines.focal_loss import _initial_ce, _retinanet_anchors


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


def test_initial_ce_of_a_retinanet_sized_head():
    assert _retinanet_anchors() == (100 ** 2 + 50 ** 2 + 25 ** 2 + 13 ** 2 + 7 ** 2) * 9 == 120087
    per_pos, share = _initial_ce(0.5, anchors=1000, classes=2, positives=10)
    assert math.isclose(per_pos, 2000 * math.log(2) / 10, rel_tol=1e-12)  # every term is log 2 at p = 0.5
    assert math.isclose(share, 1990 / 2000, rel_tol=1e-12)
    per_pos, share = _initial_ce(0.01, anchors=1000, classes=2, positives=10)
    assert math.isclose(per_pos, (1990 * -math.log(0.99) + 10 * -math.log(0.01)) / 10, rel_tol=1e-9)


# ------------------------------------------------------------------------------- full profile: RetinaNet on COCO
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

    class GroundTruth(torch.nn.Module):  # "detects" the annotated boxes of the images in the loader's order
        def __init__(self):
            super().__init__()
            self.next = 0

        def forward(self, images):
            outs = []
            for _ in images:
                target = val[self.next % len(val)][1]
                self.next += 1
                outs.append({"boxes": target["boxes"], "labels": target["labels"], "scores": torch.ones(2)})
            return outs

    assert [len(val[i][1]["labels"]) for i in range(3)] == [2, 2, 2] and val.categories == [1, 3, 7]
    model = GroundTruth()
    cfg = {"coco_batch_size": 2, "coco_workers": 0}
    assert coco_box_ap(model, val, cfg, "cpu") > 0.99
    shifted = GroundTruth()
    shifted.next = 1  # every image gets the next image's boxes
    assert coco_box_ap(shifted, val, cfg, "cpu") < 0.5


def test_full_profile_trains_and_scores_retinanet_on_a_coco_folder(tmp_path):
    from fake_data import fake_coco_detection

    from pipelines.shared.common import paper_config
    from pipelines.focal_loss import measure_coco
    from pipelines.shared.run import Run

    fake_coco_detection(tmp_path / "coco", images=2)
    cfg = paper_config("focal_loss", "full") | {
        "coco_dir": str(tmp_path / "coco"), "coco_min_size": 64, "coco_max_size": 96, "coco_iterations": 2,
        "coco_lr_steps": [1], "coco_warmup": 1, "coco_batch_size": 2, "coco_workers": 0, "coco_imagenet_backbone": False}
    metrics, setting = measure_coco(cfg, Run(key="focal_loss", profile="full", figures=tmp_path, device="cpu"))
    assert set(metrics) == {"coco_ap_focal", "coco_ap_alpha_ce", "coco_ap_focal_minus_alpha_ce"}
    assert all(0 <= v <= 1 for v in metrics["coco_ap_focal"] + metrics["coco_ap_alpha_ce"])
    assert "2 images with boxes" in setting["coco"]


def test_full_profile_without_coco_says_where_to_put_it(tmp_path):
    import pytest

    from pipelines.shared.data import DataUnavailable
    from pipelines.focal_loss import measure_coco
    from pipelines.shared.run import Run

    with pytest.raises(DataUnavailable, match="COCO_DIR"):
        measure_coco({"coco_dir": str(tmp_path)}, None)
