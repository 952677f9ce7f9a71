"""Shared plumbing of every stage: params, threads, seeds and arms in parallel, timing lines, atomic writes."""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILES = ("smoke", "cpu", "full")


class DataUnavailable(RuntimeError):
    """A full-profile data set could not be found or downloaded; the runner prints it as one line and exits 1."""


def load_params(path: Path | str = REPO / "params.yaml") -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def paper_keys(params: dict | None = None) -> list[str]:
    """The papers that have a stage, in params.yaml's order: every top-level block with a `cpu` profile."""
    params = params if params is not None else load_params()
    return [k for k, v in params.items() if isinstance(v, dict) and "cpu" in v and (REPO / "pipelines" / f"{k}.py").exists()]


def paper_config(key: str, profile: str, params: dict | None = None) -> dict:
    """The settings of paper `key` at `profile`: its `common` block overlaid with its profile block."""
    params = params if params is not None else load_params()
    if key not in params:
        raise KeyError(f"params.yaml has no block for paper {key!r}")
    block = params[key] or {}
    if profile not in block:
        raise KeyError(f"params.yaml: paper {key!r} has no settings for profile {profile!r}")
    return {**(block.get("common") or {}), **(block[profile] or {})}


def pin_threads(n: int = 1) -> None:
    """Small models are dominated by per-op overhead: one thread per process, a second process for the second core.
    A stage that does not use torch does not pay for importing it."""
    os.environ["OMP_NUM_THREADS"] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def workers_default() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _timed_call(fn: Callable, arg: Any, label: str) -> Any:
    pin_threads(1)
    t0 = time.perf_counter()
    out = fn(arg)
    log(f"  {label} {arg!r}: {time.perf_counter() - t0:.1f}s")
    return out


def _die_with_parent() -> None:
    """A seed worker must not outlive its stage: Linux sends it SIGKILL when the parent dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown is all there is
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
    pin_threads(1)


def map_seeds(fn: Callable[[Any], Any], items: Iterable, *, workers: int | None = None, label: str = "seed") -> list:
    """Run `fn(item)` for every item (seeds, arms) on one thread each, `workers` processes at a time.

    `fn` must be picklable: a module-level function, or functools.partial(function, cfg) to hand the stage's
    settings to the workers explicitly. Results keep the order of `items`; each item prints one line with its
    elapsed time. Workers die with the stage.
    """
    items = list(items)
    workers = workers_default() if workers is None else workers
    if workers <= 1 or len(items) <= 1:
        return [_timed_call(fn, it, label) for it in items]
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=get_context("fork"),
                             initializer=_die_with_parent) as pool:
        futures = [pool.submit(_timed_call, fn, it, label) for it in items]
        return [f.result() for f in futures]


def map_arms(fn: Callable[[tuple], Any], arms: Sequence, seeds: Sequence, *, workers: int | None = None) -> dict:
    """Run `fn((arm, seed))` for every arm and seed in parallel; returns {arm: [result per seed, in seed order]}.

    The comparison of arms trained from the same seeds, paired by seed, that most ablations make."""
    jobs = [(arm, s) for arm in arms for s in seeds]
    outs = map_seeds(fn, jobs, workers=workers, label="arm/seed")
    return {arm: [o for (a, _), o in zip(jobs, outs) if a == arm] for arm in arms}


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temporary file in the same folder, then rename: a reader sees the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, sort_keys=False, allow_nan=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def progress(iterable: Iterable, *, total: int | None = None, desc: str = "", enabled: bool = True):
    """A progress bar on stderr for long loops (full profile); a plain iterator otherwise."""
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, mininterval=2.0)
