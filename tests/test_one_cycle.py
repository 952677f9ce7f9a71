import pytest
import torch

from implementations.one_cycle import one_cycle_lr, resnet56, schedule_trace, step_schedule
from pipelines.shared.structural import count_params, on_meta


def _trace(total=200, **kw):
    return schedule_trace(total_steps=total, **kw)


def test_one_cycle_matches_closed_form():
    lrs, _ = _trace(max_lr=0.8, total=200)
    ref = [one_cycle_lr(t, max_lr=0.8, total_steps=200) for t in range(200)]
    assert max(abs(a - b) for a, b in zip(lrs, ref)) < 1e-12


def test_one_cycle_known_points():
    lrs, moms = _trace(max_lr=0.8, total=200)  # 0.08 -> 0.8 -> 0.08 -> 0.00008 (Sec. 4.1; 0.08-0.8 for resnet-56)
    assert lrs[0] == pytest.approx(0.08)
    assert max(lrs) == pytest.approx(0.8) and lrs.index(max(lrs)) == 89  # pct_start 0.45 of 200 steps
    assert lrs[178] == pytest.approx(0.08)  # end of the symmetric cycle at 2 x 45 %
    assert lrs[-1] == pytest.approx(0.08 / 1000)
    assert moms[0] == moms[-1] == pytest.approx(0.95) and moms[89] == pytest.approx(0.85)


def test_step_schedule_drops():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = step_schedule(opt, total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[49] == pytest.approx(0.1) and lrs[50] == pytest.approx(0.01) and lrs[75] == pytest.approx(0.001)


def test_resnet56_structure():
    net = on_meta(lambda: resnet56())
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == 56  # 55 3x3 convs + the linear layer
    assert count_params(net) == 855_770  # 0.85 M (He et al.: 0.85 M with option A shortcuts)
    assert resnet56()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_one_cycle_shape_as_the_stage_configures_it():
    """Sec. 4.1 / 4.3 as configured in params.yaml (formerly four claims: configuration read-backs of torch's
    OneCycleLR are unit tests): the LR peaks at max_lr, momentum is 0.85 at the peak and 0.95 at both ends, the cycle
    ends before training does, and the last LR is orders of magnitude below the first."""
    from pipelines.one_cycle import _shape
    from pipelines.shared.common import paper_config

    cfg = paper_config("one_cycle", "cpu")
    shape = _shape(cfg)
    assert shape["peak_lr_over_max_lr"] == pytest.approx(1, abs=1e-12)
    assert shape["momentum_at_lr_peak"] == pytest.approx(cfg["base_momentum"]) == pytest.approx(0.85)
    assert shape["momentum_at_start"] == pytest.approx(0.95) and shape["momentum_at_end"] == pytest.approx(0.95)
    assert shape["cycle_length_over_training"] <= 0.95  # "one cycle that is smaller than the total number of iterations"
    assert shape["final_lr_over_initial_lr"] <= 0.01  # "several orders of magnitude less than the initial"
    broken = _shape({**cfg, "pct_start": 0.5, "final_div_factor": 1.0})  # a cycle as long as training, no annihilation
    assert broken["cycle_length_over_training"] > 0.95 and broken["final_lr_over_initial_lr"] > 0.01


# ------------------------------------------------------------------------------------------ the checks can fail
from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "one_cycle.yaml").claims}


def _verdict(cid, metrics):
    return check_claim(CLAIMS[cid], {"paper": "one_cycle", "profile": "cpu", "metrics": metrics}).verdict


def test_fewer_epochs_claims_fail_when_1cycle_is_just_the_short_step_run():
    """The broken factor: '1cycle' trained with the step schedule for the same 6 epochs. Then 1cycle - step(12) is
    step(6) - step(12) < 0, and the claim does not reproduce; a step schedule that gains nothing from more epochs
    (a saturated task) makes it invalid."""
    gain = [0.011, 0.009, 0.012, 0.01, 0.008, 0.011]
    trained = {"acc_step_long_fewer_epochs_seeds": [0.96] * 6, "acc_1cycle_short_fewer_epochs_seeds": [0.95] * 6}
    broken = {**trained, "acc_step_long_minus_step_short": gain, "acc_1cycle_short_minus_step_long": [-g for g in gain]}
    assert _verdict("one_cycle_fewer_epochs", broken) == "not_reproduced"
    saturated = {**trained, "acc_step_long_minus_step_short": [0.0] * 6, "acc_1cycle_short_minus_step_long": [0.0] * 6}
    assert _verdict("one_cycle_fewer_epochs", saturated) == "invalid"


def test_cyclical_momentum_claim_needs_momentum_to_matter():
    m = {"acc_cyclical_momentum_minus_val_picked_constant": [0.0] * 6, "acc_1cycle_short": [0.96] * 6,
         "acc_constant_momentum_low_minus_high": [0.001, -0.001, 0.0, 0.002, -0.002, 0.0]}
    assert _verdict("cyclical_momentum", m) == "invalid"
    m["acc_constant_momentum_low_minus_high"] = [0.01] * 6
    m["acc_cyclical_momentum_minus_val_picked_constant"] = [-0.02, -0.018, -0.022, -0.02, -0.019, -0.021]
    assert _verdict("cyclical_momentum", m) == "not_reproduced"
