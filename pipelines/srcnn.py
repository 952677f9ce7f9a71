"""SRCNN (Dong et al. 2014): exact weight counts of the 9-1-5 / 9-5-5 networks, and x3 super-resolution that beats
bicubic interpolation on the luminance of skimage's bundled images (full profile: 91-image training, Set5 test).
The training and evaluation run is pipelines.shared.superres.srcnn_run.
"""
from __future__ import annotations

import numpy as np
import torch

from implementations.srcnn import srcnn, weight_count
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.superres import save_comparison, srcnn_run


_CFG: dict = {}


def _seed_run(job: tuple[str, int]) -> dict:
    return srcnn_run(*job, _CFG)


def measure(cfg: dict, run) -> dict:
    global _CFG
    _CFG = {**cfg, "device": run.device, "progress": None}
    seeds, variants = run.seeds(cfg["seeds"]), list(cfg["variants"])

    m915, m955 = on_meta(lambda: srcnn()), on_meta(lambda: srcnn(f2=5))
    convs = [m for m in m915 if isinstance(m, torch.nn.Conv2d)]
    metrics = {
        "weight_count_srcnn_915": weight_count(m915),
        "weight_count_srcnn_935": weight_count(on_meta(lambda: srcnn(f2=3))),
        "weight_count_srcnn_955": weight_count(m955),
        "param_count_with_bias_srcnn_915": count_params(m915),
        "conv_layer_count_srcnn": len(convs),
        "kernel_sizes_srcnn_915": float("".join(str(m.kernel_size[0]) for m in convs)),  # 915 = 9, 1, 5
        "output_side_for_33_input_srcnn_915": srcnn()(torch.zeros(1, 1, 33, 33)).shape[-1],
    }

    if run.device != "cpu":  # full profile on a GPU: one process, with a progress bar
        _CFG["progress"] = progress if run.show_progress else None
        results = [_seed_run((v, s)) for v in variants for s in seeds]
    else:
        results = map_seeds(_seed_run, [(v, s) for v in variants for s in seeds], label="variant, seed")
    by = {(v, s): res for (v, s), res in zip([(v, s) for v in variants for s in seeds], results)}
    for v in variants:
        tag = v.replace("-", "")
        gains = [np.array(by[v, s]["net"]) - np.array(by[v, s]["bicubic"]) for s in seeds]
        metrics[f"psnr_gain_over_bicubic_db_srcnn_{tag}"] = [float(g.mean()) for g in gains]
        metrics[f"psnr_gain_min_over_images_db_srcnn_{tag}"] = [float(g.min()) for g in gains]
        metrics[f"psnr_db_srcnn_{tag}"] = [float(np.mean(by[v, s]["net"])) for s in seeds]
    metrics["psnr_db_bicubic"] = float(np.mean(by[variants[0], seeds[0]]["bicubic"]))
    if "9-1-5" in variants and "9-5-5" in variants:
        metrics["psnr_db_srcnn_955_minus_915"] = float(np.mean(metrics["psnr_db_srcnn_955"])
                                                      - np.mean(metrics["psnr_db_srcnn_915"]))

    hr, up, out = by[variants[0], seeds[0]]["example"]
    save_comparison(run.figures / "sr_example.png", hr, {"bicubic": up, f"SRCNN {variants[0]}": out},
                    f"x{cfg['scale']} super-resolution, first test image (seed {seeds[0]})")
    setting = {"data": f"train: {cfg['train_images']}; test: {cfg['test_images']} (luminance)",
               "train_crop": cfg.get("train_crop"), "test_crop": cfg.get("test_crop"),
               "degradation": f"x{cfg['scale']} antialiased bicubic down (align_corners=False), bicubic up",
               "sub_images": f"{cfg['patch']}x{cfg['patch']}, stride {cfg['stride']}",
               "training": f"Adam lr {cfg['lr']}, batch {cfg['batch_size']}, {cfg['steps']} steps, centred input",
               "psnr_border_px": cfg["border"], "variants": variants}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
