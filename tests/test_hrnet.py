import torch
from fake_data import dot_people, fake_coco  # tests/ is on sys.path (pytest, rootdir without __init__)

from implementations.hrnet import hrnet
from pipelines.hrnet import pck, stick_figures
from pipelines.shared.structural import count_params, on_meta


def test_pose_param_counts():
    assert round(count_params(on_meta(lambda: hrnet(width=32))) / 1e6, 1) == 28.5
    assert round(count_params(on_meta(lambda: hrnet(width=48))) / 1e6, 1) == 63.6


def test_heatmaps_at_quarter_resolution_and_branch_widths():
    m = on_meta(lambda: hrnet(width=32))
    assert m(torch.zeros(1, 3, 256, 192, device="meta")).shape == (1, 17, 64, 48)
    last = m.stages[-1][0]
    assert [b[0].conv1.in_channels for b in last.branches] == [32, 64, 128, 256]
    assert [len(s) for s in m.stages] == [1, 4, 3]
    assert last.fuse is not None and len(m.stages[-1][-1].fuse.paths) == 1  # last unit: high-res output only


def test_fusion_modes_remove_only_fusion():
    """'all': every exchange unit fuses; 'last': only the network's final unit (ablation (a)); 'none': no unit."""
    from implementations.hrnet import Fuse

    kw = dict(width=8, modules_per_stage=(1, 2), blocks=1, stem_width=8, stage1_blocks=1, num_joints=3, in_channels=1)
    nets = {f: hrnet(fusion=f, **kw) for f in ("all", "last", "none")}
    assert [sum(isinstance(m, Fuse) for m in nets[f].modules()) for f in ("all", "last", "none")] == [3, 1, 0]
    assert nets["last"].stages[-1][-1].fuse is not None and nets["last"].stages[0][0].fuse is None
    assert count_params(nets["none"]) < count_params(nets["last"]) < count_params(nets["all"])
    assert all(n(torch.zeros(2, 1, 32, 32)).shape == (2, 3, 8, 8) for n in nets.values())
    assert count_params(hrnet(fusion=True, **kw)) == count_params(nets["all"])


def test_pck_is_one_on_the_target_heatmaps():
    X, H, C = stick_figures(4, 32, 5, seed=0)
    assert pck(H, C, threshold=4) == 1.0
    assert pck(H.roll(2, dims=-1), C, threshold=4) == 0.0  # peaks two cells (8 px) off


def test_high_resolution_branch_alone_sees_the_whole_32px_image():
    """Why intermediate fusion has little to add at 32x32: the high-resolution branch of the mini-HRNet (no exchange
    at all) already has a receptive field wider than the image; fusing the low-resolution branches widens it."""
    def receptive_field(fusion):
        torch.manual_seed(0)
        m = hrnet(width=16, num_joints=5, modules_per_stage=(1, 1), blocks=1, stem_width=16, stage1_blocks=1,
                  fusion=fusion, in_channels=1).eval()
        x = torch.rand(1, 1, 160, 160, requires_grad=True)
        m(x)[0, :, 20, 20].sum().backward()
        rows = (x.grad[0, 0].abs() > 0).any(1).nonzero()
        return int(rows.max() - rows.min() + 1)

    assert 32 < receptive_field("none") < receptive_field("last")


def test_macs_scale_with_the_pixels_so_the_resolution_ratio_is_no_claim():
    """16.0 / 7.1 GFLOPs (384x288 over 256x192): a fully convolutional net's cost is proportional to its pixels, so
    any such net gives 2.25 (the paper's rounded numbers give 2.254): a unit test, not a claim."""
    from pipelines.shared.structural import count_macs

    m = on_meta(lambda: hrnet(width=32))
    ratio = count_macs(m, (3, 384, 288)) / count_macs(m, (3, 256, 192))
    assert abs(ratio - 384 * 288 / (256 * 192)) < 1e-9 and abs(16.0 / 7.1 - ratio) / ratio < 0.01


def _verdict(metrics: dict) -> str:
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    cf = load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "hrnet.yaml")
    claim = next(c for c in cf.claims if c.id == "repeated_fusion_helps")
    return check_claim(claim, {"paper": "hrnet", "profile": "cpu", "metrics": metrics}).verdict


def test_fusion_claim_needs_trained_arms_and_a_real_gain():
    noise = [0.01, -0.015, 0.005, 0.012, -0.008]
    trained = {"pck_fusion_all": [0.65] * 5, "pck_fusion_last": [0.64] * 5}
    assert _verdict({**trained, "pck_fusion_all_minus_last": [0.03 + e for e in noise]}) == "reproduced"
    assert _verdict({**trained, "pck_fusion_all_minus_last": noise}) != "reproduced"  # identical arms
    untrained = {"pck_fusion_all": [0.2] * 5, "pck_fusion_last": [0.64] * 5}  # the first design's fused net
    assert _verdict({**untrained, "pck_fusion_all_minus_last": [0.03 + e for e in noise]}) == "invalid"


