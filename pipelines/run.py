"""Run one paper's stage: ``python -m pipelines <key> [--profile cpu] [--reports reports]``.

The paper module ``pipelines/<key>.py`` defines::

    def measure(cfg: dict, run: Run) -> dict:
        return {"seeds": [0, 1, 2],                      # the seeds it ran ([] when nothing is random)
                "metrics": {"name": 1.0, "per_seed": [..]},   # scalars, or one value per seed
                "setting": {"data": "...", "epochs": 30}}     # what a reader needs to judge the numbers

This runner adds the profile, the environment and the wall time, writes ``<reports>/measured/<key>.json``
atomically, and keeps the stage's figures in ``<reports>/figures/<key>/`` (always at least ``measured.png``).
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.common import PROFILES, REPO, load_params, log, paper_config, pin_threads, write_json_atomic


@dataclass
class Run:
    key: str
    profile: str
    figures: Path  # the folder this stage's PNGs go to (emptied before the stage runs)
    device: str  # "cpu", or "cuda" when the full profile finds a GPU

    @property
    def show_progress(self) -> bool:
        return self.profile == "full"


def _distributed_device() -> tuple[str, int]:
    """Full profile: the GPU if there is one; under torchrun (WORLD_SIZE > 1) one process group, one GPU per rank
    (NCCL), or gloo on CPUs. pipelines.train.fit then wraps models in DistributedDataParallel."""
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        return (f"cuda:{local}" if cuda else "cpu"), dist.get_rank()
    return ("cuda" if cuda else "cpu"), 0


def _env(device: str) -> dict:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__.split("+")[0], "device": device,
            "threads": torch.get_num_threads()}


def _check_metrics(key: str, metrics: dict) -> None:
    for name, value in metrics.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"pipelines/{key}.py: metric {name!r} must be a number or a list of numbers, got {v!r}")
            if not math.isfinite(v):
                log(f"  warning: metric {name!r} is not finite ({v}); its claims will be invalid")


def summary_figure(metrics: dict, path: Path, title: str) -> None:
    """One panel per metric: the per-seed values as dots and their mean, or the single value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(metrics)[:40]
    rows = max(len(names), 1)
    fig, axes = plt.subplots(rows, 1, figsize=(7.5, 0.45 * rows + 0.8), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        vals = metrics[name] if isinstance(metrics[name], list) else [metrics[name]]
        vals = [float(v) for v in vals]
        ax.plot(vals, [0] * len(vals), "o", ms=4, color="tab:blue", alpha=0.8)
        finite = [v for v in vals if math.isfinite(v)]
        if finite:
            mean = sum(finite) / len(finite)
            ax.axvline(mean, color="tab:red", lw=1)
            label = f"{mean:.4g}" if len(vals) == 1 else f"mean {mean:.4g} (n={len(vals)})"
            ax.text(1.01, 0.5, label, transform=ax.transAxes, va="center", fontsize=7)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
    axes[0, 0].set_title(title, fontsize=9)
    fig.subplots_adjust(left=0.38, right=0.8, top=1 - 0.45 / (0.45 * rows + 0.8), bottom=0.3 / (0.45 * rows + 0.8),
                        hspace=1.2)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


def run_stage(key: str, profile: str, reports: Path, params: dict | None = None) -> dict:
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    cfg = paper_config(key, profile, params)
    module = importlib.import_module(f"pipelines.{key}")
    pin_threads(int(cfg.get("threads", 1)))
    device, rank = "cpu", 0
    if profile == "full":
        device, rank = _distributed_device()
    figures = reports / "figures" / key
    shutil.rmtree(figures, ignore_errors=True)
    figures.mkdir(parents=True)
    log(f"[{key}] profile={profile} device={device}")
    t0 = time.perf_counter()
    out = module.measure(cfg, Run(key=key, profile=profile, figures=figures, device=device))
    wall = time.perf_counter() - t0
    metrics = out["metrics"]
    _check_metrics(key, metrics)
    summary_figure(metrics, figures / "measured.png", f"{key} ({profile}): measured")
    measured = {"paper": key, "profile": profile, "seeds": list(out.get("seeds", [])), "metrics": metrics,
                "setting": out.get("setting", {}), "env": _env(device), "wall_s": round(wall, 2)}
    if rank != 0:  # under torchrun every rank measures, rank 0 alone writes
        return measured
    write_json_atomic(reports / "measured" / f"{key}.json", measured)
    log(f"[{key}] done in {wall:.1f}s -> {reports / 'measured' / (key + '.json')}")
    return measured


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.splitlines()[0])
    ap.add_argument("key", help="paper key, e.g. squeezenet")
    ap.add_argument("--profile", help="smoke | cpu | full (default: params.yaml's `profile`)")
    ap.add_argument("--reports", type=Path, default=REPO / "reports", help="where measured/ and figures/ go")
    args = ap.parse_args(argv)
    params = load_params()
    run_stage(args.key, args.profile or params["profile"], args.reports, params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
