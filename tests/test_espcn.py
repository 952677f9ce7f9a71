import torch

from implementations.espcn import espcn, lr_feature_extractor
from implementations.srcnn import srcnn
from pipelines.shared.superres import conv_macs
from pipelines.shared.structural import count_macs, count_params, on_meta


def test_output_shape_and_pixel_shuffle_is_the_last_layer():
    net = espcn(scale=3)
    assert net(torch.zeros(2, 1, 17, 17)).shape == (2, 1, 51, 51)
    assert isinstance(net[-1], torch.nn.PixelShuffle) and net[-2].out_channels == 9
    assert [type(m) for m in net if not isinstance(m, torch.nn.Conv2d)][:2] == [torch.nn.Tanh, torch.nn.Tanh]


def test_parameter_counts_and_the_2_5x_ratio_at_r3():
    assert count_params(on_meta(lambda: espcn(scale=3))) == 1664 + 18464 + 2601
    ratio = count_params(on_meta(lambda: srcnn(f2=5))) / count_params(on_meta(lambda: espcn(scale=3)))
    assert abs(ratio - 2.52) < 0.01


def test_conv_macs_matches_torch_flop_counter_and_r2_cost():
    net = on_meta(lambda: espcn(scale=3))
    assert conv_macs(net, (1, 20, 30)) == count_macs(net, (1, 20, 30)) == 20 * 30 * (1600 + 18432 + 2592)
    up = on_meta(lambda: torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1))
    assert conv_macs(up, (4, 5, 5)) == 5 * 5 * 4 * 6 * 9
    stack = on_meta(lambda: lr_feature_extractor(espcn(scale=3)))
    assert conv_macs(stack, (1, 60, 90)) == 9 * conv_macs(stack, (1, 20, 30))


def test_pixel_shuffle_periodic_layout():
    """Eq. 4: channel c*r^2 + i*r + j of LR pixel (y, x) goes to HR pixel (r*y + i, r*x + j)."""
    r = 2
    t = torch.arange(4 * 3 * 3.0).reshape(1, 4, 3, 3)
    hr = torch.nn.PixelShuffle(r)(t)
    for i in range(r):
        for j in range(r):
            assert torch.equal(hr[0, 0, i::r, j::r], t[0, i * r + j])


def test_extra_test_sets_are_scored_by_the_same_trained_network(tmp_path, monkeypatch):
    """Full profile: Set14 is scored beside Set5 by the network trained once (here a folder of two PNGs)."""
    import numpy as np
    from PIL import Image

    from pipelines import espcn as stage
    from pipelines.shared.common import paper_config

    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (48, 60, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    cfg = paper_config("espcn", "smoke") | {"device": "cpu", "extra_test_images": {"set14": str(tmp_path)},
                                             "test_crop": None}
    monkeypatch.setattr(stage, "_CFG", cfg)
    res = stage._seed_run(0)
    assert len(res["net"]) == 1 and len(res["net_set14"]) == 2 and all(np.isfinite(res["net_set14"]))
