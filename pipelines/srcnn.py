"""SRCNN (Dong et al. 2014): exact weight counts of the 9-1-5 / 9-5-5 networks, and x3 super-resolution on the
luminance of skimage's bundled images (full profile: 91-image training, Set5 test): the gain over bicubic, and over
the best linear filter of the same 13 x 13 support (least squares on the same sub-images), which shows what the
non-linear mapping adds. The training and evaluation run is pipelines.shared.superres.srcnn_run.

`ablate_relu: true` (a param switch, never a committed profile) trains every variant without its ReLUs: the broken
version whose layers collapse into one linear filter, run once to show the non-linearity claims do not pass.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from implementations.srcnn import srcnn, weight_count
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.superres import (least_squares_filter, save_comparison, score_on_upsampled, srcnn_run,
                                       srcnn_training_set)


def _seed_run(cfg: dict, job: tuple[str, int]) -> dict:
    variant, seed = job
    return srcnn_run(variant + ("-linear" if cfg.get("ablate_relu") else ""), seed, cfg)


def structural() -> dict:
    m915, m955 = on_meta(lambda: srcnn()), on_meta(lambda: srcnn(f2=5))
    convs = [m for m in m915 if isinstance(m, torch.nn.Conv2d)]
    return {
        "weight_count_srcnn_915": weight_count(m915),
        "weight_count_srcnn_935": weight_count(on_meta(lambda: srcnn(f2=3))),
        "weight_count_srcnn_955": weight_count(m955),
        "param_count_with_bias_srcnn_915": count_params(m915),
        "conv_layer_count_srcnn": len(convs),
        "kernel_sizes_srcnn_915": float("".join(str(m.kernel_size[0]) for m in convs)),  # 915 = 9, 1, 5
        "output_side_for_33_input_srcnn_915": srcnn()(torch.zeros(1, 1, 33, 33)).shape[-1],
    }


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "device": run.device, "progress": progress if run.device != "cpu" and run.show_progress else None}
    seeds, variants = run.seeds(cfg["seeds"]), list(cfg["variants"])
    metrics = structural()

    # the comparator: the least-squares linear filter with the 9-1-5 network's support (9 + 1 + 5 - 2 = 13 px),
    # fitted once on the same training sub-images (deterministic: no seed)
    support = sum(f - 1 for f in (9, 1, 5)) + 1
    linear = score_on_upsampled(least_squares_filter(*srcnn_training_set(cfg), support).to(run.device), cfg)
    lin = np.array(linear["net"])
    metrics[f"psnr_gain_over_bicubic_db_linear_filter_{support}"] = float(np.mean(lin - np.array(linear["bicubic"])))
    metrics[f"psnr_db_linear_filter_{support}"] = float(np.mean(lin))

    jobs = [(v, s) for v in variants for s in seeds]
    if run.device != "cpu":  # full profile on a GPU: one process, with a progress bar
        results = [_seed_run(cfg, j) for j in jobs]
    else:
        results = map_seeds(functools.partial(_seed_run, cfg), jobs, label="variant, seed")
    by = dict(zip(jobs, results))
    for v in variants:
        tag = v.replace("-", "")
        nets = [np.array(by[v, s]["net"]) for s in seeds]
        gains = [n - np.array(by[v, s]["bicubic"]) for n, s in zip(nets, seeds)]
        metrics[f"psnr_gain_over_bicubic_db_srcnn_{tag}"] = [float(g.mean()) for g in gains]
        metrics[f"psnr_gain_min_over_images_db_srcnn_{tag}"] = [float(g.min()) for g in gains]
        metrics[f"psnr_gain_over_linear_filter_db_srcnn_{tag}"] = [float((n - lin).mean()) for n in nets]
        metrics[f"psnr_db_srcnn_{tag}"] = [float(n.mean()) for n in nets]
    metrics["psnr_db_bicubic"] = float(np.mean(by[variants[0], seeds[0]]["bicubic"]))
    if "9-1-5" in variants and "9-5-5" in variants:
        metrics["psnr_db_srcnn_955_minus_915"] = [a - b for a, b in zip(metrics["psnr_db_srcnn_955"],
                                                                        metrics["psnr_db_srcnn_915"])]

    hr, up, out = by[variants[0], seeds[0]]["example"]
    save_comparison(run.figures / "sr_example.png", hr,
                    {"bicubic": up, f"linear filter {support}x{support}": linear["example"][2],
                     f"SRCNN {variants[0]}": out},
                    f"x{cfg['scale']} super-resolution, first test image (seed {seeds[0]})")
    setting = {"data": f"train: {cfg['train_images']}; test: {cfg['test_images']} (luminance)",
               "train_crop": cfg.get("train_crop"), "test_crop": cfg.get("test_crop"),
               "degradation": f"x{cfg['scale']} antialiased bicubic down (align_corners=False), bicubic up",
               "sub_images": f"{cfg['patch']}x{cfg['patch']}, stride {cfg['stride']}",
               "training": f"Adam lr {cfg['lr']}{' cosine-annealed to 0' if cfg.get('cosine') else ''}, batch "
                           f"{cfg['batch_size']}, {cfg['steps']} steps, centred input",
               "linear_filter": f"least-squares {support}x{support} filter + bias on the same sub-images",
               "psnr_border_px": cfg["border"], "variants": variants,
               **({"ablate_relu": "every variant trained WITHOUT its ReLUs (broken-version run)"}
                  if cfg.get("ablate_relu") else {})}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
