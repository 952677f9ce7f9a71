"""Perceptual losses (Johnson et al. 2016): the transformation networks' shapes and the Gram style loss (exact),
the timed speed of one feed-forward pass against Gatys et al.'s optimisation (interleaved repeats), and x4
super-resolution trained with a pixel loss vs the feature reconstruction loss: each must win its own objective
(PSNR vs feature distance, Table 3) before the PSNR comparison counts.

No pretrained VGG can be downloaded at the cpu profile: the loss network is a small VGG-like classifier trained
here on sklearn's digits, then frozen (full profile: ImageNet VGG-16 at relu2_2, as in the paper)."""
from __future__ import annotations

import functools
import math
import statistics

import numpy as np
import torch
import torch.nn.functional as F

import pipelines.shared.superres as sr
from implementations.perceptual_loss import (VGG16_RELU, feature_reconstruction_loss, gram, small_vgg,
                                             style_reconstruction_loss, total_variation, transform_net,
                                             vgg16_loss_network)
from pipelines.shared import data
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.structural import on_meta
from pipelines.shared.timing import interleaved_log_ratios, self_log_ratios
from pipelines.shared.train import fit, make_optimizer, seed_everything


# ------------------------------------------------------------------------------------------- exact checks
def shape_checks() -> dict:
    """Sec. 3.1: the style net keeps H x W (two stride-2, two stride-1/2 convolutions); the x f SR net outputs
    f H x f W with log2 f stride-1/2 convolutions. Built and run on the meta device at the paper's sizes."""
    ups = lambda m: sum(isinstance(l, torch.nn.ConvTranspose2d) for l in m.modules())  # noqa: E731
    style, sr4, sr8 = (on_meta(lambda: transform_net(task="style")), on_meta(lambda: transform_net(task="sr", scale=4)),
                       on_meta(lambda: transform_net(task="sr", scale=8)))
    x = lambda s: torch.zeros(1, 3, s, s, device="meta")  # noqa: E731
    return {"style_net_output_side_for_256": style(x(256)).shape[-1],
            "style_net_stride2_convs": sum(getattr(l, "stride", (1,))[0] == 2 and isinstance(l, torch.nn.Conv2d)
                                           for l in style.modules()),
            "style_net_fractional_convs": ups(style),
            "sr_x4_output_side_for_72": sr4(x(72)).shape[-1], "sr_x4_fractional_convs": ups(sr4),
            "sr_x8_output_side_for_36": sr8(x(36)).shape[-1], "sr_x8_fractional_convs": ups(sr8)}


def gram_checks() -> dict:
    """Eq. 3-4 on random ReLU features: G symmetric PSD, invariant to permuting positions, the loss defined for
    a 64^2 output vs a 96^2 target, and zero when the features are equal."""
    g = torch.Generator().manual_seed(0)
    phi = torch.relu(torch.randn(2, 16, 64, 64, generator=g, dtype=torch.float64))
    G = gram(phi)
    perm = torch.randperm(64 * 64, generator=g)
    G_perm = gram(phi.flatten(2)[..., perm].reshape_as(phi))
    target = torch.relu(torch.randn(2, 16, 96, 96, generator=g, dtype=torch.float64))
    return {"gram_asymmetry_max": float((G - G.transpose(1, 2)).abs().max()),
            "gram_min_eigenvalue": float(torch.linalg.eigvalsh(G).min()),
            "gram_permutation_change_max": float((G - G_perm).abs().max()),
            "style_loss_64_vs_96_is_finite": float(torch.isfinite(style_reconstruction_loss(phi, target)).item()),
            "style_loss_of_equal_features": float(style_reconstruction_loss(phi, phi))}


