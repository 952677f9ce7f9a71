"""Rethinking-generalization stage: random-label memorisation, the corruption curve, input corruptions (shuffled
pixels, random pixels, Gaussian) and explicit regularisation (trained), Theorem 1's construction and minimum-norm
interpolation (exact), and the paper's model sizes (meta device).

cpu: sklearn digits (8x8, 70/30 split), MLP 64-512-10. full: CIFAR-10 28x28 crops with the small Inception of
Table 1 (and the MLP 1x512 on true labels), and ImageNet with random labels (Table 2) when `imagenet` is on.
Every arm trains until 100% running training accuracy or `max_epochs` (Sec. 2: "until the training loss is zero").
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from implementations.rethinking_generalization import (TwoLayerInterpolant, corrupt_inputs, gd_from_zero,
                                                        inception_small, min_norm_kernel_interpolant, mlp, rbf_kernel,
                                                        small_alexnet)
from pipelines.shared import data
from pipelines.shared.common import map_seeds
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.train import accuracy

INPUT_CORRUPTIONS = ("shuffled_pixels", "random_pixels", "gaussian")


def structural() -> dict:
    return {"param_count_mlp_1x512": count_params(on_meta(lambda: mlp(hidden=(512,)))),
            "param_count_mlp_3x512": count_params(on_meta(lambda: mlp(hidden=(512, 512, 512)))),
            "param_count_inception_small": count_params(on_meta(lambda: inception_small())),
            "param_count_inception_small_without_bn": count_params(on_meta(lambda: inception_small(batch_norm=False))),
            "param_count_small_alexnet": count_params(on_meta(lambda: small_alexnet()))}


def exact(cfg: dict) -> dict:
    g = torch.Generator().manual_seed(0)
    n, d = cfg["expressivity_n"], cfg["expressivity_d"]
    x, y = torch.randn(n, d, dtype=torch.float64, generator=g), torch.randn(n, dtype=torch.float64, generator=g)
    net = TwoLayerInterpolant(d, n).fit(x, y, generator=g)
    (Xtr, ytr), (Xte, yte) = data.digits(flatten=True, split_seed=0)
    Xtr, Xte = Xtr.double(), Xte.double()
    gamma = 1.0 / (Xtr.shape[1] * Xtr.var().item())  # sklearn's gamma="scale"
    K = rbf_kernel(Xtr, Xtr, gamma)
    out = {"expressivity_param_count": count_params(net), "expressivity_param_count_minus_2n_plus_d": count_params(net) - (2 * n + d),
           "expressivity_max_abs_error": (net(x) - y).abs().max().item()}
    for name, labels in (("true", ytr), ("random", data.random_labels(ytr, 10, 1.0, seed=1))):
        Y = torch.nn.functional.one_hot(labels, 10).double()
        alpha = min_norm_kernel_interpolant(K, Y)
        out[f"kernel_{name}_labels_train_max_abs_error"] = (K @ alpha - Y).abs().max().item()
        out[f"kernel_{name}_labels_test_acc"] = ((rbf_kernel(Xte, Xtr, gamma) @ alpha).argmax(1) == yte).double().mean().item()
        out[f"kernel_{name}_labels_rkhs_norm"] = torch.sqrt(torch.einsum("ik,ij,jk->", alpha, K, alpha)).item()
    A = torch.randn(cfg["lsq_rows"], cfg["lsq_cols"], dtype=torch.float64, generator=g)
    b = torch.randn(cfg["lsq_rows"], dtype=torch.float64, generator=g)
    lr = 1.0 / torch.linalg.matrix_norm(A, 2).item() ** 2
    out["gd_from_zero_distance_to_pinv_solution"] = (gd_from_zero(A, b, steps=cfg["lsq_steps"], lr=lr) - torch.linalg.pinv(A) @ b).norm().item()
    return out


def build(name: str, cfg: dict, in_shape: tuple[int, ...]) -> torch.nn.Module:
    if name == "mlp":
        return mlp(in_features=int(torch.tensor(in_shape).prod()), hidden=tuple(cfg["hidden"]))
    return {"inception": inception_small, "alexnet": small_alexnet}[name](in_ch=in_shape[0])


def _crop(x: torch.Tensor, size: int, g: torch.Generator | None) -> torch.Tensor:
    """size x size crops of a batch: centred (g None) or at a random offset per image (the paper's 'random crop')."""
    m = x.shape[-1] - size
    if g is None:
        return x[..., m // 2:m // 2 + size, m // 2:m // 2 + size]
    oy, ox = torch.randint(0, m + 1, (2, len(x)), generator=g)
    ar = torch.arange(size)
    rows, cols = (oy[:, None] + ar)[:, :, None], (ox[:, None] + ar)[:, None, :]
    return x.permute(0, 2, 3, 1)[torch.arange(len(x))[:, None, None], rows, cols].permute(0, 3, 1, 2)


def parse_arm(arm: str) -> dict:
    """'p0.5' (label corruption 0.5), 'shuffled_pixels' / 'random_pixels' / 'gaussian' (true labels, corrupted
    inputs), 'regularised' (true labels, weight decay + random crops), 'mlp_p0' (the MLP on the full profile)."""
    model = "mlp" if arm.startswith("mlp_") else None
    rest = arm[4:] if model else arm
    return {"model": model, "p": float(rest[1:]) if rest.startswith("p") else 0.0,
            "inputs": rest if rest in INPUT_CORRUPTIONS else None, "regularised": rest == "regularised"}


def fit_arm(cfg: dict, tensors, item: tuple[str, int]) -> dict:
    """Train one arm from one seed until it fits its training labels; returns epochs, accuracies, weight norm."""
    arm, seed = item
    a = parse_arm(arm)
    (Xtr, ytr), (Xte, yte) = tensors
    g = torch.Generator().manual_seed(seed)
    size = cfg["crop"]
    if a["p"] > 0:
        ytr = data.random_labels(ytr, 10, a["p"], seed=1000 + seed)
    if a["inputs"]:  # corrupt the model's input window (the centre crop), keep the stored border
        m = (Xtr.shape[-1] - size) // 2
        Xtr, Xte = _crop(Xtr, size, None), _crop(Xte, size, None)
        stats = dict(perm=torch.randperm(Xtr[0].numel(), generator=g), mean=Xtr.mean().item(), std=Xtr.std().item())
        Xtr, Xte = (F.pad(corrupt_inputs(x, a["inputs"], generator=g, **stats), (m,) * 4) for x in (Xtr, Xte))
    torch.manual_seed(seed)
    model = build(a["model"] or cfg["model"], cfg, (Xtr.shape[1], size, size)).to(cfg.get("device", "cpu"))
    wd = cfg["weight_decay"] if a["regularised"] else 0.0
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9, weight_decay=wd)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, cfg["lr_decay"])  # Sec. 2 / App. A: lr 0.1 x 0.95 per epoch
    dev, epochs = cfg.get("device", "cpu"), 0
    for epochs in range(1, cfg["max_epochs"] + 1):
        model.train()
        correct = 0
        for idx in torch.randperm(len(ytr), generator=g).split(cfg["batch_size"]):
            xb = _crop(Xtr[idx], size, g if a["regularised"] else None).to(dev)
            out = model(xb)
            loss = F.cross_entropy(out, ytr[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += (out.argmax(1).cpu() == ytr[idx]).sum().item()
        sched.step()
        if correct == len(ytr):
            break
    model.cpu()
    acc = lambda X, y: accuracy(model, _crop(X, size, None), y)  # noqa: E731
    shifted = _crop(Xte, size, torch.Generator().manual_seed(12_345))  # the same random shifts for every arm
    return {"epochs": epochs, "train_acc": acc(Xtr, ytr), "test_acc": acc(Xte, yte),
            "shifted_test_acc": accuracy(model, shifted, yte),
            "label_agreement": (ytr == tensors[0][1]).float().mean().item(),
            "weight_norm": torch.cat([p.detach().flatten() for p in model.parameters()]).norm().item()}


def load(cfg: dict, run):
    """Images stored larger than the model's input, so that 'regularised' can take random crops: digits padded
    8 -> 10 (crops of 8: shifts of +-1 pixel), CIFAR-10 at 32 (crops of 28, the paper's input; Sec. 2)."""
    if run.profile != "full":
        (Xtr, ytr), (Xte, yte) = data.digits(split_seed=0)
        pad = lambda x: F.pad(x, (1, 1, 1, 1))  # noqa: E731
        lim = cfg.get("train_limit")
        return (pad(Xtr)[:lim], ytr[:lim]), (pad(Xte), yte)
    from torchvision import transforms as T

    tf = T.Compose([T.ToTensor(), T.Normalize([0.5] * 3, [0.25] * 3)])
    return tuple(data.to_tensors(data.torchvision_dataset("CIFAR10", train=t, transform=tf)) for t in (True, False))


def imagenet_random_labels(cfg: dict, seed: int) -> dict:
    """Table 2: Inception V3 on ImageNet with every training label replaced by a random one (fixed per image), no
    augmentation or weight decay; top-1 / top-5 accuracy on the training images."""
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    from pipelines.shared.imagenet import TO_TENSOR
    from pipelines.shared.train import fit, topk_accuracy

    tf = v2.Compose([v2.Resize(342), v2.CenterCrop(299), *TO_TENSOR])
    ds = data.image_folder((cfg.get("imagenet_dir") or None) and f"{cfg['imagenet_dir']}/train", transform=tf)
    labels = torch.randint(0, 1000, (len(ds),), generator=torch.Generator().manual_seed(seed))
    ds.samples = [(path, int(labels[i])) for i, (path, _) in enumerate(ds.samples)]
    ds.targets = [s[1] for s in ds.samples]
    loader = DataLoader(ds, batch_size=cfg["imagenet_batch_size"], shuffle=True, num_workers=cfg.get("num_workers", 8))
    torch.manual_seed(seed)
    model = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["imagenet_lr"], momentum=0.9)
    fit(model, loader, None, epochs=cfg["imagenet_epochs"], optimizer=opt, seed=seed, device=cfg.get("device", "cpu"))
    top1, top5 = topk_accuracy(model, DataLoader(ds, batch_size=256, num_workers=cfg.get("num_workers", 8)), ks=(1, 5),
                               device=cfg.get("device", "cpu"))
    return {"top1": top1, "top5": top5}


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "device": run.device}
    metrics = {**structural(), **exact(cfg)}
    tensors = load(cfg, run)
    seeds = run.seeds(cfg["seeds"])
    arms = [f"p{p:g}" for p in cfg["corruption_levels"]] + list(cfg["arms"])
    jobs = [(a, s) for a in arms for s in seeds]
    workers = 1 if run.profile == "full" else None  # full: one GPU, and CIFAR-10 stays in this process
    res = dict(zip(jobs, map_seeds(functools.partial(fit_arm, cfg, tensors), jobs, workers=workers, label="(arm, seed)")))
    for a in arms:
        for k in ("train_acc", "test_acc", "epochs"):
            metrics[f"{k}_{a}".replace("epochs_", "epochs_to_fit_")] = [res[(a, s)][k] for s in seeds]
    levels = [f"p{p:g}" for p in cfg["corruption_levels"]]
    lo, hi = levels[0], levels[-1]
    metrics[f"label_agreement_{hi}"] = [res[(hi, s)]["label_agreement"] for s in seeds]
    metrics["epochs_ratio_random_over_true"] = [res[(hi, s)]["epochs"] / res[(lo, s)]["epochs"] for s in seeds]
    # per seed: the smallest fall of test accuracy from one corruption level to the next (> 0: falls at every step)
    metrics["test_acc_min_drop_per_corruption_step"] = [min(res[(a, s)]["test_acc"] - res[(b, s)]["test_acc"]
                                                            for a, b in zip(levels[:-1], levels[1:])) for s in seeds]
    if "regularised" in arms:
        metrics["test_acc_regularised_minus_none"] = [res[("regularised", s)]["test_acc"] - res[(lo, s)]["test_acc"] for s in seeds]
        metrics["weight_norm_regularised_minus_none"] = [res[("regularised", s)]["weight_norm"] - res[(lo, s)]["weight_norm"]
                                                         for s in seeds]
        metrics["shifted_test_acc_regularised_minus_none"] = [res[("regularised", s)]["shifted_test_acc"]
                                                              - res[(lo, s)]["shifted_test_acc"] for s in seeds]
    if cfg.get("imagenet"):
        inet = [imagenet_random_labels(cfg, s) for s in run.seeds(cfg["imagenet_seeds"])]
        metrics["imagenet_random_labels_train_top1"] = [r["top1"] for r in inet]
        metrics["imagenet_random_labels_train_top5"] = [r["top5"] for r in inet]
    (Xtr, _), (Xte, _) = tensors
    setting = {"data": ("sklearn digits 8x8, 70/30 split (stored padded to 10x10)" if run.profile != "full"
                        else "CIFAR-10, 28x28 crops of the 32x32 images (centre; random for 'regularised')"),
               "n_train": len(Xtr), "n_test": len(Xte),
               "model": (f"MLP {cfg['hidden']} ReLU" if cfg["model"] == "mlp" else f"small {cfg['model']} (App. A)") +
                        f"; SGD lr {cfg['lr']} x {cfg['lr_decay']}/epoch, momentum 0.9, batch {cfg['batch_size']}, until "
                        f"100% running training accuracy (at most {cfg['max_epochs']} epochs)",
               "arms": arms, "regularised": f"weight decay {cfg['weight_decay']} + random {cfg['crop']}x{cfg['crop']} crops",
               "exact": f"Theorem 1 construction with n={cfg['expressivity_n']}, d={cfg['expressivity_d']}; RBF kernel "
                        "interpolation on digits (gamma = 1/(d Var X)); GD from 0 on a "
                        f"{cfg['lsq_rows']}x{cfg['lsq_cols']} least-squares problem"}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
