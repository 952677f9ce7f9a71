import numpy as np
import torch

from implementations.unet import output_size, unet, weight_map, weighted_cross_entropy
from pipelines.structural import count_params, on_meta
from pipelines.data import touching_discs


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
