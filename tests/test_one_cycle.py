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
