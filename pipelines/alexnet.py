"""AlexNet: structure of the two-GPU network (Sec. 3.5) and, on sklearn's digits, ReLU vs tanh (Fig. 1) and
dropout against overfitting (Sec. 4.2); torchvision's re-training of the single-tower variant (offline metadata).
Full profile: ImageNet top-1/top-5 with the LRN (Sec. 3.3) and overlapping-pooling (Sec. 3.4) ablations, the
ensemble of the baseline nets (Table 2), Fig. 1 on CIFAR-10, and a re-evaluation of torchvision's weights.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
import torchvision

from implementations.alexnet import alexnet, four_layer_cnn, neurons_per_layer
from pipelines.shared.common import map_seeds
from pipelines.shared.data import digits, to_tensors, torchvision_dataset
from pipelines.shared.imagenet import imagenet_datasets, imagenet_top1_top5, loader
from pipelines.shared.structural import count_params, on_meta
from pipelines.shared.torchvision_meta import evaluate_classification, params_gap, retraining
from pipelines.shared.train import accuracy, make_optimizer, seed_everything, steps_to_target

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


# ------------------------------------------------------------------------------------------- Fig. 1, Sec. 4.2
def iterations_to_train_error(model, X, y, *, target: float, max_iters: int, batch_size: int, lr: float,
                              eval_every: int, seed: int, device: str = "cpu", loss_target: float | None = None) -> int:
    """SGD (momentum 0.9, no regularisation, as Fig. 1) until the whole training set's error is <= target (or, with
    loss_target, until its mean cross-entropy, in eval mode, is <= loss_target).

    Counted in iterations, evaluated every `eval_every` (an epoch is too coarse on a small data set).
    Returns max_iters + eval_every when the target is never reached: a censored value, which the claims' gates
    rule out (every count must be <= max_iters) before any ratio of counts is read.
    """
    seed_everything(seed)  # dropout masks; steps_to_target seeds its own generator for the batch order
    opt = make_optimizer(model.parameters(), lr=lr, momentum=0.9)
    if loss_target is not None:
        reached = lambda m: train_loss(m, X, y, device) <= loss_target  # noqa: E731
    else:
        reached = lambda m: 1 - accuracy(m, X, y, device=device) <= target  # noqa: E731
    steps = steps_to_target(model, X, y, reached=reached, optimizer=opt, max_steps=max_iters, batch_size=batch_size,
                            eval_every=eval_every, seed=seed, device=device)
    return max_iters + eval_every if steps is None else steps


@torch.no_grad()
def train_loss(model, X, y, device: str = "cpu") -> float:
    """Mean cross-entropy over the whole training set, in eval mode (no dropout)."""
    model.eval()
    return F.cross_entropy(model(X.to(device)), y.to(device)).item()


def fig1_iterations(cfg: dict, job: tuple) -> int:
    """Iterations of the four-layer CNN with activation `act` at learning rate `lr` to reach cfg's training error."""
    act, lr, seed = job
    (Xtr, ytr), _ = digits(split_seed=seed)
    seed_everything(seed)
    model = four_layer_cnn(activation=act, width=cfg["width"], hidden=cfg["hidden"])
    return iterations_to_train_error(model, Xtr, ytr, target=cfg["target_error"], max_iters=cfg["max_iters"],
                                     batch_size=cfg["batch_size"], lr=lr, eval_every=cfg["eval_every"], seed=seed)


def pick_learning_rates(cfg: dict, calibration_seeds: list[int]) -> dict:
    """Fig. 1: "the learning rates for each network were chosen independently to make training as fast as possible".
    Per activation, the grid's lr with the fewest median iterations on calibration seeds that the measured seeds never
    use (no choice with hindsight on the runs that are then compared)."""
    jobs = [(act, lr, s) for act in ("relu", "tanh") for lr in cfg["lr_grid"] for s in calibration_seeds]
    iters = dict(zip(jobs, map_seeds(functools.partial(fig1_iterations, cfg), jobs, label="calibration")))
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    return {act: min(cfg["lr_grid"], key=lambda lr: (median([iters[(act, lr, s)] for s in calibration_seeds]), lr))
            for act in ("relu", "tanh")}


