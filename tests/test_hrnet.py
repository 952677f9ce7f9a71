import torch

from implementations.hrnet import hrnet
from pipelines.hrnet import pck, stick_figures
from pipelines.structural import count_params, on_meta


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


def test_fusion_off_removes_only_fusion():
    kw = dict(width=8, modules_per_stage=(1, 1), blocks=1, stem_width=8, stage1_blocks=1, num_joints=3, in_channels=1)
    a, b = hrnet(**kw), hrnet(fusion=False, **kw)
    assert count_params(b) < count_params(a)
    assert a(torch.zeros(2, 1, 32, 32)).shape == b(torch.zeros(2, 1, 32, 32)).shape == (2, 3, 8, 8)


def test_pck_is_one_on_the_target_heatmaps():
    X, H, C = stick_figures(4, 32, 5, seed=0)
    assert pck(H, C, threshold=4) == 1.0


def test_full_profile_says_what_coco_needs():
    import pytest

    from pipelines.data import DataUnavailable
    from pipelines.hrnet import measure

    class Run:
        profile = "full"

    with pytest.raises(DataUnavailable, match="pycocotools"):
        measure({}, Run())
