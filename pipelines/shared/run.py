"""Run one paper's stage: ``python -m pipelines KEY [--profile P] [--out DIR] [--seed-offset N]``.

The paper module ``pipelines/<key>.py`` defines::

    def measure(cfg: dict, run: Run) -> dict:
        seeds = run.seeds(cfg["seeds"])               # never range(...): --seed-offset must reach every seed
        return {"seeds": seeds,                        # the seeds it ran ([] when nothing is random)
                "metrics": {"name": 1.0, "per_seed": [..]},   # scalars, or one value per seed
                "setting": {"data": "...", "epochs": 30}}     # what a reader needs to judge the numbers

This runner adds the profile, the environment and the timings, and replaces ``<out>/measured/<key>.json`` and
``<out>/figures/<key>/`` only when the stage succeeds: the figures are drawn in a folder aside and swapped in at
the end, the JSON is renamed into place, so a stage that fails or is killed leaves the last results as they were.
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.shared.common import (PROFILES, REPO, DataUnavailable, load_params, log, paper_config, paper_keys,
                                     pin_threads, write_json_atomic)



def _process_start() -> float:
    """When this process started (Linux: /proc), so that a stage's start-up (imports, data) can be reported."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


STARTED = _process_start()


@dataclass
class Run:
    key: str
    profile: str
    figures: Path  # the folder this stage's PNGs go to (fresh for every run; swapped in when the stage succeeds)
    device: str  # "cpu", "cuda" or "cuda:<rank>"
    seed_offset: int = 0  # added to every seed: a second, disjoint set of seeds checks that a verdict is no draw

    @property
    def show_progress(self) -> bool:
        return self.profile == "full"

    def seeds(self, n_or_list) -> list[int]:
        """The seeds of an experiment: `n` (an int) gives offset .. offset + n - 1; a list is shifted by the offset."""
        if isinstance(n_or_list, int):
            return list(range(self.seed_offset, self.seed_offset + n_or_list))
        return [int(s) + self.seed_offset for s in n_or_list]


def resolve_device(setting: str = "auto") -> tuple[str, int]:
    """`auto`: the GPU if there is one, else the CPU; or `cpu` / `cuda`. Under torchrun (WORLD_SIZE > 1) one process
    group, one GPU per rank (NCCL), or gloo on CPUs; pipelines.shared.train.fit then wraps models in DDP.
    A stage that never imported torch (pure arithmetic) runs on the CPU without importing it."""
    if "torch" not in sys.modules and setting != "cuda" and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return "cpu", 0
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available() and setting != "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise SystemExit("device: cuda was asked for, but torch sees no GPU (set `device: auto` or `cpu` in params.yaml)")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        return (f"cuda:{local}" if cuda else "cpu"), dist.get_rank()
    if dist.is_available() and dist.is_initialized():
        return ("cuda" if cuda else "cpu"), dist.get_rank()
    return ("cuda" if cuda else "cpu"), 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _env(device: str) -> dict:
    """What a reader needs to compare two measurements of the same stage: per-seed numbers differ between CPUs."""
    from importlib.metadata import version

    env = {"python": platform.python_version(), "torch": version("torch").split("+")[0], "numpy": version("numpy"),
           "blas": "?", "cpu": _cpu_model(), "cores": os.cpu_count(), "device": device, "threads": 1}
    if "torch" not in sys.modules:  # a stage without torch: nothing more to say about its kernels
        return env
    import torch

    config = torch.__config__.show()
    env["blas"] = next((p.split("=", 1)[1] for p in config.replace(",", " ").split() if p.startswith("BLAS_INFO=")), "?")
    env["threads"] = torch.get_num_threads()
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def _finite_metrics(key: str, metrics: dict) -> dict:
    """Metrics as numbers or lists of numbers; a non-finite value is written as null (strict JSON), and every claim
    on it is invalid with a message that says so."""
    out = {}
    for name, value in metrics.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"pipelines/{key}.py: metric {name!r} must be a number or a list of numbers, got {v!r}")
        clean = [v if math.isfinite(v) else None for v in values]
        if None in clean:
            log(f"  warning: metric {name!r} is not finite ({values}); its claims will be invalid")
        out[name] = clean if isinstance(value, list) else clean[0]
    return out


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
        vals = [float(v) for v in vals if v is not None]
        ax.plot(vals, [0] * len(vals), "o", ms=4, color="tab:blue", alpha=0.8)
        if vals:
            mean = sum(vals) / len(vals)
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