def dropout_arms(cfg: dict, seed: int) -> dict:
    """Sec. 4.2 on 300 training digits: iterations to converge (the whole training set's loss <= cfg's fit_loss, a
    smooth criterion: the first zero-error iteration hinges on the last few examples) and train/test accuracy there,
    with and without dropout."""
    (Xtr, ytr), (Xte, yte) = digits(split_seed=seed, test_fraction=1 - cfg["n_train"] / 1797)
    out = {}
    for name, p in (("plain", 0.0), ("dropout", cfg["dropout_p"])):
        seed_everything(seed)
        model = four_layer_cnn(width=cfg["width"], hidden=cfg["hidden"], dropout=p)
        iters = iterations_to_train_error(model, Xtr, ytr, target=0.0, max_iters=cfg["max_iters_fit"],
                                          batch_size=cfg["batch_size"], lr=cfg["lr_fit"], eval_every=cfg["eval_every"],
                                          seed=seed, loss_target=cfg["fit_loss"])
        out[name] = {"iters_to_fit": iters, "train_acc": accuracy(model, Xtr, ytr), "test_acc": accuracy(model, Xte, yte)}
    return out


# ------------------------------------------------------------------------------------------- structure
def structure() -> dict:
    two_gpu = on_meta(alexnet)
    tv = on_meta(lambda: torchvision.models.alexnet(weights=None))
    neurons = neurons_per_layer(two_gpu)
    layers = list(two_gpu.modules())
    return {
        "param_count_alexnet_two_gpu": count_params(two_gpu),
        "param_count_torchvision_alexnet": count_params(tv),
        "conv_layers": sum(isinstance(m, torch.nn.Conv2d) for m in layers),
        "fc_layers": sum(isinstance(m, torch.nn.Linear) for m in layers),
        "neurons_total": sum(neurons),
        **{f"neurons_{name}": n for name, n in zip(LAYERS, neurons)},
    }


def torchvision_evidence() -> dict:
    """torchvision's re-training of its single-tower AlexNet (offline metadata): ImageNet-1K val, one 224 crop."""
    r = retraining("alexnet")
    return {"torchvision_alexnet_top1_error": 1 - r.metrics["acc@1"] / 100,
            "torchvision_alexnet_top5_error": 1 - r.metrics["acc@5"] / 100,
            "torchvision_alexnet_num_params": r.num_params,
            "torchvision_alexnet_params_minus_builder": params_gap(r, lambda: torchvision.models.alexnet(weights=None))}