def test_simple_baseline_has_table1_parameter_count():
    from implementations.hrnet import simple_baseline

    m = on_meta(simple_baseline)
    assert count_params(m) == 33_999_697  # Table 1: 34.0M
    assert m(torch.zeros(1, 3, 256, 192, device="meta")).shape == (1, 17, 64, 48)


# ------------------------------------------------------------------------------- full profile: COCO keypoints
def coco_cfg(**over) -> dict:
    from pipelines.shared.common import paper_config

    cfg = paper_config("hrnet", "full")
    cfg.update(coco_input_hw=[128, 96], coco_batch_size=2, coco_workers=0, coco_simplebaseline_imagenet=False,
               coco_models={"w32": {"epochs": 1, "lr_steps": [1]}, "simplebaseline_r50": {"epochs": 1, "lr_steps": [1]}})
    cfg.update(over)
    return cfg


def test_heatmaps_decode_back_to_the_keypoints_and_score_ap_one(tmp_path):
    """Targets rendered in the evaluation crop, decoded and mapped back to the image, are COCO's keypoints again:
    the crop geometry, the heatmap convention and the scoring agree (a perfect heatmap model gets AP 1)."""
    import numpy as np

    from pipelines.hrnet import (apply_transform, coco_keypoint_ap, coco_split, crop_transform, decode_heatmaps,
                                 heatmap_targets, person_instances)

    fake_coco(tmp_path)
    cfg = coco_cfg(coco_input_hw=[256, 192])
    coco, images = coco_split(tmp_path, "val")
    people = person_instances(coco, images, cfg)
    results = []
    for p in people:
        m = crop_transform(p["center"], p["size"], 0.0, (256, 192))
        heat, weight = heatmap_targets(apply_transform(m, p["keypoints"][:, :2]), p["keypoints"][:, 2], (256, 192), 2)
        coords, score = decode_heatmaps(heat[None])
        xy = apply_transform(np.linalg.inv(m), coords[0].numpy()) - 0.5
        labelled = p["keypoints"][:, 2] > 0
        assert np.abs(xy[labelled] - (p["keypoints"][labelled, :2] - 0.5)).max() < 1.0  # the quarter offset's grain
        results.append({"image_id": p["image_id"], "category_id": 1, "score": 1.0,
                        "keypoints": np.concatenate([xy, score[0].numpy()[:, None]], 1).ravel().tolist()})
    assert len(people) == 6
    assert coco_keypoint_ap(coco, results) > 0.99
    shuffled = [{**r, "image_id": 1 + r["image_id"] % 3} for r in results]  # poses on the wrong images
    assert coco_keypoint_ap(coco, shuffled) < 0.1


def test_mirrored_crop_heatmaps_are_the_mirrored_heatmaps_with_sides_swapped():
    """Why flip testing needs no one-pixel shift here: mirroring the crop maps heatmap cell j onto w - 1 - j."""
    import numpy as np

    from pipelines.hrnet import FLIP_ORDER, apply_transform, crop_transform, heatmap_targets

    rng = np.random.default_rng(0)
    joints, visible = rng.uniform(20, 80, (17, 2)), np.ones(17)
    center, size = np.array([50.0, 50.0]), np.array([72.0, 96.0])
    plain = crop_transform(center, size, 10.0, (64, 48))
    mirrored = crop_transform(center, size, 10.0, (64, 48), flip=True)
    a, _ = heatmap_targets(apply_transform(plain, joints), visible, (64, 48), 2)
    b, _ = heatmap_targets(apply_transform(mirrored, joints)[FLIP_ORDER], visible[FLIP_ORDER], (64, 48), 2)
    assert torch.allclose(b.flip(-1)[FLIP_ORDER], a, atol=1e-6)


def test_training_crops_have_targets_where_the_joints_are(tmp_path):
    from pipelines.hrnet import CocoPeople, coco_split, person_instances

    fake_coco(tmp_path)
    cfg = coco_cfg()
    coco, images = coco_split(tmp_path, "train")
    data = CocoPeople(person_instances(coco, images, cfg), cfg, train=True)
    torch.manual_seed(0)
    for i in range(len(data)):
        x, target, weight = data[i]
        assert x.shape == (3, 128, 96) and target.shape == (17, 32, 24) and weight.shape == (17,)
        assert (target.amax((1, 2))[weight > 0] > 0.3).all() and (target[weight == 0] == 0).all()


