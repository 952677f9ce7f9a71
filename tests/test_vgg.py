"""VGG: Table 1 configurations against torchvision's reference models (exact counts), C's 1x1 and A-LRN's LRN,
the 3x3-stack identities of Sec. 2.3, and the scaled-down models the cpu stage trains."""
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
