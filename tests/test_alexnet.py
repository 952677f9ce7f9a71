"""AlexNet: the two-GPU network's structure (exact, meta device), torchvision's variant, the Fig. 1 CNN, and the
full profile's ImageNet loading/training code on a tiny fake ImageFolder."""
from functools import partial
from types import SimpleNamespace

import pytest
import torch
import torchvision
from fake_data import image_folder  # tests/ is on sys.path (pytest, rootdir without __init__)

from implementations.alexnet import alexnet, four_layer_cnn, neurons_per_layer, response_norm
from pipelines.alexnet import imagenet_ablations, iterations_to_train_error, measure
from pipelines.shared.imagenet import imagenet_datasets, imagenet_top1_top5
from pipelines.shared.data import DataUnavailable
from pipelines.shared.structural import count_params, on_meta


def test_two_gpu_alexnet_shapes_and_counts():
    m = on_meta(alexnet)
    assert m(torch.zeros(2, 3, 227, 227, device="meta")).shape == (2, 1000)
    assert count_params(m) == 60_965_224
    # grouped convs: conv2/4/5 see 48/192/192 input maps per kernel, conv3 all 256 (Sec. 3.5)
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    assert [c.weight.shape[1] for c in convs] == [3, 48, 256, 192, 192]
    assert neurons_per_layer(m) == [290_400, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]


def test_torchvision_variant_is_single_tower_61m():
    tv = on_meta(lambda: torchvision.models.alexnet(weights=None))
    assert count_params(tv) == 61_100_840  # torchvision's documented count
    assert [c.out_channels for c in tv.modules() if isinstance(c, torch.nn.Conv2d)] == [64, 192, 384, 256, 256]


def test_response_norm_follows_eq_sec_3_3():
    x = torch.randn(1, 7, 2, 2)
    sq = torch.nn.functional.pad(x.pow(2), (0, 0, 0, 0, 2, 2))  # neighbours i-2..i+2 along channels
    denom = (2.0 + 1e-4 * sum(sq[:, i:i + 7] for i in range(5))) ** 0.75
    torch.testing.assert_close(response_norm()(x), x / denom)


def test_fig1_cnn_and_iteration_counter():
    torch.manual_seed(0)
    X, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    for act in ("relu", "tanh"):
        assert four_layer_cnn(activation=act)(X).shape == (64, 10)
    # an easy target is met at the first check; an impossible one is censored at max_iters + eval_every
    assert iterations_to_train_error(four_layer_cnn(), X, y, target=1.0, max_iters=20, batch_size=16, lr=0.1,
                                     eval_every=5, seed=0) == 5
    assert iterations_to_train_error(four_layer_cnn(), X, y, target=-1.0, max_iters=10, batch_size=16, lr=0.1,
                                     eval_every=5, seed=0) == 15


def test_full_profile_imagenet_loading_and_training_offline(tmp_path):
    image_folder(tmp_path)
    train, val = imagenet_datasets(tmp_path, image_size=32)
    assert len(train) == len(val) == 4 and train.classes == ["a", "b"]
    x, y = train[0]
    assert x.shape == (3, 32, 32) and y == 0
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 6))
    cfg = {"data_dir": str(tmp_path), "batch_size": 2, "workers": 0, "epochs": 1, "lr": 0.01, "lr_step_epochs": 1}
    res = imagenet_top1_top5(model, cfg, SimpleNamespace(device="cpu", show_progress=False), image_size=32)
    assert 0 <= res["top1_error"] <= 1 and res["top5_error"] == 0.0  # 6 outputs, 2 classes: always in the top 5


def test_full_profile_without_data_says_what_to_do(monkeypatch):
    monkeypatch.delenv("IMAGENET_DIR", raising=False)
    with pytest.raises(DataUnavailable, match="IMAGENET_DIR"):
        measure({"imagenet": {"data_dir": None}, "seeds_imagenet": [0]},
                SimpleNamespace(profile="full", device="cpu", show_progress=False))


def test_ablations_keep_sizes_and_drop_only_their_part():
    base, no_lrn, z2 = (on_meta(partial(alexnet, **k)) for k in ({}, {"lrn": False}, {"overlapping_pool": False}))
    assert count_params(no_lrn) == count_params(z2) == count_params(base)
    assert not any(isinstance(m, torch.nn.LocalResponseNorm) for m in no_lrn.modules())
    pools = [m for m in z2.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(2, 2)] * 3
    # Sec. 3.4: z=2, s=2 "produces output of equivalent dimensions"
    assert neurons_per_layer(z2) == neurons_per_layer(base)


def test_full_profile_lrn_and_pooling_ablations_on_fake_imagenet(tmp_path):
    image_folder(tmp_path, per_class=1)
    cfg = {"seeds_imagenet": [0], "imagenet": {"data_dir": str(tmp_path), "batch_size": 2, "workers": 0, "epochs": 1,
                                               "lr": 0.01, "lr_step_epochs": 1}}
    m = imagenet_ablations(cfg, SimpleNamespace(device="cpu", show_progress=False))
    assert set(m) == {f"imagenet_{k}{s}" for k in ("top1_error", "top5_error")
                      for s in ("", "_reduction_by_lrn", "_reduction_by_overlapping_pool")}
    assert all(len(v) == 1 and -1 <= v[0] <= 1 for v in m.values())