def speedup_macs(side: int, iterations: int) -> float:
    """Multiply-adds of Gatys et al.'s optimisation (`iterations` x [forward + backward to the image] through
    VGG-16 up to relu4_3, the deepest layer of the loss) over one forward pass of the style transformation
    network, at side x side (Table 1 times 500 iterations). Backpropagating to the image costs each convolution
    its forward multiply-adds again (a transposed convolution of the same size), so one iteration = 2 forwards."""
    vgg = on_meta(lambda: vgg16_loss_network(layer="relu4_3"))
    net = on_meta(lambda: transform_net(task="style"))
    return iterations * 2 * sr.conv_macs(vgg, (3, side, side)) / sr.conv_macs(net, (3, side, side))


# ------------------------------------------------------------------------------------------------ timing
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # Sec. 4.1: the style targets; content at relu3_3


def speed_timing(cfg: dict) -> dict:
    """Table 1's comparison, timed on one thread at speed_timing_side^2: one forward pass of the style transformation
    network vs one iteration of Gatys et al.'s optimisation (forward through VGG-16 to relu4_3, the content loss
    at relu3_3 and Gram style losses at relu1_2 ... relu4_3, backward to the image, an optimiser step), the two
    back to back with the order alternating in each of `speed_repeats` repeats. Per repeat,
    ln(speed_iterations x t_iteration / t_forward): the optimisation's time for the paper's 500 iterations over
    the network's, as in Table 1. Random weights: the time does not depend on them."""
    side, iters = cfg["speed_timing_side"], cfg["speed_iterations"]
    g = torch.Generator().manual_seed(0)
    seed_everything(0)
    net = transform_net(task="style").eval()
    vgg = vgg16_loss_network(layer="relu4_3")
    cut = [VGG16_RELU[name] for name in STYLE_LAYERS]
    content, style = torch.rand(1, 3, side, side, generator=g), torch.rand(1, 3, side, side, generator=g)

    def features(x):
        out, start = [], 0
        for end in cut:
            x = vgg[start:end](x)
            out.append(x)
            start = end
        return out

    with torch.no_grad():
        style_grams = [gram(f) for f in features(style)]
        content_target = features(content)[2]
    image = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([image], lr=1e-2)

    def iteration():
        feats = features(image)
        loss = feature_reconstruction_loss(feats[2], content_target)
        loss = loss + sum((gram(f) - G).pow(2).sum() for f, G in zip(feats, style_grams))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def forward():
        with torch.no_grad():
            net(content)

    logs, t_it, t_ff = interleaved_log_ratios(iteration, forward, cfg["speed_repeats"])
    return {"log_speedup_feedforward_over_optimisation": [math.log(iters) + v for v in logs],
            "log_ratio_feedforward_against_itself": self_log_ratios(forward, cfg["speed_repeats"]),
            "seconds_feedforward_style_net": statistics.median(t_ff),
            "seconds_per_optimisation_iteration": statistics.median(t_it),
            "speedup_feedforward_over_optimisation": math.exp(statistics.median(logs))}


# ------------------------------------------------------------------------------------ the two trained arms
def train_loss_network(cfg: dict) -> torch.nn.Module:
    """cpu: small_vgg trained to classify sklearn's digits (upsampled to 32 px), frozen; its relu2_2 features
    serve as phi. full: ImageNet VGG-16 up to relu2_2 (Sec. 4.2), on the grey image replicated to RGB."""
    if cfg["loss_network"] == "vgg16_imagenet":
        vgg = vgg16_loss_network(layer="relu2_2", weights="DEFAULT")
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        return torch.nn.Sequential(_Normalise(mean, std), vgg)
    (xtr, ytr), (xte, yte) = data.digits(image_size=32, split_seed=0)
    # inputs standardised with the training set's mean and std, as VGG-16's with ImageNet's (the _Normalise below):
    # on raw [0, 1] digits a black background sits in the ReLUs' dead zone and a feature loss cannot see its level
    norm = _Normalise(xtr.mean().view(1, 1, 1, 1), xtr.std().view(1, 1, 1, 1), channels=1)
    seed_everything(0)  # before building: the loss network's initial weights depend on the seed alone
    net = torch.nn.Sequential(norm, small_vgg(widths=tuple(cfg["loss_net_widths"])))
    fit(net, xtr, ytr, epochs=cfg["loss_net_epochs"], batch_size=64, seed=0,
        optimizer=make_optimizer(net.parameters(), name="adam", lr=1e-3))
    with torch.no_grad():
        net.eval()
        accuracy = float((net(xte).argmax(1) == yte).float().mean())
    phi = torch.nn.Sequential(norm, net[1][0]).requires_grad_(False).eval()  # normalise, then features to relu2_2
    phi.test_accuracy = accuracy
    return phi


