"""Inceptionism / DeepDream (Mordvintsev et al. 2015) with small CNNs trained here on digits (no pretrained
GoogLeNet offline): dreaming amplifies a layer, lower vs higher layers, and class visualisation with/without a
natural-image prior, judged by a second, independently trained CNN.

cpu: sklearn digits upsampled to 16x16 for training and class visualisation; skimage's `camera` at 32x32 dreamed.
full: the same protocol with CNNs trained on MNIST (torchvision) at 28x28 and `camera` at 128x128.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from implementations import deepdream as DD
from pipelines.shared import data
from pipelines.shared.common import map_seeds
from pipelines.shared.structural import on_meta
from pipelines.shared.train import accuracy, fit


def load(cfg: dict) -> dict:
    if cfg["data"] == "digits":
        (xtr, ytr), (xte, yte) = data.digits(image_size=cfg["image_size"], test_fraction=0.3, split_seed=0)
    else:
        import torchvision.transforms as T

        xtr, ytr = data.to_tensors(data.torchvision_dataset("MNIST", train=True, transform=T.ToTensor()))
        xte, yte = data.to_tensors(data.torchvision_dataset("MNIST", train=False, transform=T.ToTensor()))
    cam = data.skimage_gray("camera")[None]
    return dict(xtr=xtr, ytr=ytr, xte=xte, yte=yte, photo=F.interpolate(cam, size=(cfg["photo_size"],) * 2, mode="area"))


def lag1_correlation(x: torch.Tensor) -> float:
    """Mean correlation of horizontally and vertically neighbouring pixels (images pooled)."""
    a = torch.cat([x[..., :, 1:].flatten(), x[..., 1:, :].flatten()])
    b = torch.cat([x[..., :, :-1].flatten(), x[..., :-1, :].flatten()])
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def spectral_centroid(d: torch.Tensor) -> float:
    """Radially averaged power-spectrum centroid (cycles per pixel) of a 2-D image: higher = finer patterns."""
    img = d.squeeze().numpy()
    p = np.abs(np.fft.fftshift(np.fft.fft2(img - img.mean()))) ** 2
    h, w = p.shape
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((yy - h // 2) / h, (xx - w // 2) / w)
    return float((r * p).sum() / p.sum())


def train_cnn(cfg: dict, ds: dict, width: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = DD.digit_cnn(width=width)
    fit(net, ds["xtr"], ds["ytr"], epochs=cfg["epochs"], batch_size=cfg["cnn_batch_size"], seed=seed,
        optimizer=torch.optim.Adam(net.parameters(), lr=cfg["cnn_lr"]))
    return net.eval()


def dream_gains(a: torch.nn.Module, photo: torch.Tensor, cfg: dict, seed: int, layer: int = 2) -> dict:
    """The feedback loop (the notebook's dream) and its open-loop comparator (every step's gradient taken at the
    octave's starting image) from the same jitter draws: the layer's activation norm after / before each."""
    out = {}
    for arm, feedback in (("", True), ("_open_loop", False)):
        g = torch.Generator().manual_seed(seed)
        x = DD.dream(a, photo, layer, steps=cfg["dream_steps"], octaves=cfg["octaves"], octave_scale=1.4,
                     jitter=cfg["jitter"], generator=g, feedback=feedback)
        with torch.no_grad():
            gain = DD.layer_output(a, x, layer).norm() / DD.layer_output(a, photo, layer).norm()
        out[f"activation_gain_conv{layer + 1}{arm}"] = gain.item()
        out[f"dream_conv{layer + 1}{arm}"] = x
    return out


def per_seed(cfg: dict, ds: dict, seed: int) -> dict:
    a, b = train_cnn(cfg, ds, cfg["width_a"], seed), train_cnn(cfg, ds, cfg["width_b"], 1000 + seed)  # CNN-B: other seed and width
    for p in list(a.parameters()) + list(b.parameters()):
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    out = {"acc_a": accuracy(a, ds["xte"], ds["yte"]), "acc_b": accuracy(b, ds["xte"], ds["yte"])}
    photo = ds["photo"]
    dreams = {}
    for layer in (0, 2):  # conv1 vs conv3
        r = dream_gains(a, photo, cfg, seed, layer)
        dreams[layer] = x = r.pop(f"dream_conv{layer + 1}")
        r.pop(f"dream_conv{layer + 1}_open_loop")
        out.update(r)
        out[f"spectral_centroid_change_conv{layer + 1}"] = spectral_centroid(x - photo)
    with torch.no_grad():
        p0 = F.softmax(a(photo), 1)[0]
        top = int(p0.argmax())
        out["top_class_prob_gain_conv3"] = (F.softmax(a(dreams[2]), 1)[0, top] - p0[top]).item()
    targets = torch.arange(10)
    shape = tuple(ds["xtr"].shape[1:])
    vis = {}
    for arm, prior in (("prior", True), ("noprior", False)):
        x = DD.visualize_class(a, targets, shape, steps=cfg["vis_steps"], prior=prior, generator=g,
                               log_prob=cfg["vis_log_prob"])
        vis[arm] = x
        with torch.no_grad():
            out[f"target_prob_a_{arm}"] = F.softmax(a(x), 1).gather(1, targets[:, None]).mean().item()
            out[f"agreement_b_{arm}"] = (b(x).argmax(1) == targets).float().mean().item()
        out[f"lag1_corr_{arm}"] = lag1_correlation(x)
    out["lag1_corr_real"] = lag1_correlation(ds["xte"][:200])
    out["images"] = {"photo": photo, "dreams": dreams, "vis": vis}
    return out


def _figures(run, imgs) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(3, 10, figsize=(12, 4.2))
    panels = [imgs["photo"], imgs["dreams"][0], imgs["dreams"][2]]
    for j, (im, t) in enumerate(zip(panels, ["camera (input)", "dream: conv1", "dream: conv3"])):
        ax[0, j].imshow(im.squeeze().numpy(), cmap="gray")
        ax[0, j].set_title(t, fontsize=7)
    for row, arm in ((1, "prior"), (2, "noprior")):
        for c in range(10):
            ax[row, c].imshow(imgs["vis"][arm][c, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax[row, c].set_title(f"class {c}, {'prior' if arm == 'prior' else 'no prior'}", fontsize=6)
    for a in ax.flat:
        a.set_xticks([]), a.set_yticks([])
    fig.tight_layout()
    fig.savefig(run.figures / "dreams_and_class_visualisations.png", dpi=90, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    seeds = run.seeds(cfg["seeds"])
    res = map_seeds(functools.partial(per_seed, cfg, load(cfg)), seeds)
    googlenet = on_meta(lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False))
    metrics = {"googlenet_depth_parameterized_layers": DD.parameterized_depth(googlenet),
               "digit_cnn_depth_parameterized_layers": DD.parameterized_depth(DD.digit_cnn(width=cfg["width_a"]))}
    keys = [k for k in res[0] if k != "images"]
    for k in keys:
        metrics[k] = [r[k] for r in res]
    metrics["log_activation_gain_conv3"] = [float(np.log(r["activation_gain_conv3"])) for r in res]
    metrics["log_gain_ratio_feedback_over_open_loop_conv3"] = [
        float(np.log(r["activation_gain_conv3"] / r["activation_gain_conv3_open_loop"])) for r in res]
    metrics["centroid_conv1_minus_conv3"] = [r["spectral_centroid_change_conv1"] - r["spectral_centroid_change_conv3"] for r in res]
    metrics["lag1_gap_to_real_noprior_minus_prior"] = [abs(r["lag1_corr_noprior"] - r["lag1_corr_real"]) - abs(r["lag1_corr_prior"] - r["lag1_corr_real"]) for r in res]
    metrics["agreement_b_prior_minus_noprior"] = [r["agreement_b_prior"] - r["agreement_b_noprior"] for r in res]
    _figures(run, res[0]["images"])
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": (f"sklearn digits upsampled to {cfg['image_size']}x{cfg['image_size']} (1258 train / 539 test)" if cfg["data"] == "digits"
                 else "MNIST (torchvision) 28x28") + f"; skimage camera resized to {cfg['photo_size']}x{cfg['photo_size']}",
        "cnns": f"CNN-A width {cfg['width_a']} (visualised), CNN-B width {cfg['width_b']} (judge), {cfg['epochs']} epochs Adam {cfg['cnn_lr']:g}, batch {cfg['cnn_batch_size']}",
        "dream": f"{cfg['octaves']} octaves x {cfg['dream_steps']} steps, scale 1.4, jitter {cfg['jitter']}, L2 objective; "
                 "open loop: the same steps with every gradient taken at the octave's starting image",
        "class_visualisation": f"Adam 0.05 on the class {'log-probability' if cfg['vis_log_prob'] else 'logit'}, {cfg['vis_steps']} steps from noise; prior = TV weight 3, +-2 px jitter, 3x3 blur every 10 steps",
        "googlenet": "torchvision googlenet on the meta device, aux heads off"}}
