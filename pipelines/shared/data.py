"""Offline data sets (nothing is downloaded in the smoke and cpu profiles) and the full profile's loaders.

Every loader returns float32 tensors in memory: small data trains fastest without a DataLoader.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from pipelines.shared.common import REPO, DataUnavailable  # noqa: F401  (DataUnavailable: re-exported for the stages)

DATA_ROOT = Path(os.environ.get("PAPER_CLAIMS_DATA", REPO / "data"))


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded permutation of range(n) cut into (train, test) indices."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return perm[n_test:], perm[:n_test]


def digits(*, test_fraction: float = 0.3, split_seed: int = 0, image_size: int | None = None,
           standardize: bool = False, flatten: bool = False):
    """sklearn's 1,797 bundled 8x8 digits as ((Xtr, ytr), (Xte, yte)); pixels scaled to [0, 1].

    image_size: upsample (bilinear) to image_size x image_size, shape (N, 1, s, s). flatten: shape (N, 64).
    standardize: zero mean, unit variance per feature, with the training split's statistics.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    if image_size is not None and image_size != 8:
        X = torch.nn.functional.interpolate(X, size=(image_size, image_size), mode="bilinear", align_corners=False)
    if flatten:
        X = X.flatten(1)
    tr, te = split(len(y), test_fraction, split_seed)
    Xtr, Xte = X[tr], X[te]
    if standardize:
        mu, sd = Xtr.mean(0, keepdim=True), Xtr.std(0, keepdim=True).clamp_min(1e-6)
        Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    return (Xtr, y[tr]), (Xte, y[te])


def mnist1d(*, num_samples: int = 5000, seed: int = 42, train_split: float = 0.8):
    """MNIST-1D from its procedural generator (never its download): ((Xtr, ytr), (Xte, yte)), X of shape (N, 40)."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = num_samples, seed, train_split
    d = make_dataset(args)
    as_x = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(np.asarray(a), dtype=torch.long)  # noqa: E731
    return (as_x(d["x"]), as_y(d["y"])), (as_x(d["x_test"]), as_y(d["y_test"]))


def skimage_gray(name: str) -> torch.Tensor:
    """One of skimage.data's bundled images as a (1, H, W) float tensor in [0, 1]."""
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.util import img_as_float

    img = img_as_float(getattr(skimage.data, name)())
    if img.ndim == 3:
        img = rgb2gray(img[..., :3])
    return torch.tensor(img, dtype=torch.float32).unsqueeze(0)


def random_labels(y: torch.Tensor, num_classes: int, fraction: float, seed: int) -> torch.Tensor:
    """Replace a `fraction` of the labels by uniformly drawn ones (Zhang et al.'s label corruption)."""
    g = torch.Generator().manual_seed(seed)
    y = y.clone()
    corrupt = torch.rand(len(y), generator=g) < fraction
    y[corrupt] = torch.randint(0, num_classes, (int(corrupt.sum()),), generator=g)
    return y


def touching_discs(n: int, size: int, *, discs: int, radius: tuple[int, int], noise: float, seed: int,
                   classes: int = 1):
    """Scenes of overlapping discs whose touching boundaries are a 1-px background gap, as touching cells.

    Returns images (n, 1 or 3, size, size) float32, instance maps (n, size, size) ints (0 = background),
    class maps (n, size, size) in 0..classes and a border mask (background pixels between two objects).
    classes > 1: each disc gets a random class and its colour (3 channels) says it, piecewise constant plus noise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    palette = rng.uniform(0.2, 1.0, size=(classes + 1, 3))
    palette[0] = 0.0
    images, instances, labels, borders = [], [], [], []
    for _ in range(n):
        inst = np.zeros((size, size), int)
        cls = np.zeros(discs + 1, int)
        for k in range(1, discs + 1):
            r = rng.integers(*radius, endpoint=True)
            cy, cx = rng.integers(r, size - r, size=2)
            inst[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = k  # later discs overlap earlier ones
            cls[k] = rng.integers(1, classes + 1)
        # a pixel touching another object (4-neighbourhood) becomes background: the separation border
        pad = np.pad(inst, 1)
        neigh = np.stack([pad[:-2, 1:-1], pad[2:, 1:-1], pad[1:-1, :-2], pad[1:-1, 2:]])
        border = ((neigh != inst) & (neigh > 0) & (inst > 0)).any(0) & (inst > 0)
        border &= inst < np.where(neigh > 0, neigh, 0).max(0)  # thin it: only the lower-index side of a contact
        inst[border] = 0
        lab = cls[inst]
        if classes == 1:
            brightness = rng.uniform(0.6, 1.0, size=discs + 1)
            img = np.where(inst > 0, brightness[inst], 0.0)
            img = np.where(border, 0.5 * brightness[np.maximum(neigh.max(0), 0)], img)[None]  # a faint membrane
        else:
            img = palette[lab].transpose(2, 0, 1)
        images.append(img + noise * rng.standard_normal(img.shape))
        instances.append(inst)
        labels.append(lab)
        borders.append(border)
    as_t = lambda a, dt: torch.tensor(np.stack(a), dtype=dt)  # noqa: E731
    return as_t(images, torch.float32), np.stack(instances), as_t(labels, torch.long), as_t(borders, torch.bool)


# ----------------------------------------------------------------------------------------- full profile
def torchvision_dataset(name: str, *, train: bool, transform=None, root: Path | None = None):
    """A torchvision data set (CIFAR10, MNIST, ...) downloaded to data/ on first use (full profile only)."""
    import torchvision

    root = Path(root or DATA_ROOT)
    cls = getattr(torchvision.datasets, name)
    try:
        return cls(str(root), train=train, download=True, transform=transform)
    except Exception as e:  # offline, proxy, checksum: say what to do instead of a stack of urllib frames
        raise DataUnavailable(
            f"could not load torchvision.datasets.{name} under {root} ({type(e).__name__}: {e}). The full profile "
            f"downloads it on first use: run with internet access once, or put the files there yourself "
            f"(set PAPER_CLAIMS_DATA to use another folder).") from e


def image_folder(path: str | Path | None, *, env: str = "IMAGENET_DIR", transform=None):
    """An ImageNet-style folder (one sub-folder per class) from a local path; nothing is downloaded."""
    import torchvision

    path = path or os.environ.get(env)
    if not path or not Path(path).is_dir():
        raise DataUnavailable(f"no image folder at {path!r}: set {env} (or the paper's `data_dir` in params.yaml) "
                              f"to a folder laid out as <class>/<image>, e.g. ImageNet's train/ or val/")
    return torchvision.datasets.ImageFolder(str(path), transform=transform)


def to_tensors(dataset, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a (small) map-style data set of (image tensor, label) into two tensors."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    xs, ys = zip(*(dataset[i] for i in range(n)))
    return torch.stack(list(xs)), torch.tensor(ys, dtype=torch.long)