class _Normalise(torch.nn.Module):
    def __init__(self, mean, std, channels: int = 3):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.channels = channels

    def forward(self, x):
        return (x.expand(-1, self.channels, -1, -1) - self.mean) / self.std


def train_arm(cfg: dict, phi: torch.nn.Module, job: tuple[str, int]) -> dict:
    """Train the SR network with the pixel loss or the feature loss (+ TV); PSNR and feature distance on test."""
    arm, seed = job
    r = cfg["scale"]
    # Gaussian blur (sigma 1) + x4 bicubic downsampling (Sec. 4.2), then aligned LR / HR sub-images
    inputs, targets = sr.lr_hr_patches(sr.load_images(cfg["train_images"], crop=cfg.get("train_crop")), r,
                                       cfg["lr_patch"], cfg["lr_stride"], blur_sigma=cfg["blur_sigma"])
    phi = phi.to(cfg["device"])
    if arm == "pixel":
        loss_fn = F.mse_loss
    else:  # Eq. 2 at relu2_2, plus lambda_TV * l_TV (Sec. 3.3)
        loss_fn = lambda out, y: feature_reconstruction_loss(phi(out), phi(y)) + cfg["tv_weight"] * total_variation(out)  # noqa: E731
    net = sr.train_sr(lambda: transform_net(task="sr", scale=r, channels=1, width=cfg["width"],
                                            num_residual=cfg["num_residual"]),
                      inputs, targets, steps=cfg["steps"], batch_size=cfg["batch_size"], lr=cfg["lr"], seed=seed,
                      loss_fn=loss_fn, out_offset=0.0, device=cfg["device"], progress=cfg.get("progress"),
                      cosine=cfg.get("cosine", False))
    res = {"psnr": [], "feat": [], "bicubic_psnr": [], "bicubic_feat": [], "example": None}
    with torch.no_grad():
        for i, hr in enumerate(sr.load_images(cfg["test_images"], crop=cfg.get("test_crop"))):
            hr, lr = sr.degrade(hr, r, blur_sigma=cfg["blur_sigma"])
            out = sr.forward_centred(net, lr[None].to(cfg["device"]), out_offset=0.0).cpu()
            up = sr.bicubic_up(lr, r)[None]
            target = phi(hr[None].to(cfg["device"]))
            for name, img in (("", out), ("bicubic_", up)):
                res[name + "psnr"].append(sr.psnr(img, hr[None], border=cfg["border"]))
                res[name + "feat"].append(float(feature_reconstruction_loss(phi(img.to(cfg["device"])), target)))
            if i == 0:
                res["example"] = (hr, up[0], out[0])
    return res


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "device": run.device, "progress": progress if run.device != "cpu" and run.show_progress else None}
    seeds = run.seeds(cfg["seeds"])
    metrics = {**shape_checks(), **gram_checks(),
               "mac_ratio_optimisation_over_feedforward": speedup_macs(cfg["speed_side"], cfg["speed_iterations"])}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # timed on one thread, in the main process before any worker starts
    metrics.update(speed_timing(cfg))
    torch.set_num_threads(threads)
    setting = {"speed": f"1 thread, {cfg['speed_repeats']} interleaved repeats at {cfg['speed_timing_side']} px: style "
                        f"net forward vs one optimisation iteration (VGG-16 to relu4_3, Adam step), x "
                        f"{cfg['speed_iterations']} iterations",
               "speed_mac_ratio": f"multiply-adds at {cfg['speed_side']} px, {cfg['speed_iterations']} iterations"}
    if cfg.get("train_sr", True):  # smoke (code paths) and full (Table 3); not cpu: see params.yaml
        sr_metrics, sr_setting = measure_sr(cfg, seeds, run)
        metrics.update(sr_metrics)
        setting.update(sr_setting)
    return {"seeds": seeds if cfg.get("train_sr", True) else [], "metrics": metrics, "setting": setting}


