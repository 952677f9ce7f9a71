"""GoogLeNet: the Table 1 network (true 5x5 branch), its depth, parameters and multiply-adds, against torchvision."""
from functools import partial
from types import SimpleNamespace

import pytest
import torch
import torchvision

from implementations.googlenet import Inception, depth, googlenet
import pipelines.googlenet as stage
from pipelines.googlenet import measure
from pipelines.shared.torchvision_meta import evaluate_classification
from pipelines.shared.structural import count_macs, count_params, on_meta
from fake_data import image_folder  # tests/ is on sys.path (pytest, rootdir without __init__)


def test_output_shapes_with_and_without_aux_heads():
    x = torch.zeros(2, 3, 224, 224, device="meta")
    m = on_meta(googlenet)
    assert m(x).shape == (2, 1000)
    aux = on_meta(lambda: googlenet(aux_logits=True)).train()
    assert [o.shape for o in aux(x)] == [(2, 1000)] * 3
    assert aux.eval()(x).shape == (2, 1000)  # Sec. 5: auxiliary networks are discarded at inference


def test_depth_22_and_27():
    m = on_meta(googlenet)
    assert depth(m) == 22 and depth(m, count_pooling=True) == 27


def test_params_and_macs_exact():
    m = on_meta(googlenet)
    assert count_params(m) == 6_998_552
    assert count_macs(m, (3, 224, 224)) == 1_582_671_872
    assert count_params(on_meta(lambda: googlenet(aux_logits=True))) == 13_378_280


def test_differs_from_torchvision_only_by_the_5x5_branch_and_bn():
    tv = on_meta(lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False))
    assert count_params(tv) == 6_624_904  # torchvision's documented count
    ours = on_meta(googlenet)
    ours_5x5 = [b.branches[2][1][0] for b in ours.modules() if isinstance(b, Inception)]
    tv_5x5 = [b.branch3[1].conv for b in tv.modules() if type(b).__name__ == "Inception"]
    assert [c.kernel_size for c in ours_5x5] == [(5, 5)] * 9 and [c.kernel_size for c in tv_5x5] == [(3, 3)] * 9
    # same channel plan: the 3x3 vs 5x5 kernels, conv biases vs BN account for the whole difference
    kernel_gap = sum(c.in_channels * c.out_channels * (25 - 9) for c in ours_5x5)
    bias_vs_bn = sum(c.out_channels for c in ours.modules() if isinstance(c, torch.nn.Conv2d)) \
        - sum(2 * b.num_features for b in tv.modules() if isinstance(b, torch.nn.BatchNorm2d))
    assert count_params(ours) - count_params(tv) == kernel_gap + bias_vs_bn


def test_inception_3a_output_channels():
    block = Inception(192, 64, 96, 128, 16, 32, 32)
    assert block(torch.zeros(1, 192, 28, 28)).shape == (1, 256, 28, 28)


def test_fc_head_ablation_changes_only_the_head():
    x = torch.zeros(2, 3, 224, 224, device="meta")
    fc = on_meta(lambda: googlenet(head="fc"))
    assert fc(x).shape == (2, 1000)
    assert [type(m) for m in fc.head] == [torch.nn.Flatten, torch.nn.Linear, torch.nn.ReLU, torch.nn.Dropout, torch.nn.Linear]
    assert fc.head[1].in_features == 1024 * 7 * 7 and fc.head[1].out_features == 1024  # the aux classifier's FC size
    assert count_params(fc) - count_params(fc.head) == count_params(on_meta(googlenet)) - 1025 * 1000


def test_depth_counts_as_table1_does():
    m = on_meta(googlenet)
    # Table 1's depth column: conv 7x7 1, conv 3x3 2 (with its 1x1 reduce), each Inception module 2, linear 1
    assert depth(m.stem) == 3 and depth(m.head) == 1
    assert [depth(b) for b in m.modules() if isinstance(b, Inception)] == [2] * 9
    assert depth(m.stem, count_pooling=True) == 5  # + two max-pools
    # a broken build (an extra layer in one branch) is seen: the count is of the built model
    broken = on_meta(googlenet)
    branch = broken.inception3[0].branches[1]
    broken.inception3[0].branches[1] = torch.nn.Sequential(*branch, torch.nn.Conv2d(128, 128, 1))
    assert depth(broken) == 23
    # the auxiliary classifiers are side branches: they do not add depth
    assert depth(on_meta(lambda: googlenet(aux_logits=True))) == 22


def test_torchvision_evidence_is_the_metadata():
    m = stage.torchvision_evidence()
    assert m["torchvision_googlenet_top5_error"] == pytest.approx(1 - 0.8953)


def test_full_profile_avgpool_vs_fc_on_fake_imagenet(tmp_path, monkeypatch):
    image_folder(tmp_path, per_class=1)
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1000))
    monkeypatch.setattr(stage, "evaluate_classification", partial(evaluate_classification, net=net, workers=0))
    cfg = {"seeds_imagenet": [0], "imagenet": {"data_dir": str(tmp_path), "batch_size": 2, "workers": 0, "epochs": 1,
                                               "lr": 0.01, "lr_step_epochs": 1}}
    out = measure(cfg, SimpleNamespace(profile="full", device="cpu", show_progress=False))
    m = out["metrics"]
    assert out["seeds"] == [0] and len(m["imagenet_top1_acc_avgpool_minus_fc"]) == 1
    assert m["imagenet_top1_acc_avgpool_minus_fc"][0] == m["imagenet_top1_error_fc_head"][0] - m["imagenet_top1_error"][0]
    assert -100 <= m["torchvision_googlenet_reeval_acc5_minus_published"] <= 100 - 89.53
