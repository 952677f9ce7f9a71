import torch

from implementations.deeplab import ASPP, atrous_kernel_size, deeplab_vgg16, dense_crf
from pipelines.deeplab import impulse_support
from pipelines.shared.structural import count_params, on_meta


def test_atrous_field_of_view():
    for r in (1, 2, 4, 12, 24):
        assert impulse_support(3, r) == atrous_kernel_size(3, r) == 3 + 2 * (r - 1)


def test_table1_parameter_counts_and_stride8():
    counts = {kw: count_params(on_meta(lambda: deeplab_vgg16(**dict(kw))))
              for kw in [(("kernel", 7), ("rate", 4), ("width", 4096)), (("kernel", 4), ("rate", 4), ("width", 4096)), ()]}
    assert [round(c / 1e6, 1) for c in counts.values()] == [134.3, 65.1, 20.5]
    m = on_meta(lambda: deeplab_vgg16())
    x = torch.zeros(1, 3, 321, 321, device="meta")
    assert m.backbone(x).shape[-1] == 41 and m(x).shape == (1, 21, 321, 321)


def test_aspp_sums_branches_with_the_rates():
    aspp = ASPP(8, 3, rates=(6, 12, 18, 24), width=4)
    assert [b[0].dilation for b in aspp.branches] == [(6, 6), (12, 12), (18, 18), (24, 24)]
    x = torch.randn(1, 8, 30, 30)
    aspp.eval()
    assert torch.allclose(aspp(x), sum(b(x) for b in aspp.branches))


def test_dense_crf_zero_pairwise_is_softmax_and_smooths_noise():
    u = torch.randn(3, 6, 6)
    img = torch.zeros(3, 6, 6)
    q = dense_crf(u, img, w_appearance=0, theta_alpha=1, theta_beta=1, w_smooth=0)
    assert torch.allclose(q, u.softmax(0), atol=1e-6)
    # a flat image whose unaries say class 1 except one noisy pixel: the CRF flips that pixel
    u = torch.zeros(2, 8, 8)
    u[1] = 1.0
    u[:, 4, 4] = torch.tensor([1.0, 0.0])
    q = dense_crf(u, torch.zeros(3, 8, 8), w_appearance=3, theta_alpha=3, theta_beta=10, w_smooth=3)
    assert q.argmax(0).eq(1).all()


def fake_voc(root):
    """A tiny VOC 2012 folder in torchvision's layout: JPEGImages, palette-PNG SegmentationClass, split files."""
    import numpy as np
    from PIL import Image

    sizes = {"a": (40, 52), "b": (30, 36), "c": (44, 40)}  # train: a, b (b smaller than the crop); val: c
    voc = root / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / d).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (h, w) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{name}.jpg")
        label = np.zeros((h, w), np.uint8)
        label[5:20, 5:20], label[20, :] = 15, 255  # a "person" square and a boundary row to ignore
        png = Image.fromarray(label, mode="P")
        png.putpalette([0, 0, 0] * 256)
        png.save(voc / "SegmentationClass" / f"{name}.png")
    (voc / "ImageSets/Segmentation/train.txt").write_text("a\nb\n")
    (voc / "ImageSets/Segmentation/val.txt").write_text("c\n")


