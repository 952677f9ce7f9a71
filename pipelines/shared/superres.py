"""Super-resolution plumbing of the SR papers (srcnn, espcn, perceptual_loss): luminance images, an aligned
degradation, sub-images, PSNR, a training loop, the comparison figure, convolution multiply-adds, and SRCNN's
train-and-evaluate run (the srcnn stage, and espcn's full-profile comparison with SRCNN 9-5-5).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from implementations.srcnn import srcnn
from pipelines.shared.data import DataUnavailable, skimage_gray
from pipelines.shared.train import seed_everything


def load_images(source: str | list[str], *, crop: int | None = None) -> list[torch.Tensor]:
    """Luminance images (1, H, W) in [0, 1]: skimage.data names, or every image file of a local folder (full
    profile: the 91-image set, Set5, Set14). crop: keep the centre crop x crop (skimage's images are large)."""
    if isinstance(source, str):
        folder = Path(source).expanduser()
        files = sorted(p for p in folder.glob("*") if p.suffix.lower() in {".png", ".bmp", ".jpg", ".jpeg", ".tif"})
        if not files:
            raise DataUnavailable(f"no images in {folder}: put the data set's image files there (see params.yaml)")
        from PIL import Image

        # ITU-R BT.601 luma, the Y of YCbCr that SR papers evaluate on
        imgs = [torch.tensor(np.asarray(Image.open(p).convert("YCbCr"))[..., 0] / 255.0, dtype=torch.float32)[None]
                for p in files]
    else:
        imgs = [skimage_gray(name) for name in source]
    if crop:
        imgs = [centre_crop(im, (min(crop, im.shape[-2]), min(crop, im.shape[-1]))) for im in imgs]
    return imgs


def centre_crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = (h - size[0]) // 2, (w - size[1]) // 2
    return x[..., top:top + size[0], left:left + size[1]]


def degrade(hr: torch.Tensor, scale: int, *, blur_sigma: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(HR cropped to a multiple of scale, its LR version). Antialiased bicubic downsampling with
    align_corners=False (MATLAB imresize's convention): LR pixel i covers HR pixels [i*r, (i+1)*r), so bicubic
    upsampling with align_corners=False lands back on the HR grid. Sampling at offset 0 (hr[::r]) would shift
    the grid by (r-1)/2 HR pixels and make bicubic look ~3 dB worse than it is. blur_sigma: a Gaussian blur
    first (Johnson et al. Sec. 4.2; Shi et al. Sec. 3.2)."""
    h, w = hr.shape[-2:]
    hr = hr[..., : h - h % scale, : w - w % scale]
    x = hr[None] if hr.dim() == 3 else hr
    if blur_sigma > 0:
        from torchvision.transforms.functional import gaussian_blur

        k = 2 * int(3 * blur_sigma) + 1
        x = gaussian_blur(x, [k, k], [blur_sigma, blur_sigma])
    lr = F.interpolate(x, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    return hr, lr[0] if hr.dim() == 3 else lr


def bicubic_up(lr: torch.Tensor, scale: int) -> torch.Tensor:
    x = lr[None] if lr.dim() == 3 else lr
    up = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
    return up[0] if lr.dim() == 3 else up


def patches(img: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """All size x size sub-images at the given stride, shape (N, C, size, size)."""
    c = img.shape[0]
    p = img.unfold(1, size, stride).unfold(2, size, stride)  # (C, nH, nW, size, size)
    return p.permute(1, 2, 0, 3, 4).reshape(-1, c, size, size)


def psnr(a: torch.Tensor, b: torch.Tensor, *, border: int = 0) -> float:
    """PSNR in dB of images in [0, 1], after shaving `border` pixels (the usual SR evaluation)."""
    if border:
        a, b = a[..., border:-border, border:-border], b[..., border:-border, border:-border]
    return float(10 * torch.log10(1.0 / F.mse_loss(a.clamp(0, 1), b)))


def forward_centred(net, x: torch.Tensor, out_offset: float = 0.5) -> torch.Tensor:
    """Inputs centred on 0 (x - 0.5 in, + 0.5 out): with short training, an un-centred first layer converges
    far slower (CLAIMS.md pilot: -0.8 dB vs +0.3 dB). A fixed affine change of units, not a change of model.
    out_offset=0 for a network whose output layer already maps to [0, 1]."""
    return net(x - 0.5) + out_offset


def train_sr(build, inputs: torch.Tensor, targets: torch.Tensor, *, steps: int, batch_size: int, lr: float, seed: int,
             loss_fn=F.mse_loss, out_offset: float = 0.5, device: str = "cpu", progress=None, cosine: bool = False):
    """Adam on random minibatches of (input, target) sub-images; targets are centre-cropped to the output's size
    (an unpadded SRCNN shrinks its input by f1 + f2 + f3 - 3 pixels). `build()` makes the network after the seed
    is set, so that its initial weights depend on the seed alone. cosine=True anneals the learning rate to 0 over
    the steps (short runs end closer to a minimum than with a constant rate)."""
    gen = seed_everything(seed)
    net = build().to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    it = range(steps) if progress is None else progress(range(steps), total=steps, desc="train")
    for _ in it:
        idx = torch.randint(0, len(inputs), (batch_size,), generator=gen)
        x, y = inputs[idx].to(device), targets[idx].to(device)
        out = forward_centred(net, x, out_offset)
        loss = loss_fn(out, centre_crop(y, out.shape[-2:]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    return net.eval()


def least_squares_filter(inputs: torch.Tensor, targets: torch.Tensor, size: int, *, chunk: int = 256) -> torch.nn.Conv2d:
    """The best linear filter (size x size weights and a bias, unpadded) from input to target sub-images in the
    least-squares sense: the normal equations accumulated over every output pixel in float64, then solved. With the
    support of an unpadded network (SRCNN 9-1-5: 9 + 1 + 5 - 2 = 13), it is the optimum that any network without
    non-linearities can reach on the training MSE (a composition of convolutions is one convolution)."""
    k = size * size
    ata = torch.zeros(k + 1, k + 1, dtype=torch.float64)
    atb = torch.zeros(k + 1, dtype=torch.float64)
    for start in range(0, len(inputs), chunk):
        x = inputs[start:start + chunk, 0].double() - 0.5  # the same centring as forward_centred
        cols = x.unfold(1, size, 1).unfold(2, size, 1)  # (n, H - size + 1, W - size + 1, size, size)
        a = torch.cat([cols.reshape(-1, k), torch.ones(cols[..., 0, 0].numel(), 1, dtype=torch.float64)], 1)
        b = centre_crop(targets[start:start + chunk, 0].double(), cols.shape[1:3]).reshape(-1) - 0.5
        ata += a.T @ a
        atb += a.T @ b
    w = torch.linalg.solve(ata, atb).float()
    conv = torch.nn.Conv2d(1, 1, size)
    with torch.no_grad():
        conv.weight.copy_(w[:-1].reshape(1, 1, size, size))
        conv.bias.copy_(w[-1:])
    return conv.eval()


def save_comparison(path: Path, hr: torch.Tensor, panels: dict[str, torch.Tensor], title: str) -> None:
    """HR | bicubic | network outputs side by side, each with its PSNR in the caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3 * (len(panels) + 1), 3.3))
    axes[0].imshow(hr[0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("ground truth", fontsize=9)
    for ax, (name, img) in zip(axes[1:], panels.items()):
        ax.imshow(img[0].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{name}\n{psnr(img, centre_crop(hr, img.shape[-2:])):.2f} dB", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def lr_hr_patches(images: list[torch.Tensor], scale: int, lr_patch: int, lr_stride: int, *,
                  blur_sigma: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Degrade each HR image, then aligned sub-images: `lr_patch`-pixel LR inputs and the matching
    (lr_patch * scale)-pixel HR targets (ESPCN Sec. 3.2: 17r; Johnson et al. Sec. 4.2)."""
    xs, ys = [], []
    for hr in images:
        hr, lr = degrade(hr, scale, blur_sigma=blur_sigma)
        xs.append(patches(lr, lr_patch, lr_stride))
        ys.append(patches(hr, lr_patch * scale, lr_stride * scale))
    return torch.cat(xs), torch.cat(ys)


def conv_macs(model: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of the convolutions for one input, on the meta device: out pixels x C_in x k^2 each (transposed: in pixels x C_out x k^2).
    (pipelines.shared.structural.count_macs gives the same count, tests/test_espcn.py checks it, but its first call
    costs tens of seconds of FlopCounterMode start-up on a loaded machine.)"""
    total = 0

    def hook(m, inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, torch.nn.ConvTranspose2d):  # every input pixel scatters into k^2 x C_out outputs
            total += inp[0].numel() * (m.out_channels // m.groups) * k
        else:
            total += out.numel() * (m.in_channels // m.groups) * k

    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, convs)]
    with torch.no_grad():
        model(torch.zeros((1, *input_shape), device="meta"))
    for h in handles:
        h.remove()
    return total


# ------------------------------------------------------------------------------------------------- SRCNN
def _variant(name: str) -> dict:
    """"9-5-5" -> the filter sizes f1, f2, f3."""
    f1, f2, f3 = (int(k) for k in name.split("-")[:3])
    return {"f1": f1, "f2": f2, "f3": f3}


def build_srcnn(name: str) -> torch.nn.Sequential:
    """SRCNN variant `name`: "9-1-5", "9-5-5", ...; a "-linear" suffix ("9-1-5-linear") removes the ReLUs, the
    broken version whose layers compose into one linear filter (an ablation: it must not pass the claims that say
    the non-linear mapping matters)."""
    net = srcnn(**_variant(name))
    if name.endswith("-linear"):
        net = torch.nn.Sequential(*[m for m in net if not isinstance(m, torch.nn.ReLU)])
    return net


def srcnn_training_set(cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-images of the bicubic-upsampled LR image (input) and of the HR image (target), same positions
    (Sec. 4: 33x33, stride 14 on the 91 images)."""
    r, size, stride = cfg["scale"], cfg["patch"], cfg["stride"]
    xs, ys = [], []
    for hr in load_images(cfg["train_images"], crop=cfg.get("train_crop")):
        hr, lr = degrade(hr, r)
        xs.append(patches(bicubic_up(lr, r), size, stride))
        ys.append(patches(hr, size, stride))
    return torch.cat(xs), torch.cat(ys)


def srcnn_run(name: str, seed: int, cfg: dict) -> dict:
    """Train SRCNN variant `name` ("9-1-5") with one seed; PSNR of it and of bicubic on every test image (shaved
    border), and the first image's (HR, bicubic, SRCNN) as an example."""
    inputs, targets = srcnn_training_set(cfg)
    net = train_sr(lambda: build_srcnn(name), inputs, targets, steps=cfg["steps"], batch_size=cfg["batch_size"],
                   lr=cfg["lr"], seed=seed, device=cfg["device"], progress=cfg.get("progress"),
                   cosine=cfg.get("cosine", False))
    return score_on_upsampled(net, cfg)


def score_on_upsampled(net: torch.nn.Module, cfg: dict) -> dict:
    """PSNR of `net` (run on the bicubic-upsampled test images, input centred) and of bicubic on every test image,
    both on the net's output area minus the same `border` px from the image's edge; the first image as an example."""
    r, border = cfg["scale"], cfg["border"]
    shrink = sum(m.kernel_size[0] - 1 for m in net.modules() if isinstance(m, torch.nn.Conv2d)) // 2  # per side
    shave = max(0, border - shrink)  # the same border for every variant: `border` px from the image's edge
    res = {"net": [], "bicubic": [], "example": None}
    with torch.no_grad():
        for i, hr in enumerate(load_images(cfg["test_images"], crop=cfg.get("test_crop"))):
            hr, lr = degrade(hr, r)
            up = bicubic_up(lr, r)
            out = forward_centred(net, up[None].to(cfg["device"]))[0].cpu()  # (H - shrink) x (W - shrink)
            hr_c = centre_crop(hr, out.shape[-2:])
            res["net"].append(psnr(out, hr_c, border=shave))
            res["bicubic"].append(psnr(centre_crop(up, out.shape[-2:]), hr_c, border=shave))
            if i == 0:
                res["example"] = (hr, centre_crop(up, out.shape[-2:]), out)
    return res