# ------------------------------------------------------------------------------------------- the stage
def measure(cfg: dict, run) -> dict:
    metrics = {**structure(), **torchvision_evidence()}
    if run.profile == "full":
        return measure_full(cfg, run, metrics)
    seeds = run.seeds(cfg["seeds"])
    lrs = pick_learning_rates(cfg, [seeds[0] + cfg["calibration_offset"] + i for i in range(cfg["calibration_seeds"])])
    jobs = [(act, lrs[act], s) for act in ("relu", "tanh") for s in seeds]
    iters = dict(zip(jobs, map_seeds(functools.partial(fig1_iterations, cfg), jobs, label="fig1")))
    relu = [iters[("relu", lrs["relu"], s)] for s in seeds]
    tanh = [iters[("tanh", lrs["tanh"], s)] for s in seeds]
    dropout_seeds = run.seeds(cfg["seeds_dropout"])
    fits = map_seeds(functools.partial(dropout_arms, cfg), dropout_seeds)
    gap = lambda r: r["train_acc"] - r["test_acc"]  # noqa: E731
    metrics.update({
        "fig1_lr_relu": lrs["relu"], "fig1_lr_tanh": lrs["tanh"],
        "iters_to_25pct_train_error_relu": relu,
        "iters_to_25pct_train_error_tanh": tanh,
        # a ratio of counts is not normal per seed: its log is (and its null is 0, "equally fast")
        "log_speedup_relu_over_tanh": [math.log(t / r) for r, t in zip(relu, tanh)],
        "iters_to_fit_plain": [f["plain"]["iters_to_fit"] for f in fits],
        "iters_to_fit_dropout": [f["dropout"]["iters_to_fit"] for f in fits],
        "log_iters_to_fit_ratio_dropout_over_plain": [
            math.log(f["dropout"]["iters_to_fit"] / f["plain"]["iters_to_fit"]) for f in fits],
        "train_acc_plain": [f["plain"]["train_acc"] for f in fits],
        "train_acc_dropout": [f["dropout"]["train_acc"] for f in fits],
        "test_acc_plain": [f["plain"]["test_acc"] for f in fits],
        "test_acc_dropout": [f["dropout"]["test_acc"] for f in fits],
        "overfit_gap_plain": [gap(f["plain"]) for f in fits],
        "overfit_gap_dropout": [gap(f["dropout"]) for f in fits],
        "overfit_gap_plain_minus_dropout": [gap(f["plain"]) - gap(f["dropout"]) for f in fits],
    })
    setting = {
        "structure": "two-GPU AlexNet of Sec. 3.5 (groups=2) and torchvision's alexnet, built on the meta device, 227x227 input",
        "torchvision": retraining("alexnet").source,
        "data": "sklearn digits 8x8, pixels in [0, 1] (1,258 train / 539 test for Fig. 1; 300 train / 1,497 test for "
                "dropout), split seeded by the seed",
        "model": f"four-layer CNN (2 conv + 2 FC), width {cfg['width']}, hidden {cfg['hidden']}, PyTorch default init",
        "fig1": f"SGD momentum 0.9, batch {cfg['batch_size']}, no regularisation; iterations until the training-set "
                f"error <= {cfg['target_error']} (checked every {cfg['eval_every']}, cap {cfg['max_iters']}); lr per "
                f"activation from {cfg['lr_grid']} by the median on {cfg['calibration_seeds']} calibration seeds "
                f"(seed + {cfg['calibration_offset']}): {lrs}",
        "dropout": f"dropout {cfg['dropout_p']} before both FC layers vs none, SGD lr {cfg['lr_fit']}; iterations until "
                   f"the training loss <= {cfg['fit_loss']} (cap {cfg['max_iters_fit']}); seeds {dropout_seeds}",
        "fig1_seeds": seeds,
    }
    return {"seeds": dropout_seeds if len(dropout_seeds) > len(seeds) else seeds, "metrics": metrics, "setting": setting}


# ------------------------------------------------------------------------------------------- full profile
# Secs. 3.3 / 3.4 ablations of the two-GPU network, each trained on ImageNet with the same recipe and seed
IMAGENET_ARMS = {"baseline": {}, "no_lrn": {"lrn": False}, "non_overlapping_pool": {"overlapping_pool": False}}