def measure_sr(cfg: dict, seeds: list[int], run) -> tuple[dict, dict]:
    """Table 3's comparison: the SR network trained with the pixel loss and with the feature loss, per seed."""
    arms = ["pixel", "feature"]
    phi = train_loss_network(cfg)
    metrics = {}
    if hasattr(phi, "test_accuracy"):
        metrics["loss_network_digits_test_accuracy"] = phi.test_accuracy
    jobs = [(a, s) for s in seeds for a in arms]
    fn = functools.partial(train_arm, cfg, phi)
    res = dict(zip(jobs, map_seeds(fn, jobs, label="loss, seed") if run.device == "cpu" else [fn(j) for j in jobs]))
    mean = lambda a, k: [float(np.mean(res[a, s][k])) for s in seeds]  # noqa: E731
    psnr_bicubic = float(np.mean(res["pixel", seeds[0]]["bicubic_psnr"]))
    feat_bicubic = float(np.mean(res["pixel", seeds[0]]["bicubic_feat"]))
    pix, fea = mean("pixel", "psnr"), mean("feature", "psnr")
    fd_pix, fd_fea = mean("pixel", "feat"), mean("feature", "feat")
    metrics.update({
        "psnr_db_pixel_loss": pix, "psnr_db_feature_loss": fea,
        "psnr_db_pixel_minus_feature_loss": [p - f for p, f in zip(pix, fea)],
        "psnr_db_pixel_loss_minus_bicubic": [p - psnr_bicubic for p in pix],
        "feature_distance_pixel_loss": fd_pix, "feature_distance_feature_loss": fd_fea,
        "log_feature_distance_ratio_feature_over_pixel_loss": [math.log(f / p) for f, p in zip(fd_fea, fd_pix)],
        "log_feature_distance_ratio_feature_loss_over_bicubic": [math.log(f / feat_bicubic) for f in fd_fea],
        "psnr_db_bicubic": psnr_bicubic, "feature_distance_bicubic": feat_bicubic,
    })
    hr, up, out_pixel = res["pixel", seeds[0]]["example"]
    sr.save_comparison(run.figures / "sr_example.png", hr,
                       {"bicubic": up, "pixel loss": out_pixel, "feature loss": res["feature", seeds[0]]["example"][2]},
                       f"x{cfg['scale']} super-resolution, first test image (seed {seeds[0]})")
    setting = {"data": f"train: {cfg['train_images']}; test: {cfg['test_images']} (luminance)",
               "train_crop": cfg.get("train_crop"), "test_crop": cfg.get("test_crop"),
               "degradation": f"Gaussian blur sigma {cfg['blur_sigma']}, x{cfg['scale']} antialiased bicubic down",
               "sub_images": f"LR {cfg['lr_patch']} px, LR stride {cfg['lr_stride']}",
               "network": f"SR transform net, width {cfg['width']}, {cfg['num_residual']} residual blocks",
               "loss_network": cfg["loss_network"] + ("" if cfg["loss_network"] != "small_vgg_digits" else
                                                      f" widths {cfg['loss_net_widths']}, {cfg['loss_net_epochs']} epochs"),
               "training": f"Adam lr {cfg['lr']}{' cosine-annealed to 0' if cfg.get('cosine') else ''}, batch "
                           f"{cfg['batch_size']}, {cfg['steps']} steps, TV {cfg['tv_weight']}"}
    return metrics, setting
