"""Spatial Transformer Networks (Jaderberg et al. 2015): the sampler's identity and gradients (exact), and
ST-FCN vs FCN on rotated-translated-scaled (RTS) digits: lower test error, poses undone, small overhead.

cpu: sklearn's digits (16 px) on a 32 px canvas; full: MNIST (28 px) on a 42 px canvas, as the paper's RTS set."""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from implementations.spatial_transformer import (SpatialTransformer, affine_warp, cnn, fcn, identity_theta, st_cnn,
                                                 st_cnn_multi, st_fcn, svhn_cnn)
from pipelines.shared import data
from pipelines.shared.common import map_seeds
from pipelines.shared.structural import count_macs, on_meta
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything

BUILDERS = {"fcn": fcn, "st_fcn": st_fcn, "cnn": cnn, "st_cnn": st_cnn}


# ------------------------------------------------------------------------------------------- exact checks
def sampler_checks() -> dict:
    """Identity theta reproduces the input; theta then theta^-1 recovers the interior of a smooth image;
    gradcheck of affine_grid + grid_sample w.r.t. the image U and theta in float64 (Sec. 3.3, Eq. 6-7)."""
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 24, 24, generator=g, dtype=torch.float64)  # float64: no float32 rounding of the grid
    identity_err = float((affine_warp(img, identity_theta(2, dtype=torch.float64)) - img).abs().max())

    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    smooth = torch.exp(-((xx - 0.1) ** 2 + (yy + 0.05) ** 2) / 0.3)[None, None]
    a, s = math.radians(20), 0.9
    theta = torch.tensor([[[s * math.cos(a), -s * math.sin(a), 0.05], [s * math.sin(a), s * math.cos(a), -0.04]]])
    full = torch.cat([theta[0], torch.tensor([[0.0, 0.0, 1.0]])])
    back = affine_warp(affine_warp(smooth, theta), torch.linalg.inv(full)[:2][None])
    inverse_err = float((back - smooth)[..., 16:48, 16:48].abs().max())

    u = torch.rand(1, 1, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    th = (identity_theta(1, dtype=torch.float64) + 0.1 * torch.rand(1, 2, 3, dtype=torch.float64, generator=g))
    gradcheck_ok = torch.autograd.gradcheck(lambda u, t: affine_warp(u, t), (u, th.requires_grad_()), eps=1e-6,
                                            atol=1e-5)
    return {"sampler_identity_max_abs_error": identity_err, "warp_inverse_interior_max_abs_error": inverse_err,
            "sampler_gradcheck_float64_passes": float(gradcheck_ok)}


# ------------------------------------------------------------------------------------------------ RTS data
def rts_distort(x: torch.Tensor, canvas: int, cfg: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste digits at the centre of a canvas, then rotate (+-max_rotation_deg), scale ([scale_min, scale_max])
    and translate (+-max_shift of the canvas side) each at random (Sec. 4.1, RTS). Returns the distorted images
    and each one's sampling matrix (3x3, output coords -> canonical canvas coords)."""
    g = torch.Generator().manual_seed(seed)
    n, pad = len(x), (canvas - x.shape[-1]) // 2
    x = F.pad(x, (pad, canvas - x.shape[-1] - pad, pad, canvas - x.shape[-1] - pad))
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(cfg["max_rotation_deg"])
    scale = cfg["scale_min"] + torch.rand(n, generator=g) * (cfg["scale_max"] - cfg["scale_min"])
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * cfg["max_shift"] * 2  # normalised coords span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale  # sampling by the inverse: digit grows by `scale`
    mats = torch.zeros(n, 3, 3)
    mats[:, 0, 0], mats[:, 0, 1], mats[:, 1, 0], mats[:, 1, 1] = cos, -sin, sin, cos
    mats[:, :2, 2], mats[:, 2, 2] = shift, 1.0
    return affine_warp(x, mats[:, :2]), mats


def rts_data(cfg: dict):
    if cfg["source"] == "digits":
        (xtr, ytr), (xte, yte) = data.digits(image_size=cfg["digit_size"], test_fraction=cfg["test_fraction"],
                                             split_seed=cfg["data_seed"])
    else:  # full profile: MNIST through torchvision (downloads on first use)
        import torchvision.transforms as T

        xtr, ytr = data.to_tensors(data.torchvision_dataset("MNIST", train=True, transform=T.ToTensor()))
        xte, yte = data.to_tensors(data.torchvision_dataset("MNIST", train=False, transform=T.ToTensor()))
    k, canvas = cfg["distortions_train"], cfg["canvas"]
    xtr, _ = rts_distort(xtr.repeat(k, 1, 1, 1), canvas, cfg, cfg["data_seed"])
    xte, pose = rts_distort(xte.repeat(cfg["distortions_test"], 1, 1, 1), canvas, cfg, cfg["data_seed"] + 1)
    return (xtr, ytr.repeat(k)), (xte, yte.repeat(cfg["distortions_test"]), pose)


def _angle_and_shift(mats: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Rotation angle of each affine matrix's linear part, and its translation."""
    angle = torch.atan2(mats[:, 1, 0] - mats[:, 0, 1], mats[:, 0, 0] + mats[:, 1, 1])
    return angle.numpy(), mats[:, :2, 2].numpy()


def pose_spread_ratios(model, x: torch.Tensor, pose: torch.Tensor) -> tuple[float, float]:
    """How much of the random pose the transformer undoes: the spread (std) of the rotation angle and of the
    translation of the map from ST output to the canonical digit, over the spread of the input's own pose."""
    with torch.no_grad():
        theta = model[0].theta(x)
    composite = pose @ torch.cat([theta, torch.tensor([0.0, 0.0, 1.0]).expand(len(x), 1, 3)], 1)
    a_in, t_in = _angle_and_shift(pose)
    a_out, t_out = _angle_and_shift(composite)
    return float(a_out.std() / a_in.std()), float(np.sqrt(t_out.var(0).sum() / t_in.var(0).sum()))


# ------------------------------------------------------------------------------------------------- training
def _train_arm(cfg: dict, job: tuple[str, int]) -> dict:
    arm, seed = job
    (xtr, ytr), (xte, yte, pose) = cfg["data"]
    seed_everything(seed)
    model = BUILDERS[arm](image_size=cfg["canvas"])
    if arm.startswith("st_"):  # the localisation net learns more slowly (appendix: a lower learning rate)
        loc = list(model[0].parameters())
        rest = [p for p in model.parameters() if all(p is not q for q in loc)]
        groups = [{"params": rest}, {"params": loc, "lr": cfg["lr"] * cfg["loc_lr_factor"]}]
    else:
        groups = model.parameters()
    opt = make_optimizer(groups, name="adam", lr=cfg["lr"])
    fit(model, xtr, ytr, epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=seed, optimizer=opt,
        device=cfg["device"])
    model.cpu().eval()
    out = {"test_error": 1.0 - accuracy(model, xte, yte)}
    if arm.startswith("st_"):
        out["angle_ratio"], out["shift_ratio"] = pose_spread_ratios(model, xte, pose)
        with torch.no_grad():
            out["example"] = (xte[:12], model[0](xte[:12]))
    return out


def sampler_macs(model: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of the grid generators and bilinear samplers (which torch's FLOP counter does not see), one
    forward pass of a single input: per output location 6 for T_theta (Eq. 1), per output value 4 for the bilinear
    weights of its four neighbours (Eq. 5)."""
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(o.shape)) for m in model.modules()
             if isinstance(m, SpatialTransformer)]
    with torch.no_grad():
        model(torch.zeros((1, *input_shape), device="meta"))
    for h in hooks:
        h.remove()
    return sum(6 * h * w + 4 * c * h * w for _, c, h, w in shapes)


def overhead_macs(size: int, **kw) -> dict:
    """Sec. 4.2: "In terms of computation speed, the ST-CNN Multi model is only 6% slower (forward and backward
    pass) than the CNN". The computation of the built SVHN CNN and ST-CNN Multi (meta device, size x size RGB input):
    convolutions and fully connected layers by torch's FLOP counter, plus the samplers; the backward pass of each
    layer costs a fixed multiple of its forward pass, so the forward ratio is the forward + backward ratio."""
    shape = (3, size, size)
    cnn_macs = count_macs(on_meta(lambda: svhn_cnn(image_size=size, **kw)), shape)
    st = on_meta(lambda: st_cnn_multi(image_size=size, **kw))
    st_macs = count_macs(st, shape) + sampler_macs(st, shape)
    return {"macs_svhn_cnn": cnn_macs, "macs_st_cnn_multi": st_macs, "macs_ratio_st_cnn_multi_over_cnn": st_macs / cnn_macs}


def save_examples(path, before: torch.Tensor, after: torch.Tensor) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(before)
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.6))
    for i in range(n):
        for row, img in enumerate((before[i], after[i])):
            axes[row, i].imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[row, i].axis("off")
    axes[0, 0].set_title("RTS input", fontsize=8, loc="left")
    axes[1, 0].set_title("ST output", fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    seeds, arms = run.seeds(cfg["seeds"]), list(cfg["arms"])
    cfg = {**cfg, "device": run.device, "data": rts_data(cfg)}
    metrics = sampler_checks()
    metrics.update(overhead_macs(cfg["svhn_size"]))
    jobs = [(a, s) for s in seeds for a in arms]
    outs = (map_seeds(functools.partial(_train_arm, cfg), jobs, label="arm, seed") if run.device == "cpu"
            else [_train_arm(cfg, j) for j in jobs])
    results = dict(zip(jobs, outs))
    for arm in arms:
        metrics[f"test_error_{arm}"] = [results[arm, s]["test_error"] for s in seeds]
    for base in ("fcn", "cnn"):
        if base in arms and f"st_{base}" in arms:
            metrics[f"log_error_ratio_st_{base}_over_{base}"] = [
                math.log(max(results[f"st_{base}", s]["test_error"], 1e-4) / max(results[base, s]["test_error"], 1e-4))
                for s in seeds]
            metrics[f"test_error_st_{base}_minus_{base}"] = [
                results[f"st_{base}", s]["test_error"] - results[base, s]["test_error"] for s in seeds]
    st = next(a for a in arms if a.startswith("st_"))
    metrics["log_pose_angle_spread_ratio"] = [math.log(results[st, s]["angle_ratio"]) for s in seeds]
    metrics["log_pose_shift_spread_ratio"] = [math.log(results[st, s]["shift_ratio"]) for s in seeds]
    save_examples(run.figures / "st_examples.png", *results[st, seeds[0]]["example"])

    setting = {"data": f"{cfg['source']} ({cfg['digit_size']} px digits) on a {cfg['canvas']} px canvas, RTS: "
                       f"rotation +-{cfg['max_rotation_deg']} deg, scale [{cfg['scale_min']}, {cfg['scale_max']}], "
                       f"shift +-{cfg['max_shift']} of the side; {cfg['distortions_train']} distortions per training "
                       f"digit, {cfg['distortions_test']} per test digit",
               "arms": arms, "epochs": cfg["epochs"], "optimizer": f"Adam lr {cfg['lr']} (localisation x "
               f"{cfg['loc_lr_factor']}), batch {cfg['batch_size']}", "pose_metrics_from": st,
               "overhead": f"multiply-adds of the built SVHN CNN (8 conv + 3 fully connected layers) and ST-CNN Multi "
                           f"(4 transformers, FC 32-32 localisation), {cfg['svhn_size']}x{cfg['svhn_size']} RGB input, "
                           f"samplers included"}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
