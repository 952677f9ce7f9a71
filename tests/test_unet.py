import numpy as np
import torch

from implementations.unet import output_size, unet, weight_map, weighted_cross_entropy
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.data import touching_discs


def test_paper_network_23_convs_572_to_388():
    m = on_meta(lambda: unet())
    assert sum(isinstance(x, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for x in m.modules()) == 23
    assert m(torch.zeros(1, 1, 572, 572, device="meta")).shape == (1, 2, 388, 388)
    assert output_size(572) == 388
    assert count_params(m) == 31_030_658


def test_padded_variant_keeps_size_and_noskip_runs():
    for skips in (True, False):
        assert unet(base=4, depth=2, padding=1, skips=skips)(torch.zeros(2, 1, 16, 16)).shape == (2, 2, 16, 16)


def test_weight_map_eq2():
    inst = np.zeros((20, 40), int)
    inst[:, :15], inst[:, 16:] = 1, 2  # 1-px gap: d1 = d2 = 1
    w = weight_map(inst, w0=10, sigma=5)
    assert abs(w[5, 15] - (1 + 10 * np.exp(-4 / 50))) < 1e-9
    assert (w[inst > 0] == 1).all()  # objects keep w_c
    assert (weight_map(np.where(inst == 2, 0, inst)) == 1).all()  # one object: no border term


def test_weighted_cross_entropy_is_weighted_mean():
    logits, target = torch.randn(1, 2, 3, 3), torch.randint(0, 2, (1, 3, 3))
    w = torch.rand(1, 3, 3)
    ce = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    assert torch.allclose(weighted_cross_entropy(logits, target, w), (ce * w).mean())


def test_touching_discs_have_background_borders():
    X, inst, y, border = touching_discs(4, 32, discs=6, radius=(4, 7), noise=0.0, seed=0)
    assert X.shape == (4, 1, 32, 32) and border.any()
    assert (y[border] == 0).all()


def test_rand_error_and_seg_measure():
    from pipelines.unet import rand_error, seg_measure

    cells = np.zeros((8, 8), int)
    cells[:, :3], cells[:, 4:] = 1, 2  # two cells split by a membrane column
    assert rand_error(cells, cells) == 0.0
    merged = np.where(cells > 0, 1, 0)
    # merge: sum p^2 = 24^2 + 32^2, truth sum s^2 = same, prediction 56^2 -> F = 2 * 1 * m / (1 + m)
    m = (24 ** 2 + 32 ** 2) / 56 ** 2
    assert abs(rand_error(cells, merged) - (1 - 2 * m / (1 + m))) < 1e-12
    assert seg_measure(cells, cells > 0) == 1.0
    half = cells > 0
    half[:, 4:6] = False  # cell 2 keeps 16 of its 32 pixels: not more than half, so it scores 0
    assert seg_measure(cells, half) == 0.5


def test_isbi_and_cell_tracking_loaders_and_training_on_tiny_files(tmp_path):
    import pytest
    import tifffile

    from pipelines.shared.data import DataUnavailable
    from pipelines.unet import cell_tracking_run, isbi_run

    cfg = dict(isbi_dir=str(tmp_path / "isbi"), phc_u373_dir=str(tmp_path / "phc"), dic_hela_dir=str(tmp_path / "dic"),
               isbi_train_slices=3, real_base=2, real_depth=2, real_lr=1e-3, real_crop=16, real_steps=1,
               real_batch_size=2, w0=10, sigma=5)
    with pytest.raises(DataUnavailable, match="train-volume.tif"):
        isbi_run(cfg, 0, "cpu")
    rng = np.random.default_rng(0)
    (tmp_path / "isbi").mkdir()
    labels = np.full((4, 32, 32), 255, np.uint8)
    labels[:, :, 15] = 0  # a membrane between two cells
    volume = rng.integers(0, 256, (4, 32, 32), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "isbi/train-volume.tif", volume, photometric="minisblack")
    tifffile.imwrite(tmp_path / "isbi/train-labels.tif", labels, photometric="minisblack")
    out = isbi_run(cfg, 0, "cpu")
    assert 0 <= out["pixel_error"] <= 1 and 0 <= out["rand_error"] <= 1 and 0 <= out["warping_error"] <= 1
    with pytest.raises(DataUnavailable, match="PhC-C2DH-U373"):
        cell_tracking_run(cfg, 0, "cpu", "phc_u373")
    with pytest.raises(DataUnavailable, match="DIC-C2DH-HeLa.*dic_hela_dir"):
        cell_tracking_run(cfg, 0, "cpu", "dic_hela")
    for seq in ("01", "02"):
        (tmp_path / f"phc/{seq}_GT/SEG").mkdir(parents=True)
        (tmp_path / f"phc/{seq}").mkdir()
        for t in ("003", "010"):
            inst = np.zeros((22, 30), np.uint16)
            inst[3:9, 3:9], inst[10:18, 12:25] = 1, 2
            tifffile.imwrite(tmp_path / f"phc/{seq}/t{t}.tif", rng.integers(0, 2 ** 16, (22, 30), dtype=np.uint16))
            tifffile.imwrite(tmp_path / f"phc/{seq}_GT/SEG/man_seg{t}.tif", inst)
    assert 0 <= cell_tracking_run(cfg, 0, "cpu", "phc_u373") <= 1  # 22 x 30: prediction pads to a multiple of 4


def test_simple_points_match_the_topological_definition():
    from pipelines.unet import simple_point_table

    t = simple_point_table()
    code = lambda rows: sum(1 << i for i, v in enumerate(np.array(rows).flatten()) if v)  # noqa: E731
    assert t[code([[1, 1, 1], [1, 1, 1], [0, 0, 0]])]  # the end of a half-plane: flipping keeps one object
    assert not t[code([[0, 0, 0], [0, 1, 0], [0, 0, 0]])]  # an isolated pixel: deleting it removes an object
    assert not t[code([[1, 1, 1], [1, 0, 1], [1, 1, 1]])]  # filling the one-pixel hole changes the topology
    assert not t[code([[0, 1, 0], [0, 1, 0], [0, 1, 0]])]  # a one-pixel-wide bridge: removing it splits
    assert not t[code([[1, 0, 0], [0, 1, 0], [0, 0, 1]])]  # diagonal only: 4-connected cells are three


def test_warping_error_counts_topology_not_boundary_shifts():
    """Jain et al.'s warping error: a shifted boundary warps away (0), a split or a merger does not."""
    from pipelines.unet import warping_error

    truth = np.zeros((20, 30), bool)
    truth[3:17, 3:13], truth[3:17, 16:27] = True, True  # two cells, a 3-px membrane between them
    assert warping_error(truth, truth.astype(float)) == 0.0
    shifted = np.zeros_like(truth)
    shifted[4:17, 3:14], shifted[4:17, 17:27] = True, True  # boundaries moved by a pixel: no topological error
    assert (shifted != truth).mean() > 0.05 and warping_error(truth, shifted.astype(float)) == 0.0
    split = truth.copy()
    split[10, 3:13] = False  # a membrane across the first cell: one cell becomes two
    assert 0 < warping_error(truth, split.astype(float)) <= 10 / truth.size
    merged = truth.copy()
    merged[8:12, 13:16] = True  # a bridge through the membrane: two cells become one
    assert 0 < warping_error(truth, merged.astype(float)) <= 12 / truth.size
    soft = np.where(split, 0.9, 0.1)  # probabilities binarised at 0.5 give the same answer
    assert warping_error(truth, soft) == warping_error(truth, split.astype(float))


def _verdicts(metrics: dict) -> dict:
    from pathlib import Path

    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    cf = load_claim_file(Path(__file__).resolve().parents[1] / "claims" / "unet.yaml")
    measured = {"paper": "unet", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if "cpu" in c.profiles and c.kind == "empirical"}


def test_identical_arms_or_untrained_arms_cannot_pass_the_unet_claims():
    """Skips or weights that do nothing (the arms equal up to seed noise) do not reproduce; an arm that collapsed
    to all-background makes the claim invalid."""
    noise = [0.01, -0.02, 0.015, -0.01, 0.005, -0.012]
    trained = {"iou_noskip": [0.8] * 6, "iou_skip": [0.9] * 6, "iou_skip_weightmap": [0.8] * 6}
    works = {**trained, "iou_skip_minus_noskip": [0.1 + e for e in noise],
             "border_recall_weightmap_minus_plain": [0.55 + e for e in noise]}
    assert set(_verdicts(works).values()) == {"reproduced"}
    no_op = {**trained, "iou_skip_minus_noskip": noise, "border_recall_weightmap_minus_plain": noise}
    assert "reproduced" not in set(_verdicts(no_op).values())
    collapsed = {**works, "iou_noskip": [0.0, 0.8, 0.8, 0.8, 0.8, 0.8]}
    assert _verdicts(collapsed)["skip_localization"] == "invalid"
