"""Wall-clock comparisons of two pieces of work on a machine whose load changes (espcn, perceptual_loss): the two
arms timed back to back, the order alternating, one log ratio per repeat; and the same harness with one arm timed
against itself, the control that it does not make a speed-up out of nothing.
"""
from __future__ import annotations

import math
import time
from typing import Callable


def seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved_log_ratios(slow: Callable[[], object], fast: Callable[[], object],
                           repeats: int) -> tuple[list[float], list[float], list[float]]:
    """Time `slow` and `fast` back to back `repeats` times (after one warm-up each), alternating which goes first,
    so that a change of machine load hits both arms of a repeat alike. Returns (ln(t_slow / t_fast) per repeat,
    t_slow's, t_fast's)."""
    slow(), fast()
    logs, ts, tf = [], [], []
    for i in range(repeats):
        if i % 2:
            b, a = seconds(fast), seconds(slow)
        else:
            a, b = seconds(slow), seconds(fast)
        logs.append(math.log(a / b))
        ts.append(a)
        tf.append(b)
    return logs, ts, tf


def self_log_ratios(fn: Callable[[], object], repeats: int) -> list[float]:
    """The harness on identical arms: ln(t / t') of `fn` against itself per repeat, about 0 when the harness is fair
    (a first-run penalty or a load trend that the alternation did not cancel would show here)."""
    return interleaved_log_ratios(fn, fn, repeats)[0]