def _swap_in(new: Path, target: Path) -> None:
    """Replace the folder `target` by `new` (built aside): two renames, so a reader never sees a half-written folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.new.{os.getpid()}")
    old = target.with_name(f".{target.name}.old.{os.getpid()}")
    shutil.copytree(new, staged)  # `new` lives in the temporary folder, maybe on another file system
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def _sweep_stale(folder: Path) -> None:
    """Remove what a killed stage left: `.<name>.new.<pid>` / `.old.<pid>` / `.tmp` siblings of dead processes."""
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        parts = p.name.split(".")
        if p.name.startswith(".") and len(parts) >= 3 and parts[-1].isdigit() or p.name.endswith(".tmp"):
            pid = next((int(x) for x in reversed(parts) if x.isdigit()), None)
            if pid is not None and pid != os.getpid() and not _alive(pid):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_stage(key: str, profile: str, reports: Path, params: dict | None = None, *, seed_offset: int = 0,
              device: str | None = None) -> dict:
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    params = params if params is not None else load_params()
    cfg = paper_config(key, profile, params)
    module = importlib.import_module(f"pipelines.{key}")
    pin_threads(int(cfg.get("threads", 1)))
    device, rank = resolve_device(device or str(cfg.get("device", params.get("device", "auto"))))
    reports = Path(reports)
    for folder in (reports / "measured", reports / "figures"):
        _sweep_stale(folder)
    log(f"[{key}] profile={profile} device={device}" + (f" seed offset {seed_offset}" if seed_offset else ""))
    startup = time.time() - STARTED
    with tempfile.TemporaryDirectory(prefix=f"paper-claims-{key}-") as tmp:
        figures = Path(tmp) / key
        figures.mkdir()
        t0 = time.perf_counter()
        out = module.measure(cfg, Run(key=key, profile=profile, figures=figures, device=device, seed_offset=seed_offset))
        wall = time.perf_counter() - t0
        metrics = _finite_metrics(key, out["metrics"])
        summary_figure(metrics, figures / "measured.png", f"{key} ({profile}): measured")
        measured = {"paper": key, "profile": profile, "seeds": list(out.get("seeds", [])), "metrics": metrics,
                    "setting": out.get("setting", {}), "env": _env(device), "wall_s": round(wall, 2),
                    "startup_s": round(startup, 2)}
        if rank != 0:  # under torchrun every rank measures, rank 0 alone writes
            return measured
        _swap_in(figures, reports / "figures" / key)
    write_json_atomic(reports / "measured" / f"{key}.json", measured)
    log(f"[{key}] done in {wall:.1f}s (start-up {startup:.1f}s) -> {reports / 'measured' / (key + '.json')}")
    return measured


def scratch_dir(profile: str) -> Path:
    return Path(tempfile.gettempdir()) / f"paper-claims-{profile}"


def main(argv: list[str] | None = None) -> int:
    params = load_params()
    keys = paper_keys(params)
    ap = argparse.ArgumentParser(
        prog="python -m pipelines", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run one paper's stage (what `dvc repro` runs). Other commands: `python -m pipelines dvc-yaml "
                    "[--check]` (write dvc.yaml from the import graph), `python -m pipelines new KEY --title T --url U` "
                    "(a new paper from templates).",
        epilog="paper keys: " + " ".join(keys))
    ap.add_argument("key", metavar="KEY", help="paper key (listed below)")
    ap.add_argument("--profile", choices=PROFILES, help=f"default: params.yaml's `profile` ({params.get('profile')})")
    ap.add_argument("--out", type=Path, help="folder for measured/ and figures/ (default: reports/ at params.yaml's "
                                             "profile; a scratch folder at any other profile or seed offset)")
    ap.add_argument("--seed-offset", type=int, default=0, help="shift every seed (a disjoint second set of seeds)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: params.yaml's `device`")
    args = ap.parse_args(argv)
    if args.key not in keys:
        print(f"python -m pipelines: unknown paper key {args.key!r} (known: {' '.join(keys)})", file=sys.stderr)
        return 2
    profile = args.profile or params["profile"]
    out = args.out
    if out is None:
        # the committed results are written only by the run DVC makes: params.yaml's profile, the paper's own seeds
        out = REPO / "reports" if profile == params["profile"] and not args.seed_offset else scratch_dir(profile)
        if out != REPO / "reports":
            log(f"[{args.key}] profile {profile} is not params.yaml's ({params['profile']}) or the seeds are shifted: "
                f"writing to {out} (use --out to choose)")
    try:
        run_stage(args.key, profile, out, params, seed_offset=args.seed_offset, device=args.device)
    except DataUnavailable as e:
        print(f"python -m pipelines {args.key}: data unavailable: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
