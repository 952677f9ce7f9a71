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