@torch.no_grad()
def val_probabilities(model, cfg: dict, run) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax outputs of `model` on the val folder (one centre crop, in the folder's order) and the labels."""
    _, val = imagenet_datasets(cfg.get("data_dir"), image_size=227)
    model.to(run.device).eval()
    probs, labels = [], []
    for x, y in loader(val, cfg, run, train=False):
        probs.append(model(x.to(run.device)).softmax(1).cpu())
        labels.append(y)
    return torch.cat(probs), torch.cat(labels)


def topk_errors(probs: torch.Tensor, labels: torch.Tensor) -> dict:
    top = probs.topk(min(5, probs.shape[1]), dim=1).indices
    return {"top1_error": 1 - (top[:, 0] == labels).float().mean().item(),
            "top5_error": 1 - (top == labels[:, None]).any(1).float().mean().item()}


def imagenet_ablations(cfg: dict, run) -> dict:
    """Top-1/top-5 error of the two-GPU network, how much LRN and overlapping pooling lower them (per seed), and the
    ensemble of the baseline nets of every seed (Table 2's "5 CNNs": their averaged predictions)."""
    err = {arm: [] for arm in IMAGENET_ARMS}
    ensemble, labels = None, None
    for seed in cfg["seeds_imagenet"]:
        for arm, knobs in IMAGENET_ARMS.items():
            seed_everything(seed)
            model = alexnet(**knobs)
            err[arm].append(imagenet_top1_top5(model, cfg["imagenet"], run, image_size=227))
            if arm == "baseline":
                probs, labels = val_probabilities(model, cfg["imagenet"], run)
                ensemble = probs if ensemble is None else ensemble + probs
    metrics = {}
    for k in ("top1_error", "top5_error"):
        metrics[f"imagenet_{k}"] = [r[k] for r in err["baseline"]]
        # "X reduces our top-1 and top-5 error rates by ...": the ablated net's error minus the paper's net's
        metrics[f"imagenet_{k}_reduction_by_lrn"] = [a[k] - b[k] for a, b in zip(err["no_lrn"], err["baseline"])]
        metrics[f"imagenet_{k}_reduction_by_overlapping_pool"] = [
            a[k] - b[k] for a, b in zip(err["non_overlapping_pool"], err["baseline"])]
    ens = topk_errors(ensemble, labels)
    metrics.update({f"imagenet_ensemble_{k}": v for k, v in ens.items()})
    metrics["imagenet_ensemble_size"] = len(cfg["seeds_imagenet"])
    return metrics


def reevaluate_torchvision(cfg: dict, run) -> dict:
    """torchvision's alexnet weights on the val folder with their own preprocessing, minus their published acc@1
    (percentage points): the metadata claims rest on those numbers."""
    r = retraining("alexnet")
    val = cfg.get("torchvision_val_dir") or f"{cfg['imagenet'].get('data_dir') or ''}/val"
    got = evaluate_classification("alexnet", None, val, run.device, batch_size=cfg["imagenet"].get("batch_size", 128),
                                  workers=cfg["imagenet"].get("workers", 8))
    return {"torchvision_alexnet_reeval_acc1_minus_published": got["acc@1"] - r.metrics["acc@1"],
            "torchvision_alexnet_reeval_acc5_minus_published": got["acc@5"] - r.metrics["acc@5"]}


def measure_full(cfg: dict, run, metrics: dict) -> dict:
    """ImageNet with the two-GPU network and its LRN / pooling ablations (paired by seed: days of GPU time each),
    their ensemble, torchvision's weights re-evaluated, and Fig. 1 on CIFAR-10 over seeds."""
    from torchvision import transforms as T

    metrics.update(reevaluate_torchvision(cfg, run))
    metrics.update(imagenet_ablations(cfg, run))
    tf = T.Compose([T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    X, y = to_tensors(torchvision_dataset("CIFAR10", train=True, transform=tf))
    c = cfg["fig1"]
    iters = {"relu": [], "tanh": []}
    for seed in cfg["seeds_fig1"]:
        for act in iters:
            seed_everything(seed)
            model = four_layer_cnn(activation=act, in_channels=3, image_size=32, width=c["width"], hidden=c["hidden"])
            iters[act].append(iterations_to_train_error(model, X, y, target=0.25, max_iters=c["max_iters"],
                                                        batch_size=c["batch_size"], lr=c["lr"][act],
                                                        eval_every=c["eval_every"], seed=seed, device=run.device))
    metrics["cifar10_iters_to_25pct_relu"] = iters["relu"]
    metrics["cifar10_iters_to_25pct_tanh"] = iters["tanh"]
    metrics["speedup_relu_over_tanh_cifar10"] = [t / r for r, t in zip(iters["relu"], iters["tanh"])]
    setting = {"data": "ImageNet ILSVRC-2012 train/val folders; CIFAR-10 (torchvision download)",
               "imagenet": cfg["imagenet"], "imagenet_seeds": cfg["seeds_imagenet"],
               "imagenet_arms": "two-GPU AlexNet; without LRN (Sec. 3.3); with z=2, s=2 pooling (Sec. 3.4); the "
                                "baseline nets' averaged softmax = the ensemble",
               "torchvision": retraining("alexnet").source, "fig1": c}
    return {"seeds": cfg["seeds_fig1"], "metrics": metrics, "setting": setting}
