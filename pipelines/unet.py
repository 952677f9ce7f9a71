"""U-Net: the paper's network measured on the meta device, Eq. 2 computed on exact geometry, and a scaled-down
U-Net trained on generated scenes of touching discs: with vs without skips, with vs without the weight map.
full: also the paper's U-Net (padded convolutions) on the ISBI 2012 EM stack, PhC-U373 and DIC-HeLa from local folders,
scored on held-out slices / a held-out sequence (the challenges' hidden test labels are not available).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import functools  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from scipy import ndimage  # noqa: E402

from implementations.unet import output_size, unet, weight_map, weighted_cross_entropy  # noqa: E402
from pipelines.shared.common import map_arms, progress  # noqa: E402
from pipelines.shared.data import DataUnavailable, touching_discs  # noqa: E402
from pipelines.shared.structural import count_params, on_meta  # noqa: E402
from pipelines.shared.train import seed_everything  # noqa: E402


def scenes(cfg: dict, n: int, seed: int):
    return touching_discs(n, cfg["image_size"], discs=cfg["discs"], radius=tuple(cfg["radius"]), noise=cfg["noise"],
                          seed=seed)


def train_and_score(cfg: dict, job: tuple) -> dict:
    """One arm at one seed: train a padded U-Net, report foreground IoU and border recall on the test scenes."""
    arm, seed = job
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


# ------------------------------------------------------------------- full profile: ISBI 2012 EM and PhC-U373
def read_tif(path: Path) -> np.ndarray:
    import tifffile

    return np.asarray(tifffile.imread(path))


def isbi2012(folder) -> tuple[np.ndarray, np.ndarray]:
    """The ISBI 2012 EM training stack: (30, 512, 512) images and labels (255 = cell interior, 0 = membrane)."""
    folder = Path(folder or "")
    files = [folder / "train-volume.tif", folder / "train-labels.tif"]
    if not all(f.is_file() for f in files):
        raise DataUnavailable(
            f"ISBI 2012 EM data not found in {str(folder)!r}: download train-volume.tif and train-labels.tif of the "
            f"'Segmentation of neuronal structures in EM stacks' challenge (https://imagej.net/events/isbi-2012-"
            f"segmentation-challenge, after registering) into one folder and set unet.full.isbi_dir in params.yaml")
    return read_tif(files[0]), read_tif(files[1])


CELL_TRACKING = {"phc_u373": "PhC-C2DH-U373", "dic_hela": "DIC-C2DH-HeLa"}  # Table 2's two data sets


def cell_tracking_sequence(folder, sequence: str, dataset: str = "phc_u373") -> tuple[np.ndarray, np.ndarray]:
    """The annotated frames of one Cell Tracking Challenge sequence: images <seq>/tNNN.tif and instance masks
    <seq>_GT/SEG/man_segNNN.tif (0 = background), as lists of equal-sized arrays."""
    folder = Path(folder or "")
    masks = sorted((folder / f"{sequence}_GT" / "SEG").glob("man_seg*.tif"))
    if not masks:
        raise DataUnavailable(
            f"no Cell Tracking Challenge data in {str(folder)!r} (looked for {sequence}_GT/SEG/man_seg*.tif): download "
            f"the {CELL_TRACKING[dataset]} training data set (http://celltrackingchallenge.net/2d-datasets/), unzip it "
            f"and set unet.full.{dataset}_dir in params.yaml to the folder holding 01/, 01_GT/, 02/, 02_GT/")
    images = [read_tif(folder / sequence / f"t{m.stem[len('man_seg'):]}.tif") for m in masks]
    return np.stack(images).astype(np.float32), np.stack([read_tif(m) for m in masks]).astype(np.int64)


def standardize(images: np.ndarray) -> torch.Tensor:
    x = torch.tensor(images, dtype=torch.float32)[:, None]
    return (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True).clamp_min(1e-6)


def predict_whole(model, x: torch.Tensor, device: str, multiple: int, *, proba: bool = False) -> torch.Tensor:
    """Class map of whole images (or, proba=True, the soft-max class probabilities): mirror-padded to a multiple of
    2^depth (the paper's mirroring of the border)."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    with torch.no_grad():
        out = model(F.pad(x.to(device), (0, pw, 0, ph), mode="reflect"))[..., :h, :w]
    return out.softmax(1).cpu() if proba else out.argmax(1).cpu()


def train_real(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, cfg: dict, seed: int, device: str, desc: str):
    """The paper's U-Net (64..1024 channels, 4 poolings, padded 3x3 convs) trained on random crops with flips and
    90-degree rotations (Sec. 3.1's shift and rotation invariance; elastic deformations are not used)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = unet(base=cfg["real_base"], depth=cfg["real_depth"], padding=1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["real_lr"])
    crop = cfg["real_crop"]
    for _ in progress(range(cfg["real_steps"]), desc=desc, enabled=cfg.get("show_progress", False)):
        idx = torch.randint(0, len(X), (cfg["real_batch_size"],), generator=gen)
        top = int(torch.randint(0, X.shape[-2] - crop + 1, (1,), generator=gen))
        left = int(torch.randint(0, X.shape[-1] - crop + 1, (1,), generator=gen))
        k, flip = int(torch.randint(0, 4, (1,), generator=gen)), bool(torch.randint(0, 2, (1,), generator=gen))
        batch = [t[idx][..., top:top + crop, left:left + crop] for t in (X, y, w)]
        batch = [b.rot90(k, (-2, -1)) for b in batch]
        if flip:
            batch = [b.flip(-1) for b in batch]
        xb, yb, wb = (b.to(device) for b in batch)
        loss = weighted_cross_entropy(model(xb), yb, wb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def rand_error(segments_true: np.ndarray, segments_pred: np.ndarray) -> float:
    """1 - foreground-restricted Rand F-score (Arganda-Carreras et al. 2015): over the pixels the truth puts inside
    a cell (label > 0); pixels the prediction puts on a membrane (label 0) count as single-pixel segments."""
    keep = segments_true > 0
    t, p = segments_true[keep], segments_pred[keep].astype(np.int64)
    singles = p == 0
    p = np.where(singles, p.max() + 1 + np.arange(len(p)), p)
    _, t = np.unique(t, return_inverse=True)
    _, p = np.unique(p, return_inverse=True)
    joint = np.unique(t * (p.max() + 1) + p, return_counts=True)[1].astype(np.float64)
    sum_joint = (joint ** 2).sum()
    split = sum_joint / (np.bincount(p).astype(np.float64) ** 2).sum()
    merge = sum_joint / (np.bincount(t).astype(np.float64) ** 2).sum()
    return float(1.0 - 2 * split * merge / (split + merge))


_SIMPLE: np.ndarray | None = None


def simple_point_table() -> np.ndarray:
    """For each of the 512 binary 3x3 patches (bit 3 * row + col), whether its centre is a simple point for
    4-connected foreground and 8-connected background: flipping it changes no topology. Bertrand & Malandain's
    topological numbers (1994), as the ISBI 2012 challenge's WarpingError.simple2D computes them: T4 = the
    4-connected foreground components of the 8-neighbourhood (centre left out) that touch a 4-neighbour, T8 = the
    8-connected background components of the 8-neighbourhood; simple when both are 1."""
    global _SIMPLE
    if _SIMPLE is None:
        four = ndimage.generate_binary_structure(2, 1)
        eight = np.ones((3, 3), bool)
        cross = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], bool)
        table = np.zeros(512, bool)
        for code in range(512):
            patch = ((code >> np.arange(9)) & 1).reshape(3, 3).astype(bool)
            fg, bg = patch.copy(), ~patch
            fg[1, 1] = bg[1, 1] = False
            lab_fg = ndimage.label(fg, four)[0]
            t4 = len(np.unique(lab_fg[cross & (lab_fg > 0)]))
            t8 = ndimage.label(bg, eight)[1]
            table[code] = t4 == 1 and t8 == 1
        _SIMPLE = table
    return _SIMPLE


def warping_error(truth: np.ndarray, proposal: np.ndarray, threshold: float = 0.5) -> float:
    """The ISBI 2012 challenge's warping error (Jain et al., CVPR 2010), as its Fiji implementation
    (trainableSegmentation.metrics.WarpingError, simplePointWarp2d) computes it for one slice.

    truth: binary labels, 1 = cell interior (the 255 of train-labels.tif), 0 = membrane. proposal: the probability
    of 'cell interior' in [0, 1], binarised at `threshold`. The truth is warped towards the binarised proposal by
    flipping only simple points (4-connected cells, 8-connected membrane), mismatches taken in order of the
    proposal's confidence |p - threshold|, pass after pass until a pass changes nothing; the warping error is the
    fraction of pixels that still disagree: the topological mistakes (splits, mergers, missing or extra objects
    and holes) that no topology-preserving deformation of the truth can remove."""
    table = simple_point_table()
    h, w = truth.shape
    src = np.zeros((h + 2, w + 2), np.uint8)  # zero frame: the membrane around the image, no border checks
    src[1:-1, 1:-1] = truth > 0
    real = np.zeros((h + 2, w + 2))
    real[1:-1, 1:-1] = proposal
    target = (real > threshold).astype(np.uint8)
    weights = 1 << np.arange(9).reshape(3, 3)
    diff, before = -1, None
    while True:
        ys, xs = np.nonzero(src != target)
        diff = len(ys)
        if diff == 0 or diff == before:
            break
        before = diff
        order = np.lexsort((ys, xs, -np.abs(real[ys, xs] - threshold)))  # most confident first; x, then y on ties
        for y, x in zip(ys[order], xs[order]):
            if table[int((src[y - 1:y + 2, x - 1:x + 2] * weights).sum())]:
                src[y, x] ^= 1
    return diff / (h * w)


def seg_measure(instances_true: np.ndarray, foreground_pred: np.ndarray) -> float:
    """The Cell Tracking Challenge's SEG: mean over true objects of the Jaccard index with the predicted connected
    component covering more than half of it (0 when there is none)."""
    pred, _ = ndimage.label(foreground_pred)
    scores = []
    for i in np.unique(instances_true[instances_true > 0]):
        obj = instances_true == i
        ids, counts = np.unique(pred[obj], return_counts=True)
        best = ids[np.argmax(counts)]
        if best > 0 and counts.max() > 0.5 * obj.sum():
            scores.append((obj & (pred == best)).sum() / (obj | (pred == best)).sum())
        else:
            scores.append(0.0)
    return float(np.mean(scores))


def isbi_run(cfg: dict, seed: int, device: str) -> dict:
    images, labels = isbi2012(cfg["isbi_dir"])
    n = cfg["isbi_train_slices"]
    X, membrane = standardize(images), torch.tensor(labels == 0, dtype=torch.long)
    w = torch.ones(membrane.shape)  # the EM stack is trained without the border weights (Eq. 2 is for the cells)
    model = train_real(X[:n], membrane[:n], w[:n], cfg, seed, device, f"isbi seed {seed}")
    cell_proba = predict_whole(model, X[n:], device, 2 ** cfg["real_depth"], proba=True)[:, 0].numpy()
    pred = (cell_proba <= 0.5).astype(np.int64)  # 1 = membrane, as `membrane`
    truth = membrane[n:].numpy()
    rand = [rand_error(ndimage.label(t == 0)[0], ndimage.label(p == 0)[0]) for t, p in zip(truth, pred)]
    warp = [warping_error(t == 0, p) for t, p in zip(truth, cell_proba)]
    return {"pixel_error": float((pred != truth).mean()), "rand_error": float(np.mean(rand)),
            "warping_error": float(np.mean(warp))}


def cell_tracking_run(cfg: dict, seed: int, device: str, dataset: str = "phc_u373") -> float:
    """Train on sequence 01's annotated frames (Eq. 2 weights), SEG on sequence 02's."""
    (img_tr, inst_tr), (img_te, inst_te) = (cell_tracking_sequence(cfg[f"{dataset}_dir"], s, dataset)
                                            for s in ("01", "02"))
    w = torch.tensor(np.stack([weight_map(i, w0=cfg["w0"], sigma=cfg["sigma"]) for i in inst_tr]), dtype=torch.float32)
    model = train_real(standardize(img_tr), torch.tensor(inst_tr > 0, dtype=torch.long), w, cfg, seed, device,
                       f"{dataset} seed {seed}")
    pred = predict_whole(model, standardize(img_te), device, 2 ** cfg["real_depth"]).numpy()
    return float(np.mean([seg_measure(t, p == 1) for t, p in zip(inst_te, pred)]))


def measure_real(cfg: dict, run) -> tuple[dict, dict]:
    cfg = {**cfg, "show_progress": run.show_progress}
    seeds = run.seeds(cfg["real_seeds"])
    isbi = [isbi_run(cfg, s, run.device) for s in seeds]
    metrics = {"isbi_heldout_pixel_error": [r["pixel_error"] for r in isbi],
               "isbi_heldout_rand_error": [r["rand_error"] for r in isbi],
               "isbi_heldout_warping_error": [r["warping_error"] for r in isbi],
               **{f"{d}_heldout_seg": [cell_tracking_run(cfg, s, run.device, d) for s in seeds] for d in CELL_TRACKING}}
    model = (f"U-Net base {cfg['real_base']}, depth {cfg['real_depth']}, padded 3x3 convs; Adam lr {cfg['real_lr']}, "
             f"{cfg['real_steps']} steps of {cfg['real_batch_size']} random {cfg['real_crop']}^2 crops with flips and "
             f"rotations; whole-image prediction with mirrored borders; seeds {seeds}")
    setting = {
        "isbi2012": f"ISBI 2012 EM training stack from {cfg['isbi_dir']}: slices 1-{cfg['isbi_train_slices']} train, "
                    f"the rest held out (the challenge's test labels are hidden); membrane vs cell, no border weights; "
                    f"pixel error, foreground-restricted Rand error (1 - Rand F-score of the connected cells) and "
                    f"the challenge's warping error (Jain et al. 2010; simple-point warping of the truth to the "
                    f"proposal binarised at 0.5, as Fiji's WarpingError) computed locally. {model}",
        "cell_tracking": f"Cell Tracking Challenge PhC-C2DH-U373 ({cfg['phc_u373_dir']}) and DIC-C2DH-HeLa "
                         f"({cfg['dic_hela_dir']}), each: annotated frames of sequence 01 train (Eq. 2 weights, w0 = "
                         f"{cfg['w0']}, sigma = {cfg['sigma']}), sequence 02 held out; SEG (matched-object Jaccard) of "
                         f"the predicted connected components. {model}"}
    return metrics, setting


def measure(cfg: dict, run) -> dict:
    # full: the real data first, so that a missing data set stops the stage before the small experiment runs
    real_metrics, real_setting = measure_real(cfg, run) if run.profile == "full" else ({}, {})
    metrics = structural()
    arms = ["noskip", "skip", "skip_weightmap"]
    seeds = run.seeds(cfg["seeds"])
    results = map_arms(functools.partial(train_and_score, cfg), arms, seeds)
    per = lambda arm, k: [r[k] for r in results[arm]]  # noqa: E731
    for arm in arms:
        metrics[f"iou_{arm}"] = per(arm, "iou")
        metrics[f"border_recall_{arm}"] = per(arm, "border_recall")
    metrics["iou_skip_minus_noskip"] = [a - b for a, b in zip(per("skip", "iou"), per("noskip", "iou"))]
    metrics["border_recall_weightmap_minus_plain"] = [
        a - b for a, b in zip(per("skip_weightmap", "border_recall"), per("skip", "border_recall"))]
    metrics["iou_weightmap_minus_plain"] = [a - b for a, b in zip(per("skip_weightmap", "iou"), per("skip", "iou"))]
    save_figure(cfg, results, run.figures / "masks.png")
    setting = {
        "data": f"generated scenes of {cfg['discs']} overlapping discs, {cfg['image_size']}^2, touching discs split by a "
                f"1-px background border drawn as a faint membrane, Gaussian noise {cfg['noise']}; "
                f"{cfg['train_images']} training scenes per seed, one fixed set of {cfg['test_images']} test scenes",
        "model": f"padded U-Net, depth {cfg['depth']}, base width {cfg['base']}",
        "training": f"Adam lr {cfg['lr']}, {cfg['steps']} steps of batch {cfg['batch_size']}",
        "weight_map": f"Eq. 2, w0 = {cfg['w0']}, sigma = {cfg['sigma']}, w_c = 1",
        "arms": arms}
    metrics.update(real_metrics)
    setting.update(real_setting)
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
