import torch
import torchvision

from implementations.squeezenet import Bypass, fire_widths, squeezenet
from pipelines.shared.structural import count_macs, count_params, on_meta


def test_output_shape_at_the_papers_input_size():
    assert squeezenet()(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)


def test_matches_torchvision_squeezenet1_0_layer_by_layer():
    ours, ref = on_meta(lambda: squeezenet()), on_meta(lambda: torchvision.models.squeezenet1_0())
    assert [p.shape for p in ours.parameters()] == [p.shape for p in ref.parameters()]
    assert count_params(ours) == count_params(ref) == 1_248_424
    assert count_macs(ours, (3, 224, 224)) == count_macs(ref, (3, 224, 224)) == 818_924_576


def test_metaparameters_give_table_1():
    assert fire_widths() == [(16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
                             (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]


def test_bypasses():
    simple, complex_ = on_meta(lambda: squeezenet(bypass="simple")), on_meta(lambda: squeezenet(bypass="complex"))
    assert sum(isinstance(m, Bypass) for m in simple) == 4  # fire3, 5, 7, 9
    assert count_params(simple) == 1_248_424
    # 1x1 bypass convolutions around fire2 (96->128), fire4 (128->256), fire6 (256->384), fire8 (384->512)
    assert count_params(complex_) - 1_248_424 == 96 * 128 + 128 * 256 + 256 * 384 + 384 * 512
    x = torch.randn(1, 3, 64, 64)
    assert squeezenet(bypass="simple", num_classes=7)(x).shape == (1, 7)
