"""ESPCN (Shi et al. 2016): exact parameter and multiply-add ratios against SRCNN 9-5-5 and of the sub-pixel layer
against its HR-space and deconvolution alternatives (meta device), timed speed-ups (interleaved repeats: a frame vs
SRCNN 9-5-5, a training step vs a deconvolution layer), and x3 super-resolution that beats bicubic on skimage's
images (full profile: 91-image training, Set5 / Set14 test, SRCNN 9-5-5 trained on the same data, and ESPCN-relu
trained on a large image folder vs the 91 images)."""
from __future__ import annotations

import functools
import math
import statistics

import numpy as np
import torch
import torch.nn.functional as F

import pipelines.shared.superres as sr
from implementations.espcn import deconvolution_upscaler, espcn, hr_space_upscaler
from implementations.srcnn import srcnn
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.shared.timing import interleaved_log_ratios, self_log_ratios


def _seed_run(cfg: dict, seed: int, *, train_images=None, activation: str = "tanh") -> dict:
    r = cfg["scale"]
    images = cfg["train_images"] if train_images is None else train_images
    inputs, targets = sr.lr_hr_patches(sr.load_images(images, crop=cfg.get("train_crop")), r,
                                       cfg["lr_patch"], cfg["lr_stride"])
    net = sr.train_sr(lambda: espcn(scale=r, activation=activation), inputs, targets, steps=cfg["steps"],
                      batch_size=cfg["batch_size"], lr=cfg["lr"], seed=seed, device=cfg["device"],
                      progress=cfg.get("progress"), cosine=cfg.get("cosine", False))
    res = _evaluate(net, cfg["test_images"], cfg)
    for name, folder in (cfg.get("extra_test_images") or {}).items():  # full: Set14 beside Set5 (Table 1)
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


# ------------------------------------------------------------------------------------------------ structure
def upscaler_macs(r: int, lr_hw: tuple[int, int]) -> dict:
    """Multiply-adds (torch's FLOP counter) of the last layer's three forms for one LR map of ESPCN's n_{L-1} = 32
    features (Sec. 2.2): the sub-pixel convolution (32 -> r^2 maps, 3x3, in LR space), the deconvolution with the
    equivalent 3r x 3r filter and stride r, and the same filter run with stride 1 in HR space after upscaling."""
    h, w = lr_hw
    sub = on_meta(lambda: espcn(scale=r)[-2])  # the built network's own last convolution
    return {"subpixel": count_macs(sub, (sub.in_channels, h, w)),
            "deconvolution": count_macs(on_meta(lambda: deconvolution_upscaler(scale=r, n_in=sub.in_channels,
                                                                                kernel=sub.kernel_size[0])),
                                        (sub.in_channels, h, w)),
            "hr_space": count_macs(on_meta(lambda: hr_space_upscaler(scale=r, n_in=sub.in_channels,
                                                                    kernel=sub.kernel_size[0])),
                                   (sub.in_channels, r * h, r * w))}


def structural(cfg: dict) -> dict:
    r = cfg["scale"]
    m = {}
    for s in (2, 3, 4):  # the 2.5x of Sec. 3.5 is for r = 3; the others show how it moves with r
        m[f"param_ratio_srcnn955_over_espcn_r{s}"] = (count_params(on_meta(lambda: srcnn(f2=5)))
                                                     / count_params(on_meta(lambda: espcn(scale=s))))
    m["param_count_espcn_r3"] = count_params(on_meta(lambda: espcn(scale=3)))
    m["param_count_srcnn_955"] = count_params(on_meta(lambda: srcnn(f2=5)))
    # multiply-adds for one LR image of h x w: ESPCN in LR space, SRCNN 9-5-5 on the r-times larger image
    h, w = cfg["mac_lr_image"]
    macs_espcn = sr.conv_macs(on_meta(lambda: espcn(scale=r)), (1, h, w))
    macs_srcnn = sr.conv_macs(on_meta(lambda: srcnn(f2=5, padding=True)), (1, r * h, r * w))
    m["mac_ratio_srcnn955_over_espcn"] = macs_srcnn / macs_espcn
    up = upscaler_macs(r, (h, w))
    m["mac_ratio_hr_space_conv_over_subpixel_conv"] = up["hr_space"] / up["subpixel"]
    m["mac_ratio_deconvolution_over_subpixel_conv"] = up["deconvolution"] / up["subpixel"]
    return m


# ------------------------------------------------------------------------------------------------ timings
def frame_timing(cfg: dict) -> dict:
    """Seconds per frame on one thread: ESPCN on the LR frame vs bicubic upsampling + SRCNN 9-5-5 on the upsampled
    frame (Sec. 3.5 compares the two networks on the same input frames). Weights do not affect time."""
    r, (h, w) = cfg["scale"], cfg["timing_lr_frame"]
    lr = torch.rand(1, 1, h, w)
    fast, slow = espcn(scale=r).eval(), srcnn(f2=5, padding=True).eval()
    with torch.no_grad():
        logs, ts, tf = interleaved_log_ratios(lambda: slow(sr.bicubic_up(lr, r)), lambda: fast(lr),
                                              cfg["timing_repeats"])
        control = self_log_ratios(lambda: fast(lr), cfg["timing_repeats"])
    return {"log_speedup_espcn_over_srcnn_955": logs, "log_ratio_espcn_against_itself": control,
            "seconds_per_frame_espcn": statistics.median(tf),
            "seconds_per_frame_srcnn_955": statistics.median(ts),
            "speedup_espcn_over_srcnn_955": math.exp(statistics.median(logs))}


