import math

import pytest
import torch

from implementations.cyclical_lr import caffe_cifar10_full, cyclic_lr, range_test_bounds, triangular_lr


def _run(sched_factory, steps):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = sched_factory(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_triangular_formula_at_known_steps():
    kw = dict(base_lr=0.001, max_lr=0.006, step_size=2000)
    assert triangular_lr(0, **kw) == pytest.approx(0.001, abs=1e-15)
    assert triangular_lr(2000, **kw) == pytest.approx(0.006, abs=1e-15)
    assert triangular_lr(1000, **kw) == pytest.approx(0.0035, abs=1e-15)
    assert triangular_lr(4000, **kw) == pytest.approx(0.001, abs=1e-15)
    for k in (1, 2, 3, 4):  # triangular2: peak of cycle k is base + (max - base) / 2^(k-1)
        peak = triangular_lr((2 * k - 1) * 2000, mode="triangular2", **kw)
        assert peak == pytest.approx(0.001 + 0.005 / 2 ** (k - 1), abs=1e-15)
    assert triangular_lr(2000, mode="exp_range", gamma=0.9999, **kw) == pytest.approx(0.001 + 0.005 * 0.9999 ** 2000)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_torch_cycliclr_matches_paper_formula(mode):
    lrs = _run(lambda o: cyclic_lr(o, base_lr=0.01, max_lr=0.1, step_size=5, mode=mode, gamma=0.97), 60)
    ref = [triangular_lr(i, base_lr=0.01, max_lr=0.1, step_size=5, mode=mode, gamma=0.97) for i in range(60)]
    assert max(abs(a - b) for a, b in zip(lrs, ref)) < 1e-12


def test_cyclic_lr_leaves_momentum_alone():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = cyclic_lr(opt, step_size=3)
    for _ in range(7):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["momentum"] == 0.9


def test_range_test_bounds_rule():
    lrs = [0.01 * i for i in range(1, 11)]
    accs = [0.1, 0.1, 0.12, 0.5, 0.8, 0.9, 0.95, 0.7, 0.1, float("nan")]
    base, top = range_test_bounds(lrs, accs)
    assert (base, top) == (0.04, 0.07)  # 10 % of the rise 0.1 -> 0.95 is 0.185: first reached at 0.04


def test_caffe_cifar10_full_shape_and_size():
    net = caffe_cifar10_full()
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # 3*32*25+32 + 32*32*25+32 + 32*64*25+64 + 1024*10+10 (Caffe's cifar10_full)
    assert sum(p.numel() for p in net.parameters()) == 2432 + 25632 + 51264 + 10250
    assert math.isfinite(net(torch.randn(1, 3, 32, 32)).sum().item())


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines import cyclical_lr as pipe  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "cyclical_lr.yaml").claims}
TRAINED = {"acc_worst_clr_range": [0.96] * 6, "acc_fixed_val_picked": [0.965] * 6,
           "acc_worst_fixed_lr_trained_grid": [0.93] * 6}


def _verdict(cid, metrics):
    return check_claim(CLAIMS[cid], {"paper": "cyclical_lr", "profile": "cpu", "metrics": {**TRAINED, **metrics}}).verdict


def test_no_tuning_claims_need_an_lr_that_matters_and_fail_when_clr_lags():
    lr_matters = {"acc_spread_fixed_lr_trained_grid": [0.03] * 6}
    lr_does_nothing = {"acc_spread_fixed_lr_trained_grid": [0.002, 0.0, 0.001, 0.0, 0.002, 0.001]}
    close = [0.002, -0.003, 0.0, 0.001, -0.002, 0.0]
    lags = [-0.03, -0.025, -0.035, -0.03, -0.028, -0.032]  # a broken CLR: 3 pt behind the tuned fixed LR
    assert _verdict("clr_no_tuning", {**lr_matters, "acc_clr_worst_range_minus_val_picked_fixed": close}) == "reproduced"
    assert _verdict("clr_no_tuning", {**lr_does_nothing, "acc_clr_worst_range_minus_val_picked_fixed": close}) == "invalid"
    assert _verdict("clr_no_tuning", {**lr_matters, "acc_clr_worst_range_minus_val_picked_fixed": lags}) == "not_reproduced"
    assert _verdict("clr_no_tuning_ranges_agree", {**lr_does_nothing, "acc_clr_wide_minus_narrow_range": close}) == "invalid"
    assert _verdict("clr_no_tuning_ranges_agree", {**lr_matters, "acc_clr_wide_minus_narrow_range": lags}) == "not_reproduced"


def test_fewer_iterations_claim_needs_a_budget_that_matters():
    saturated = {"acc_fixed_slow_base_final_minus_early": [0.0] * 6,
                 "acc_clr_slow_base_early_minus_fixed_slow_base_final": [0.0] * 6}
    assert _verdict("clr_fewer_iters_slow_base", saturated) == "invalid"
    slow_clr = {"acc_fixed_slow_base_final_minus_early": [0.02] * 6,
                "acc_clr_slow_base_early_minus_fixed_slow_base_final": [-0.02] * 6}  # CLR no faster than fixed
    assert _verdict("clr_fewer_iters_slow_base", slow_clr) == "not_reproduced"


def test_validation_split_is_disjoint_and_comparator_is_picked_on_it():
    cfg = {"data": "digits", "n_val": 300}
    Xtr, ytr, Xval, yval, Xte, yte = pipe.digits_or_cifar_with_val(cfg)
    assert (len(ytr), len(yval), len(yte)) == (958, 300, 539)
    rows = lambda X: {tuple(r.tolist()) for r in X}  # noqa: E731
    assert not rows(Xtr) & rows(Xval)
    assert Xte.abs().max() < 100  # pixels that barely vary in training are only centred
