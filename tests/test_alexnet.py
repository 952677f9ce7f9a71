"""AlexNet: the two-GPU network's structure (exact, meta device), torchvision's variant, the Fig. 1 CNN, and the
full profile's ImageNet loading/training code on a tiny fake ImageFolder."""
import math
from functools import partial
from types import SimpleNamespace

import pytest
import torch
import torchvision
from fake_data import (
    image_folder,  # tests/ is on sys.path (pytest, rootdir without __init__)
)

import pipelines.alexnet as stage
from implementations.alexnet import (
    alexnet,
    four_layer_cnn,
    neurons_per_layer,
    response_norm,
)
from pipelines.alexnet import imagenet_ablations, iterations_to_train_error, measure
from pipelines.shared.data import DataUnavailable
from pipelines.shared.imagenet import imagenet_datasets, imagenet_top1_top5
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.torchvision_meta import evaluate_classification
from tests.claim_helpers import claims_of, spread, verdict_of  # noqa: E402

CLAIMS = claims_of("alexnet")


def verdict(claim_id: str, metrics: dict, profile: str = "cpu") -> str:
    return verdict_of("alexnet", CLAIMS, claim_id, metrics, profile)



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
    # the convergence criterion of the dropout claims: the whole training set's loss (eval mode)
    assert iterations_to_train_error(four_layer_cnn(), X, y, target=-1.0, max_iters=20, batch_size=16, lr=0.1,
                                     eval_every=5, seed=0, loss_target=100.0) == 5
    assert iterations_to_train_error(four_layer_cnn(), X, y, target=1.0, max_iters=10, batch_size=16, lr=0.1,
                                     eval_every=5, seed=0, loss_target=0.0) == 15


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
    per_seed = {f"imagenet_{k}{s}" for k in ("top1_error", "top5_error")
                for s in ("", "_reduction_by_lrn", "_reduction_by_overlapping_pool")}
    assert set(m) == per_seed | {"imagenet_ensemble_top1_error", "imagenet_ensemble_top5_error", "imagenet_ensemble_size"}
    assert all(len(m[k]) == 1 and -1 <= m[k][0] <= 1 for k in per_seed)
    # one net's "ensemble" is that net: the same errors as its own evaluation
    assert m["imagenet_ensemble_size"] == 1
    assert m["imagenet_ensemble_top1_error"] == pytest.approx(m["imagenet_top1_error"][0])