def upscaler_training_timing(cfg: dict) -> dict:
    """One training step (forward, MSE, backward to the weights and to the layer's input, as inside a network) of
    the sub-pixel convolution vs the equivalent deconvolution, on a batch of ESPCN's last feature maps. The sub-pixel
    layer trains against pre-shuffled targets (Sec. 2.2: the periodic shuffle is avoided in training)."""
    r, n = cfg["scale"], cfg["lr_patch"]
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(cfg["batch_size"], 32, n, n, generator=g, requires_grad=True)
    target = torch.rand(cfg["batch_size"], 1, r * n, r * n, generator=g)
    shuffled = F.pixel_unshuffle(target, r)  # the training data pre-shuffled once
    sub, dec = espcn(scale=r)[-2], deconvolution_upscaler(scale=r)

    def steps(layer, y):
        def run():
            for _ in range(cfg["upscaler_steps"]):
                layer.zero_grad(set_to_none=True)
                feats.grad = None
                F.mse_loss(layer(feats), y).backward()
        return run

    logs, ts, tf = interleaved_log_ratios(steps(dec, target), steps(sub, shuffled), cfg["timing_repeats"])
    return {"log_speedup_subpixel_over_deconvolution_training": logs,
            "log_ratio_subpixel_training_against_itself": self_log_ratios(steps(sub, shuffled), cfg["timing_repeats"]),
            "speedup_subpixel_over_deconvolution_training": math.exp(statistics.median(logs))}


# ------------------------------------------------------------------------------------------------ the stage
def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "device": run.device, "progress": progress if run.device != "cpu" and run.show_progress else None}
    seeds, r = run.seeds(cfg["seeds"]), cfg["scale"]
    metrics = structural(cfg)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # timings on one thread, in the main process before the seed workers start
    metrics.update(frame_timing(cfg))
    metrics.update(upscaler_training_timing(cfg))
    torch.set_num_threads(threads)

    if run.device != "cpu":
        results = [_seed_run(cfg, s) for s in seeds]
    else:
        results = map_seeds(functools.partial(_seed_run, cfg), seeds)
    gains = [np.array(res["net"]) - np.array(res["bicubic"]) for res in results]
    metrics["psnr_gain_over_bicubic_db_espcn"] = [float(g.mean()) for g in gains]
    metrics["psnr_gain_min_over_images_db_espcn"] = [float(g.min()) for g in gains]
    metrics["psnr_db_espcn"] = [float(np.mean(res["net"])) for res in results]
    metrics["psnr_db_bicubic"] = float(np.mean(results[0]["bicubic"]))
    for name in cfg.get("extra_test_images") or {}:
        metrics[f"psnr_db_espcn_{name}"] = [float(np.mean(res[f"net_{name}"])) for res in results]
    if cfg.get("compare_srcnn_955"):  # full profile: SRCNN 9-5-5 trained on the same images (Sec. 3.5, Table 2)
        srcnn_cfg = {**cfg, "patch": cfg["srcnn_patch"], "stride": cfg["srcnn_stride"], "steps": cfg["srcnn_steps"]}
        srcnn_psnr = [float(np.mean(sr.srcnn_run("9-5-5", s, srcnn_cfg)["net"])) for s in seeds]
        metrics["psnr_db_espcn_minus_srcnn_955"] = [a - b for a, b in zip(metrics["psnr_db_espcn"], srcnn_psnr)]
    if cfg.get("large_train_images"):  # full profile: Sec. 3.3.1 / Table 1, ESPCN-relu on 91 images vs ImageNet
        small, large = ([float(np.mean(_seed_run(cfg, s, train_images=imgs, activation="relu")["net"]))
                         for s in seeds] for imgs in (cfg["train_images"], cfg["large_train_images"]))
        metrics["psnr_db_espcn_relu_large_minus_91_images"] = [b - a for a, b in zip(small, large)]

    hr, up, out = results[0]["example"]
    sr.save_comparison(run.figures / "sr_example.png", hr, {"bicubic": up, "ESPCN": out},
                       f"x{r} super-resolution, first test image (seed {seeds[0]})")
    extra = cfg.get("extra_test_images")
    setting = {"data": f"train: {cfg['train_images']}; test: {cfg['test_images']} (luminance)"
                       + (f"; also tested on {extra}" if extra else ""),
               "train_crop": cfg.get("train_crop"), "test_crop": cfg.get("test_crop"),
               "degradation": f"x{r} antialiased bicubic down (align_corners=False), bicubic up for the baseline",
               "sub_images": f"LR {cfg['lr_patch']}x{cfg['lr_patch']} (HR {cfg['lr_patch'] * r}), LR stride {cfg['lr_stride']}",
               "training": f"Adam lr {cfg['lr']}{' cosine-annealed to 0' if cfg.get('cosine') else ''}, batch "
                           f"{cfg['batch_size']}, {cfg['steps']} steps, centred input",
               "timing": f"1 thread, {cfg['timing_repeats']} interleaved repeats (order alternating), one warm-up: "
                         f"a {cfg['timing_lr_frame']} LR frame (ESPCN vs bicubic + SRCNN 9-5-5); "
                         f"{cfg['upscaler_steps']} training steps of the last layer on {cfg['batch_size']} x 32 x "
                         f"{cfg['lr_patch']}^2 features (sub-pixel conv vs deconvolution)",
               "mac_lr_image": cfg["mac_lr_image"], "psnr_border_px": cfg["border"]}
    if cfg.get("large_train_images"):
        setting["training_set_size"] = (f"ESPCN-relu trained on {cfg['train_images']} vs {cfg['large_train_images']}, "
                                        f"same steps, Set5 PSNR difference")
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