def test_full_profile_trains_and_scores_on_a_coco_folder(tmp_path):
    """The COCO branch end to end on a fake folder: HRNet-W32 and SimpleBaseline-R50 (1 epoch each), ground-truth
    boxes, then detected boxes with OKS-NMS; APs in [0, 1], the difference metric and the figure written."""
    import json

    from pipelines.hrnet import measure_coco
    from pipelines.shared.run import Run

    fake_coco(tmp_path / "coco", images=2)
    metrics, setting = measure_coco(coco_cfg(coco_dir=str(tmp_path / "coco")), Run(key="hrnet", profile="full", figures=tmp_path, device="cpu"))
    assert set(metrics) == {"coco_val_ap_w32_128x96", "coco_val_ap_simplebaseline_r50_128x96",
                            "coco_val_ap_w32_minus_simplebaseline_r50"}
    assert all(0 <= v <= 1 for v in metrics["coco_val_ap_w32_128x96"] + metrics["coco_val_ap_simplebaseline_r50_128x96"])
    assert "ground-truth person boxes" in setting["coco"] and (tmp_path / "coco_keypoints.png").is_file()
    dets = tmp_path / "coco/person_detection_results"
    dets.mkdir()
    (dets / "COCO_val2017_detections_AP_H_56_person.json").write_text(json.dumps(
        [{"image_id": 1, "category_id": 1, "bbox": [10, 5, 40, 60], "score": 0.9},
         {"image_id": 1, "category_id": 1, "bbox": [11, 5, 40, 60], "score": 0.8},  # a duplicate for OKS-NMS
         {"image_id": 2, "category_id": 1, "bbox": [60, 20, 40, 60], "score": 0.7}]))
    metrics, setting = measure_coco(coco_cfg(coco_dir=str(tmp_path / "coco"), coco_models={
        "w32": {"epochs": 1, "lr_steps": [1]}}), Run(key="hrnet", profile="full", figures=tmp_path, device="cpu"))
    assert list(metrics) == ["coco_val_ap_w32_128x96"] and "detections (human AP 56.4)" in setting["coco"]


def test_oks_nms_drops_a_duplicate_pose_and_keeps_a_distinct_one():
    import numpy as np

    from pipelines.hrnet import oks_nms

    pose = np.c_[np.linspace(10, 50, 17), np.linspace(5, 60, 17), np.ones(17)]
    make = lambda kp, s: {"image_id": 1, "keypoints": kp.ravel().tolist(), "score": s, "area": 2400.0}  # noqa: E731
    kept = oks_nms([make(pose, 0.9), make(pose + [0.5, 0, 0], 0.8), make(pose + [40, 0, 0], 0.7)], 0.9)
    assert [r["score"] for r in kept] == [0.9, 0.7]


def test_full_profile_without_coco_says_where_to_put_it(tmp_path):
    import pytest

    from pipelines.shared.data import DataUnavailable
    from pipelines.hrnet import measure_coco
    from pipelines.shared.run import Run

    with pytest.raises(DataUnavailable, match="COCO_DIR"):
        measure_coco(coco_cfg(coco_dir=str(tmp_path / "nowhere")), Run(key="hrnet", profile="full", figures=tmp_path, device="cpu"))


def test_augmented_crops_keep_the_target_on_the_joint(tmp_path):
    """Scale, rotation and flip move the image and the joints together: a white dot drawn at the one labelled
    keypoint lands under that keypoint's heatmap peak in every augmented crop (after a flip, the joint is renamed)."""
    import numpy as np
    from PIL import Image

    from pipelines.hrnet import CocoPeople

    img = np.zeros((90, 120, 3), np.uint8)
    img[38:41, 48:51] = 255  # pixel (49, 39) and its neighbours
    Image.fromarray(img).save(tmp_path / "dot.png")
    kp = np.zeros((17, 3))
    kp[5] = [49.5, 39.5, 2]  # left shoulder, at the dot's centre (pixel-centre coordinates)
    person = {"path": str(tmp_path / "dot.png"), "image_id": 1, "center": np.array([50.0, 45.0]),
              "size": np.array([45.0, 60.0]), "keypoints": kp, "score": 1.0}
    data = CocoPeople([person], coco_cfg(coco_rotation_prob=1.0), train=True)
    torch.manual_seed(0)
    flips = 0
    for _ in range(20):
        x, target, weight = data[0]
        (j,) = torch.nonzero(weight).flatten().tolist()
        flips += j == 6
        bright = x.sum(0)
        dot = torch.stack(torch.where(bright == bright.max())).float().mean(1) + 0.5  # (y, x) in crop pixels
        peak = torch.tensor(np.unravel_index(target[j].argmax().item(), target[j].shape), dtype=torch.float32)
        assert ((peak + 0.5) * 4 - dot).abs().max() <= 4, (j, dot, peak)
    assert 0 < flips < 20  # some crops were mirrored (joint 5 became the right shoulder, 6), some not


def test_coco_pipeline_learns_keypoints(tmp_path):
    """The whole COCO path (augmented crops, targets, loss, flip test, decoding, OKS AP) trains a small HRNet to
    find the dots: AP 0 untrained, about 0.88 after 80 steps (0.11 if flipped crops kept the joints' names)."""
    from pipelines.hrnet import measure_coco
    from pipelines.shared.run import Run

    dot_people(tmp_path / "coco", train=64, val=16)
    mini = {"modules_per_stage": [1, 1], "blocks": 1, "stem_width": 16, "stage1_blocks": 1}
    cfg = coco_cfg(coco_dir=str(tmp_path / "coco"), coco_batch_size=8, coco_lr=0.003,
                   coco_models={"w8": {"epochs": 10, "lr_steps": [10], "model": mini}})
    metrics, _ = measure_coco(cfg, Run(key="hrnet", profile="full", figures=tmp_path, device="cpu"))
    assert metrics["coco_val_ap_w8_128x96"][0] > 0.5