def test_voc_loading_crops_and_training_on_a_fake_folder(tmp_path):
    import pytest

    from pipelines.shared.data import DataUnavailable
    from pipelines.deeplab import train_voc, voc2012, voc_pair

    fake_voc(tmp_path)
    train, val = voc2012("train", root=tmp_path), voc2012("val", root=tmp_path)
    assert len(train) == 2 and len(val) == 1
    x, y = voc_pair(*train[1], 32, torch.Generator().manual_seed(0))  # 30x36 image: padded to the crop
    assert x.shape == (3, 32, 32) and y.shape == (32, 32) and set(y.unique().tolist()) <= {0, 15, 255}
    x, y = voc_pair(*val[0], None, None)
    assert x.shape == (3, 44, 40) and (y == 15).sum() == 15 * 15 and (y == 255).sum() == 40
    cfg = dict(voc_lr=1e-3, voc_steps=1, voc_batch_size=2, voc_crop=32)
    miou = train_voc("largefov", 0, cfg, train, val, "cpu", pretrained=False)
    assert 0.0 <= miou <= 1.0
    (tmp_path / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").unlink()
    with pytest.raises(DataUnavailable, match="VOC 2012"):
        voc2012("val", root=tmp_path)


def test_voc_mean_iou_ignores_boundaries():
    from pipelines.deeplab import confusion, miou_from_confusion

    truth = torch.tensor([0, 0, 1, 1, 255])
    pred = torch.tensor([0, 1, 1, 1, 0])
    conf = confusion(pred, truth, 21)
    assert conf.sum() == 4  # the 255 pixel is left out
    assert abs(miou_from_confusion(conf) - (1 / 2 + 2 / 3) / 2) < 1e-12


def test_receptive_field_walk_matches_known_networks():
    import torchvision

    from pipelines.deeplab import receptive_field

    assert receptive_field(torchvision.models.vgg16().features) == 212  # VGG-16's pool5 (a classic figure)
    assert receptive_field(torch.nn.Conv2d(1, 1, 3, dilation=12)) == 25  # one atrous 3x3 at rate 12
    m = on_meta(lambda: deeplab_vgg16())
    base = receptive_field(m.backbone)
    assert receptive_field(torch.nn.Sequential(m.backbone, m.head[0])) == base + 8 * 2 * 12  # fc6 at stride 8


def test_table1_structure_from_the_built_networks():
    from pipelines.deeplab import structural

    m = structural([1, 12], 65)
    assert m["fov_difference_error_max"] == 0 and m["receptive_field_largefov"] > 224
    assert m["atrous_param_ratio_largefov_r12_over_r1"] == 1 and m["atrous_mac_ratio_largefov_r12_over_r1"] == 1
    assert m["mac_ratio_7x7_r4_over_largefov"] > 3.36


def _verdicts(metrics: dict) -> dict:
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    cf = load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "deeplab.yaml")
    measured = {"paper": "deeplab", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if c.metric in metrics and "cpu" in c.profiles}


def test_crf_without_pairwise_terms_cannot_pass_and_the_unaries_are_gated():
    """ablate_pairwise: the CRF is then the unaries' soft-max (test above), so its gain is 0 up to nothing."""
    cnn = [0.65, 0.66, 0.64, 0.67, 0.65, 0.66]
    assert _verdicts({"miou_cnn": cnn, "miou_crf_minus_cnn": [0.0] * 6})["crf_gain"] == "not_reproduced"
    works = {"miou_cnn": cnn, "miou_crf_minus_cnn": [0.15, 0.17, 0.16, 0.14, 0.18, 0.16]}
    assert _verdicts(works)["crf_gain"] == "reproduced"
    assert _verdicts({**works, "miou_cnn": [0.99] * 6})["crf_gain"] == "invalid"  # nothing left to improve


def test_atrous_and_speed_claims_fail_for_wrong_networks():
    """A dense 25x25 kernel in place of the atrous 3x3, or LargeFOV with 4096 filters, cannot pass."""
    from pipelines.shared.structural import count_macs

    def model_macs(**kw):
        return count_macs(on_meta(lambda: deeplab_vgg16(**kw)), (3, 65, 65))

    dense = on_meta(lambda: deeplab_vgg16(kernel=25, rate=1))
    ratio = count_params(dense) / count_params(on_meta(lambda: deeplab_vgg16(rate=1)))
    wide = model_macs(kernel=7, rate=4, width=4096) / model_macs(width=4096)
    v = _verdicts({"atrous_param_ratio_largefov_r12_over_r1": ratio, "mac_ratio_7x7_r4_over_largefov": wide})
    assert v["atrous_no_extra_parameters"] == "not_reproduced" and v["largefov_3_36_times_faster"] == "not_reproduced"
