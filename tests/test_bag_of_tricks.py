import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet

from implementations import bag_of_tricks as bot
from pipelines.bag_of_tricks import optimised_logit_gap
from pipelines.shared.structural import count_macs, count_params, on_meta


def test_resnet_b_is_torchvision_resnet50():
    ours, ref = on_meta(lambda: bot.resnet50(variant="B")), on_meta(lambda: resnet.resnet50(weights=None))
    assert count_params(ours) == count_params(ref) == 25_557_032
    assert count_macs(ours, (3, 224, 224)) == count_macs(ref, (3, 224, 224))


def test_variant_structure_and_cost():
    a, c, d = (on_meta(lambda v=v: bot.resnet50(variant=v)) for v in "ACD")
    assert a.layer2[0].conv1.stride == (2, 2) and a.layer2[0].conv2.stride == (1, 1)  # Fig. 1: ResNet-A
    assert [m.out_channels for m in d.conv1 if isinstance(m, nn.Conv2d)] == [32, 32, 64]  # Fig. 2b
    assert [m.kernel_size for m in d.conv1 if isinstance(m, nn.Conv2d)] == [(3, 3)] * 3
    for stage in (d.layer2, d.layer3, d.layer4):  # Fig. 2c: avg-pool, then a stride-1 1x1 conv
        pool, conv, _ = stage[0].downsample
        assert isinstance(pool, nn.AvgPool2d) and conv.stride == (1, 1) and conv.kernel_size == (1, 1)
    assert count_params(d) - count_params(a) == 19_232  # deep stem: 864 + 9216 + 18432 + BN 64 + 64 - 7x7 conv 9408
    assert count_macs(a, (3, 224, 224)) == 3_857_973_248
    assert d(torch.zeros(1, 3, 224, 224, device="meta")).shape == (1, 1000)
    assert c(torch.zeros(1, 3, 224, 224, device="meta")).shape == (1, 1000)


def test_zero_gamma_blocks_are_identity():
    torch.manual_seed(0)
    model = bot.resnet50(variant="D", zero_gamma=True).eval()
    block = model.layer3[1]
    assert torch.all(block.bn3.weight == 0)
    x = torch.rand(2, 1024, 5, 5)
    with torch.no_grad():
        assert torch.equal(block(x), x)
    small = bot.small_resnet(zero_gamma=True).eval()
    x = torch.rand(3, 16, 8, 8)
    with torch.no_grad():
        assert torch.equal(small[3](x), x)


def test_label_smoothing_convention_and_gap():
    eps, k = 0.1, 10
    z = torch.randn(4, k)
    y = torch.tensor([0, 3, 5, 9])
    q = torch.full((4, k), eps / (k - 1)).scatter(1, y[:, None], 1 - eps)  # the paper's eq. 4 target
    manual = -(q * F.log_softmax(z, 1)).sum(1).mean()
    assert torch.allclose(F.cross_entropy(z, y, label_smoothing=bot.torch_label_smoothing(eps, k)), manual)
    assert math.isclose(bot.optimal_logit_gap(0.1, 1000), math.log(999 * 9), rel_tol=1e-12)
    assert abs(optimised_logit_gap(0.1, 10) - bot.optimal_logit_gap(0.1, 10)) < 1e-6


def test_no_bias_decay_and_schedule():
    model = bot.small_resnet()
    decay, no_decay = bot.no_bias_decay_groups(model, 1e-4)
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = bot.cosine_with_warmup(opt, warmup_steps=4, total_steps=20)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert [round(v, 9) for v in lrs[:5]] == [0.25, 0.5, 0.75, 1.0, 1.0]  # linear warm-up, then cosine from 1
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:])) and lrs[-1] < 0.05


def test_mixup_gives_soft_targets():
    torch.manual_seed(0)
    x, y = bot.mixup(alpha=0.2, num_classes=10)(torch.rand(8, 3, 4, 4), torch.arange(8))
    assert y.shape == (8, 10) and torch.allclose(y.sum(1), torch.ones(8))


# ------------------------------------------------------------------------------------------ claims can fail
from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines import bag_of_tricks as pipe  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402


def _claim(cid):
    return next(c for c in load_claim_file(REPO / "claims" / "bag_of_tricks.yaml").claims if c.id == cid)


def _measured(metrics):
    return {"paper": "bag_of_tricks", "profile": "cpu", "metrics": metrics}


def test_identical_arms_do_not_reproduce():
    """The broken factor: the 'tricks' arm trained with the baseline recipe. Both arms are then the same run, the
    per-seed difference is exactly 0, and the superiority rule does not reproduce (the old non-inferiority rule did)."""
    cfg = {"tricks": {"widths": [4, 8], "test_fraction": 0.5, "epochs": 1, "batch_size": 256, "lr": 0.1,
                      "weight_decay": 1e-4, "warmup_epochs": 1, "eps": 0.1, "step_fractions": [0.5, 0.75]}}
    seeds = [0, 1, 2, 3, 4]
    base = [pipe.tricks_arm(cfg, "cpu", (s, False)) for s in seeds]
    again = [pipe.tricks_arm(cfg, "cpu", (s, False)) for s in seeds]
    diff = [b - a for a, b in zip(base, again)]
    assert diff == [0.0] * 5
    gates = {"top1_small_resnet_baseline_digits": [0.97] * 5, "top1_small_resnet_tricks_digits": [0.97] * 5}
    r = check_claim(_claim("tricks_improve_top1"), _measured({**gates, "top1_tricks_minus_baseline_digits": diff}))
    assert r.verdict == "not_reproduced", r.message
    noisy = [0.004, -0.003, 0.001, -0.002, 0.0]  # no effect, with seed noise
    r = check_claim(_claim("tricks_improve_top1"), _measured({**gates, "top1_tricks_minus_baseline_digits": noisy}))
    assert r.verdict == "inconclusive", r.message
    longer = {"tricks": {**cfg["tricks"], "epochs": 4, "batch_size": 64}}  # the real tricks arm is another run
    assert pipe.tricks_arm(longer, "cpu", (0, True)) != pipe.tricks_arm(longer, "cpu", (0, False))


def test_torchvision_recipe_gain_reads_both_weights_and_can_fail():
    m = pipe.torchvision_recipe_gain()
    assert m["top1_resnet50_torchvision_v1_recipe"] == 76.13 and m["top1_resnet50_torchvision_v2_recipe"] == 80.858
    claim = _claim("recipe_alone_gains_four_points_torchvision")
    assert check_claim(claim, _measured(m)).verdict == "reproduced"
    for gain in (0.0, 1.5, 7.0):  # no gain, a much smaller or a much larger one
        assert check_claim(claim, _measured({**m, "top1_gain_resnet50_torchvision_v2_minus_v1_recipe": gain})).verdict \
            == "not_reproduced"
