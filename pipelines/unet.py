"""U-Net: the paper's network measured on the meta device, Eq. 2 computed on exact geometry, and a scaled-down
U-Net trained on generated scenes of touching discs: with vs without skips, with vs without the weight map.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from implementations.unet import output_size, unet, weight_map, weighted_cross_entropy  # noqa: E402
from pipelines.common import map_seeds  # noqa: E402
from pipelines.data import touching_discs  # noqa: E402
from pipelines.structural import count_params, on_meta  # noqa: E402
from pipelines.train import seed_everything  # noqa: E402


def scenes(cfg: dict, n: int, seed: int):
    return touching_discs(n, cfg["image_size"], discs=cfg["discs"], radius=tuple(cfg["radius"]), noise=cfg["noise"],
                          seed=seed)


_CFG: dict = {}  # the stage's settings, set before the forked workers start


def train_and_score(job: tuple) -> dict:
    """One arm at one seed: train a padded U-Net, report foreground IoU and border recall on the test scenes."""
    arm, seed = job
    cfg = _CFG
    X, inst, y, _ = scenes(cfg, cfg["train_images"], seed=1000 + seed)
    Xte, _, yte, border_te = scenes(cfg, cfg["test_images"], seed=5000)  # one fixed test set for every run
    y = (y > 0).long()
    w = torch.tensor(np.stack([weight_map(i, w0=cfg["w0"], sigma=cfg["sigma"]) for i in inst]), dtype=torch.float32)
    if arm != "skip_weightmap":
        w = torch.ones_like(w)
    seed_everything(seed)
    model = unet(base=cfg["base"], depth=cfg["depth"], padding=1, skips=arm != "noskip")
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(cfg["steps"]):
        idx = torch.randint(0, len(y), (cfg["batch_size"],), generator=gen)
        loss = weighted_cross_entropy(model(X[idx]), y[idx], w[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(Xte).argmax(1)
    fg, truth = pred == 1, yte > 0
    iou = (fg & truth).sum().item() / max((fg | truth).sum().item(), 1)
    border_recall = (~fg & border_te).sum().item() / max(border_te.sum().item(), 1)
    return {"iou": iou, "border_recall": border_recall, "pred": pred[:3].numpy()}


def structural() -> dict:
    model = on_meta(lambda: unet())
    convs = sum(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in model.modules())
    out = model(torch.zeros(1, 1, 572, 572, device="meta"))
    # Eq. 2 on exact geometry: two objects separated by a straight gap of g background pixels have d1 + d2 = g + 1
    # at every gap pixel, so w - w_c = w0 exp(-(g + 1)^2 / 2 sigma^2); the weights must fall with the gap width
    excess = {}
    for gap in (1, 2, 4, 8):
        inst = np.zeros((20, 40), int)
        inst[:, :15], inst[:, 15 + gap:] = 1, 2
        excess[gap] = float(weight_map(inst)[10, 15] - 1.0)
    far = np.zeros((64, 64), int)
    far[:4, :4], far[-4:, -4:] = 1, 2
    return {
        "conv_layers": convs,
        "output_side_572": int(out.shape[-1]),
        "output_side_572_formula": output_size(572),
        "param_count_unet": count_params(model),
        "weight_excess_gap1": excess[1],
        "weight_excess_decreasing_with_gap": float(all(excess[a] > excess[b] for a, b in zip((1, 2, 4), (2, 4, 8)))),
        "weight_excess_far_from_objects": float(weight_map(far)[32, 32] - 1.0),
    }


def save_figure(cfg: dict, results: dict, path) -> None:
    X, _, y, _ = scenes(cfg, cfg["test_images"], seed=5000)
    arms = list(results)
    fig, axes = plt.subplots(3, 2 + len(arms), figsize=(2 * (2 + len(arms)), 6))
    for r in range(3):
        axes[r, 0].imshow(X[r, 0], cmap="gray")
        axes[r, 1].imshow(y[r] > 0, cmap="gray")
        for c, arm in enumerate(arms):
            axes[r, 2 + c].imshow(results[arm][0]["pred"][r], cmap="gray")
    for c, title in enumerate(["image", "truth"] + arms):
        axes[0, c].set_title(title, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)


def measure(cfg: dict, run) -> dict:
    metrics = structural()
    arms = ["noskip", "skip", "skip_weightmap"]
    seeds = list(range(cfg["seeds"]))
    jobs = [(arm, s) for arm in arms for s in seeds]
    _CFG.update(cfg)
    outs = map_seeds(train_and_score, jobs, label="arm/seed")
    results = {arm: [o for (a, s), o in zip(jobs, outs) if a == arm] for arm in arms}
    per = lambda arm, k: [r[k] for r in results[arm]]  # noqa: E731
    for arm in arms:
        metrics[f"iou_{arm}"] = per(arm, "iou")
        metrics[f"border_recall_{arm}"] = per(arm, "border_recall")
    metrics["iou_skip_minus_noskip"] = [a - b for a, b in zip(per("skip", "iou"), per("noskip", "iou"))]
    metrics["border_recall_weightmap_minus_plain"] = [
        a - b for a, b in zip(per("skip_weightmap", "border_recall"), per("skip", "border_recall"))]
    metrics["iou_weightmap_minus_plain"] = [a - b for a, b in zip(per("skip_weightmap", "iou"), per("skip", "iou"))]
    save_figure(cfg, results, run.figures / "masks.png")
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "data": f"generated scenes of {cfg['discs']} overlapping discs, {cfg['image_size']}^2, touching discs split by a "
                f"1-px background border drawn as a faint membrane, Gaussian noise {cfg['noise']}; "
                f"{cfg['train_images']} training scenes per seed, one fixed set of {cfg['test_images']} test scenes",
        "model": f"padded U-Net, depth {cfg['depth']}, base width {cfg['base']}",
        "training": f"Adam lr {cfg['lr']}, {cfg['steps']} steps of batch {cfg['batch_size']}",
        "weight_map": f"Eq. 2, w0 = {cfg['w0']}, sigma = {cfg['sigma']}, w_c = 1",
        "arms": arms}}