def test_ensemble_averages_probabilities():
    labels = torch.tensor([0, 1, 2])
    a = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.6, 0.0, 0.4]])  # wrong on the last image
    b = torch.tensor([[0.4, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # wrong on the first
    assert stage.topk_errors(a, labels)["top1_error"] == pytest.approx(1 / 3)
    assert stage.topk_errors(b, labels)["top1_error"] == pytest.approx(1 / 3)
    assert stage.topk_errors(a + b, labels)["top1_error"] == 0  # each is right where it is confident
    assert stage.topk_errors(a, labels)["top5_error"] == 0  # 3 classes: always in the top 5


def test_full_profile_reevaluates_torchvision_weights_offline(tmp_path, monkeypatch):
    """The re-evaluation runs evaluate_classification on the val folder; here with a random net (no download)."""
    image_folder(tmp_path, per_class=1)
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1000))
    monkeypatch.setattr(stage, "evaluate_classification", partial(evaluate_classification, net=net, workers=0))
    cfg = {"imagenet": {"data_dir": str(tmp_path), "batch_size": 2, "workers": 0}}
    m = stage.reevaluate_torchvision(cfg, SimpleNamespace(device="cpu"))
    assert set(m) == {"torchvision_alexnet_reeval_acc1_minus_published", "torchvision_alexnet_reeval_acc5_minus_published"}
    assert -100 <= m["torchvision_alexnet_reeval_acc1_minus_published"] <= 100 - 56.522


def test_torchvision_evidence_is_the_metadata():
    m = stage.torchvision_evidence()
    assert m["torchvision_alexnet_top1_error"] == pytest.approx(1 - 0.56522)
    assert m["torchvision_alexnet_top5_error"] == pytest.approx(1 - 0.79066)
    assert m["torchvision_alexnet_num_params"] == 61_100_840


def _fake_fig1(cfg, job):
    """Iterations that are fewest at lr 0.1 for ReLU and 0.3 for tanh, and only on calibration seeds (>= 500)."""
    act, lr, seed = job
    assert seed >= 500, "a measured seed was used to pick the learning rate"
    return 40 + int(1000 * abs(lr - {"relu": 0.1, "tanh": 0.3}[act]))


def test_learning_rates_are_picked_on_calibration_seeds_only(monkeypatch):
    """Fig. 1: each activation gets its fastest lr, judged on the calibration seeds it is given."""
    monkeypatch.setattr(stage, "fig1_iterations", _fake_fig1)
    assert stage.pick_learning_rates({"lr_grid": [0.03, 0.1, 0.3]}, [500, 501]) == {"relu": 0.1, "tanh": 0.3}


# ---------------------------------------------------------------- the claims cannot pass a broken factor
def test_relu_claim_needs_relu_faster_and_uncensored_counts():
    ok = {"iters_to_25pct_train_error_relu": [40] * 10, "iters_to_25pct_train_error_tanh": [200] * 10}
    assert verdict("relu_trains_faster_than_tanh", {**ok, "log_speedup_relu_over_tanh": spread(math.log(5))}) == "reproduced"
    # same activation in both arms (no effect) or tanh faster: not reproduced
    assert verdict("relu_trains_faster_than_tanh", {**ok, "log_speedup_relu_over_tanh": spread(0.0, sd=0.01)}) != "reproduced"
    assert verdict("relu_trains_faster_than_tanh", {**ok, "log_speedup_relu_over_tanh": spread(-0.8)}) == "not_reproduced"
    # a censored count (never reached 25% error) makes the ratio meaningless
    censored = {**ok, "iters_to_25pct_train_error_relu": [40] * 9 + [605]}
    assert verdict("relu_trains_faster_than_tanh", {**censored, "log_speedup_relu_over_tanh": spread(1.0)}) == "invalid"


def test_dropout_doubling_claim_rejects_no_dropout_and_censored_runs():
    ok = {"iters_to_fit_plain": [100] * 20, "iters_to_fit_dropout": [200] * 20}
    claim = "dropout_doubles_iterations_to_converge"
    assert verdict(claim, {**ok, "log_iters_to_fit_ratio_dropout_over_plain": spread(math.log(2), 20)}) == "reproduced"
    # dropout 0 in the "dropout" arm: identical arms, ratio 1
    assert verdict(claim, {**ok, "log_iters_to_fit_ratio_dropout_over_plain": spread(0.0, 20, 0.02)}) == "not_reproduced"
    assert verdict(claim, {**ok, "log_iters_to_fit_ratio_dropout_over_plain": spread(math.log(6), 20)}) == "not_reproduced"
    censored = {**ok, "iters_to_fit_dropout": [200] * 19 + [605]}
    assert verdict(claim, {**censored, "log_iters_to_fit_ratio_dropout_over_plain": spread(math.log(2), 20)}) == "invalid"


def test_overfitting_claim_rejects_identical_arms_and_untrained_nets():
    ok = {"iters_to_fit_plain": [100] * 20, "iters_to_fit_dropout": [200] * 20, "test_acc_plain": [0.93] * 20,
          "test_acc_dropout": [0.95] * 20}
    claim = "dropout_curbs_overfitting"
    assert verdict(claim, {**ok, "overfit_gap_plain_minus_dropout": spread(0.02, 20, 0.01)}) == "reproduced"
    assert verdict(claim, {**ok, "overfit_gap_plain_minus_dropout": spread(0.0, 20, 0.01)}) != "reproduced"
    chance = {**ok, "test_acc_dropout": [0.1] * 20}
    assert verdict(claim, {**chance, "overfit_gap_plain_minus_dropout": spread(0.02, 20, 0.01)}) == "invalid"


def test_caption_and_fc_neuron_claims_come_from_the_built_model():
    m = on_meta(alexnet)
    neurons = dict(zip(stage.LAYERS, neurons_per_layer(m)))
    assert (neurons["fc6"], neurons["fc7"], neurons["fc8"]) == (4096, 4096, 1000)
    # the caption's entries match the build except conv1, which accounts for the whole gap of the sum
    caption = [253_440, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    assert sum(caption) == 622_312
    assert sum(neurons.values()) - sum(caption) == neurons["conv1"] - caption[0] == 36_960
