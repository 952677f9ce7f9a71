"""ESPCN (Shi et al. 2016): exact parameter and multiply-add ratios against SRCNN 9-5-5 (meta device), the r^2
cost of convolving in HR space, the measured speed-up on one frame, and x3 super-resolution that beats bicubic
on skimage's images (full profile: 91-image training, Set5 test, and SRCNN 9-5-5 trained on the same data)."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

import pipelines.shared.superres as sr
from implementations.espcn import espcn, lr_feature_extractor
from implementations.srcnn import srcnn
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.structural import count_params, on_meta

_CFG: dict = {}


def _seed_run(seed: int) -> dict:
    cfg = _CFG
    r = cfg["scale"]
    inputs, targets = sr.lr_hr_patches(sr.load_images(cfg["train_images"], crop=cfg.get("train_crop")), r,
                                       cfg["lr_patch"], cfg["lr_stride"])
    net = sr.train_sr(lambda: espcn(scale=r), inputs, targets, steps=cfg["steps"], batch_size=cfg["batch_size"],
                      lr=cfg["lr"], seed=seed, device=cfg["device"], progress=cfg.get("progress"))
    res = _evaluate(net, cfg["test_images"], cfg)
    for name, folder in cfg.get("extra_test_images", {}).items():  # full: Set14 beside Set5 (Table 1)
        res[f"net_{name}"] = _evaluate(net, folder, cfg)["net"]
    return res


def _evaluate(net, images, cfg: dict) -> dict:
    """PSNR of the network and of bicubic upsampling on every test image (and the first image's outputs)."""
    r = cfg["scale"]
    res = {"net": [], "bicubic": [], "example": None}
    with torch.no_grad():
        for i, hr in enumerate(sr.load_images(images, crop=cfg.get("test_crop"))):
            hr, lr = sr.degrade(hr, r)
            up = sr.bicubic_up(lr, r)
            out = sr.forward_centred(net, lr[None].to(cfg["device"]))[0].cpu()
            res["net"].append(sr.psnr(out, hr, border=cfg["border"]))
            res["bicubic"].append(sr.psnr(up, hr, border=cfg["border"]))
            if i == 0:
                res["example"] = (hr, up, out)
    return res


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _frame_times(cfg: dict) -> tuple[float, float]:
    """Seconds per frame on one thread: ESPCN on the LR frame vs bicubic upsampling + SRCNN 9-5-5 on the
    upsampled frame (Sec. 3.5 compares the two networks on the same input frames). Weights do not affect time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    r, (h, w) = cfg["scale"], cfg["timing_lr_frame"]
    lr = torch.rand(1, 1, h, w)
    fast, slow = espcn(scale=r).eval(), srcnn(f2=5, padding=True).eval()
    with torch.no_grad():
        t_espcn = _median_seconds(lambda: fast(lr), cfg["timing_repeats"])
        t_srcnn = _median_seconds(lambda: slow(sr.bicubic_up(lr, r)), cfg["timing_repeats"])
    torch.set_num_threads(threads)
    return t_espcn, t_srcnn


def measure(cfg: dict, run) -> dict:
    global _CFG
    _CFG = {**cfg, "device": run.device, "progress": progress if run.device != "cpu" and run.show_progress else None}
    seeds, r = run.seeds(cfg["seeds"]), cfg["scale"]

    metrics = {}
    for s in (2, 3, 4):  # the 2.5x of Sec. 3.5 is for r = 3; the others show how it moves with r
        metrics[f"param_ratio_srcnn955_over_espcn_r{s}"] = (count_params(on_meta(lambda: srcnn(f2=5)))
                                                           / count_params(on_meta(lambda: espcn(scale=s))))
    metrics["param_count_espcn_r3"] = count_params(on_meta(lambda: espcn(scale=3)))
    metrics["param_count_srcnn_955"] = count_params(on_meta(lambda: srcnn(f2=5)))
    # multiply-adds for one LR image of h x w: ESPCN in LR space, SRCNN 9-5-5 on the r-times larger image
    h, w = cfg["mac_lr_image"]
    macs_espcn = sr.conv_macs(on_meta(lambda: espcn(scale=r)), (1, h, w))
    macs_srcnn = sr.conv_macs(on_meta(lambda: srcnn(f2=5, padding=True)), (1, r * h, r * w))
    metrics["mac_ratio_srcnn955_over_espcn"] = macs_srcnn / macs_espcn
    # Sec. 2.2: the same convolutions applied after upscaling (HR space) vs before (LR space)
    stack = on_meta(lambda: lr_feature_extractor(espcn(scale=r)))
    metrics["mac_ratio_hr_space_over_lr_space"] = sr.conv_macs(stack, (1, r * h, r * w)) / sr.conv_macs(stack, (1, h, w))

    t_espcn, t_srcnn = _frame_times(cfg)
    metrics.update({"seconds_per_frame_espcn": t_espcn, "seconds_per_frame_srcnn_955": t_srcnn,
                    "speedup_espcn_over_srcnn_955": t_srcnn / t_espcn})

    if run.device != "cpu":
        results = [_seed_run(s) for s in seeds]
    else:
        results = map_seeds(_seed_run, seeds)
    gains = [np.array(res["net"]) - np.array(res["bicubic"]) for res in results]
    metrics["psnr_gain_over_bicubic_db_espcn"] = [float(g.mean()) for g in gains]
    metrics["psnr_gain_min_over_images_db_espcn"] = [float(g.min()) for g in gains]
    metrics["psnr_db_espcn"] = [float(np.mean(res["net"])) for res in results]
    metrics["psnr_db_bicubic"] = float(np.mean(results[0]["bicubic"]))
    for name in cfg.get("extra_test_images", {}):
        metrics[f"psnr_db_espcn_{name}"] = [float(np.mean(res[f"net_{name}"])) for res in results]
    if cfg.get("compare_srcnn_955"):  # full profile: SRCNN 9-5-5 trained on the same images (Sec. 3.5, Table 2)
        srcnn_cfg = {**cfg, "patch": cfg["srcnn_patch"], "stride": cfg["srcnn_stride"], "steps": cfg["srcnn_steps"],
                     "device": run.device, "progress": _CFG["progress"]}
        srcnn_psnr = [float(np.mean(sr.srcnn_run("9-5-5", s, srcnn_cfg)["net"])) for s in seeds]
        metrics["psnr_db_espcn_minus_srcnn_955"] = [a - b for a, b in zip(metrics["psnr_db_espcn"], srcnn_psnr)]

    hr, up, out = results[0]["example"]
    sr.save_comparison(run.figures / "sr_example.png", hr, {"bicubic": up, "ESPCN": out},
                       f"x{r} super-resolution, first test image (seed {seeds[0]})")
    extra = cfg.get("extra_test_images")
    setting = {"data": f"train: {cfg['train_images']}; test: {cfg['test_images']} (luminance)"
                       + (f"; also tested on {extra}" if extra else ""),
               "train_crop": cfg.get("train_crop"), "test_crop": cfg.get("test_crop"),
               "degradation": f"x{r} antialiased bicubic down (align_corners=False), bicubic up for the baseline",
               "sub_images": f"LR {cfg['lr_patch']}x{cfg['lr_patch']} (HR {cfg['lr_patch'] * r}), LR stride {cfg['lr_stride']}",
               "training": f"Adam lr {cfg['lr']}, batch {cfg['batch_size']}, {cfg['steps']} steps, centred input",
               "timing": f"LR frame {cfg['timing_lr_frame']}, 1 thread, median of {cfg['timing_repeats']}",
               "mac_lr_image": cfg["mac_lr_image"], "psnr_border_px": cfg["border"]}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
