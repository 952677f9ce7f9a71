import torch

from implementations.perceptual_loss import (VGG16_RELU, feature_reconstruction_loss, gram, small_vgg,
                                             style_reconstruction_loss, transform_net, vgg16_loss_network)
from pipelines.perceptual_loss import gram_checks, shape_checks, speedup_macs
from pipelines.shared.structural import on_meta


def test_transformation_networks_shapes():
    m = shape_checks()
    assert m["style_net_output_side_for_256"] == 256 and m["style_net_stride2_convs"] == 2
    assert m["style_net_fractional_convs"] == 2
    assert m["sr_x4_output_side_for_72"] == 288 and m["sr_x4_fractional_convs"] == 2
    assert m["sr_x8_output_side_for_36"] == 288 and m["sr_x8_fractional_convs"] == 3
    out = transform_net(task="sr", scale=4, channels=1, width=8, num_residual=1)(torch.rand(2, 1, 10, 10))
    assert out.shape == (2, 1, 40, 40) and 0 <= out.min() and out.max() <= 1


def test_vgg_layer_indices_end_at_the_named_relu():
    vgg = on_meta(lambda: vgg16_loss_network(layer="relu4_3"))
    assert isinstance(vgg[-1], torch.nn.ReLU) and len(vgg) == VGG16_RELU["relu4_3"]
    assert vgg[VGG16_RELU["relu2_2"] - 2].out_channels == 128  # conv2_2 precedes relu2_2


def test_gram_and_losses():
    m = gram_checks()
    assert m["gram_asymmetry_max"] < 1e-12 and m["gram_min_eigenvalue"] > -1e-12
    assert m["gram_permutation_change_max"] < 1e-12 and m["style_loss_64_vs_96_is_finite"] == 1.0
    phi = torch.ones(1, 2, 3, 3)
    assert torch.allclose(gram(phi), torch.full((1, 2, 2), 9 / 18))
    assert style_reconstruction_loss(phi, phi) == 0
    assert feature_reconstruction_loss(phi, phi + 1) == 1.0  # Eq. 2 normalises by C H W


def test_speedup_count_and_small_loss_network():
    assert speedup_macs(64, 500) > 1000
    assert small_vgg()(torch.rand(2, 1, 32, 32)).shape == (2, 10)
