"""Neural fabrics: paths and cost of the built fabric (exact, meta device), and a small fabric against a chain CNN
of about the same size on sklearn's 8x8 digits (scales 8/4/2/1), with a broken fabric (trunk frozen at its
initialisation) as the positive control. full: also the paper-size fabric (L = 16 layers, 6 scales 32..1) trained
on CIFAR-10 with flips and crops, its test error per seed (Sec. 4)."""
from __future__ import annotations

import functools
import math

import torch

from implementations.neural_fabrics import chain_cnn, neural_fabric
from pipelines.shared.common import map_seeds, progress
from pipelines.shared.data import digits, torchvision_dataset
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.shared.train import accuracy, fit, make_optimizer, seed_everything, topk_accuracy


# ------------------------------------------------------------------------------------------ the built fabric
def graph_paths(model: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Input-to-output paths through the model's own computation graph: one forward pass on the meta device, then
    the number of distinct routes from the output back to the input through autograd's graph (a convolution, ReLU,
    resampling or sum passes its input on; weights and biases are other leaves and count 0). Each route is one
    chain architecture embedded in the fabric (Abstract: "individual architectures can be recovered as paths")."""
    x = torch.zeros((1, *input_shape), device="meta", requires_grad=True)
    out = model(x)
    memo: dict[int, int] = {}

    def paths(fn) -> int:  # iterative depth-first count (the graph of a deep fabric is deeper than Python's stack)
        stack = [fn]
        while stack:
            node = stack[-1]
            if id(node) in memo:
                stack.pop()
                continue
            if type(node).__name__ == "AccumulateGrad":
                memo[id(node)] = int(node.variable is x)
                stack.pop()
                continue
            todo = [f for f, _ in node.next_functions if f is not None and id(f) not in memo]
            if todo:
                stack.extend(todo)
                continue
            memo[id(node)] = sum(memo[id(f)] for f, _ in node.next_functions if f is not None)
            stack.pop()
        return memo[id(fn)]

    return paths(out.grad_fn)


def paper_fabric(cfg: dict, **over):
    """The classification fabric of the paper's size (cfg: layers, scales, channels; constant channels)."""
    kw = dict(in_channels=3, num_classes=10, layers=cfg["paper_layers"], scales=cfg["paper_scales"],
              channels=cfg["paper_channels"], doubling=False)
    return on_meta(lambda: neural_fabric(**{**kw, **over}))


def structural(cfg: dict) -> dict:
    """Paths, parameters and multiply-adds counted on built fabrics (meta device, 32x32 RGB input)."""
    shape = (3, 32, 32)
    m = {}
    layers = cfg["path_layers"]
    paths = {L: graph_paths(paper_fabric(cfg, layers=L), shape) for L in layers}
    for L in layers:
        m[f"paths_built_fabric_L{L}"] = float(paths[L])
    # a path count growing by a constant factor per added layer is exponential in depth
    m["paths_growth_ratio_per_layer"] = paths[layers[-1]] / paths[layers[-2]]
    m["paths_log10_built_fabric_paper_size"] = math.log10(graph_paths(paper_fabric(cfg), shape))

    # "a cost that scales linearly in the fabric size": parameters and multiply-adds as layers (and scales) are added
    grid = cfg["cost_layers"]
    params = {L: count_params(paper_fabric(cfg, layers=L)) for L in grid}
    macs = {L: count_macs(paper_fabric(cfg, layers=L), shape) for L in grid}
    scales = cfg["cost_scales"]
    params_s = {S: count_params(paper_fabric(cfg, scales=S)) for S in scales}

    def increments(values: dict) -> list[float]:
        keys = sorted(values)
        return [(values[b] - values[a]) / (b - a) for a, b in zip(keys, keys[1:])]

    spreads = []
    for name, inc in (("params_per_layer", increments(params)), ("macs_per_layer", increments(macs)),
                      ("params_per_scale", increments(params_s))):
        m[f"fabric_{name}"] = inc[0]
        spreads.append((max(inc) - min(inc)) / (sum(inc) / len(inc)))
    m["fabric_cost_increment_rel_spread"] = max(spreads)
    # Sec. 3: one interior layer = one same-scale conv per scale + one strided and one upsampling conv between
    # neighbouring scales, all 3x3 with C channels: (3 S - 2) (9 C^2 + C) parameters
    C, S = cfg["paper_channels"], cfg["paper_scales"]
    m["fabric_params_per_layer_minus_edge_formula"] = m["fabric_params_per_layer"] - (3 * S - 2) * (9 * C * C + C)
    return m


# ------------------------------------------------------------------------------------------ digits experiment
def digits_data():
    """sklearn's digits, 70/30 split (seed 0), standardised with the training split's pixel mean and std."""
    (Xtr, ytr), (Xte, yte) = digits(split_seed=0, test_fraction=0.3)
    mu, sd = Xtr.mean(), Xtr.std()
    return (Xtr - mu) / sd, ytr, (Xte - mu) / sd, yte


def build(arm: str, cfg: dict):
    if arm == "chain":
        return chain_cnn(in_channels=1, scales=4, channels=cfg["chain_channels"])
    return neural_fabric(in_channels=1, layers=cfg["layers"], scales=4, channels=cfg["fabric_channels"])


def train_and_score(cfg: dict, job: tuple) -> dict:
    """One arm, one seed. fabric / chain: the whole network trained (Adam, one-cycle schedule); fabric_frozen: the
    broken fabric, its trellis frozen at initialisation and only the classifier trained (same recipe) on its pooled,
    standardised output."""
    arm, seed = job
    Xtr, ytr, Xte, yte = digits_data()
    seed_everything(seed)
    model = build(arm, cfg).to(cfg["device"])
    params = count_params(model)
    if arm == "fabric_frozen":  # the trellis at its initial weights: its pooled output is a fixed feature map
        head, model.classifier = model.classifier, torch.nn.Identity()
        with torch.no_grad():
            model.eval()
            Xtr, Xte = model(Xtr.to(cfg["device"])).cpu(), model(Xte.to(cfg["device"])).cpu()
        mu, sd = Xtr.mean(0), Xtr.std(0).clamp_min(1e-12)  # standardised: a random-feature baseline, not a scale bug
        Xtr, Xte, model = (Xtr - mu) / sd, (Xte - mu) / sd, head
    opt = make_optimizer(model.parameters(), name="adam", lr=cfg["lr"])
    steps = cfg["epochs"] * math.ceil(len(ytr) / cfg["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=steps, pct_start=0.15)
    fit(model, Xtr, ytr, epochs=cfg["epochs"], batch_size=cfg["batch_size"], seed=seed, optimizer=opt,
        scheduler=sched, device=cfg["device"])
    return {"acc": accuracy(model, Xte, yte, device=cfg["device"]), "params": params}


def logistic_regression_accuracy() -> float:
    """The simple baseline on the same split: multinomial logistic regression on the 64 standardised pixels."""
    from sklearn.linear_model import LogisticRegression

    Xtr, ytr, Xte, yte = digits_data()
    clf = LogisticRegression(max_iter=2000).fit(Xtr.flatten(1).numpy(), ytr.numpy())
    return float(clf.score(Xte.flatten(1).numpy(), yte.numpy()))


# ------------------------------------------------------------------------------------------ full: CIFAR-10
def cifar10_loaders(batch_size: int, workers: int):
    """CIFAR-10 (torchvision, downloaded on first use; DataUnavailable offline) as loaders: training images with
    random 32x32 crops of the 4-px padded image and horizontal flips (the 'with augmentation' setting)."""
    import torchvision.transforms as T

    norm = T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # CIFAR-10 channel statistics
    train = torchvision_dataset("CIFAR10", train=True, transform=T.Compose(
        [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
    test = torchvision_dataset("CIFAR10", train=False, transform=T.Compose([T.ToTensor(), norm]))
    loader = lambda ds, shuffle: torch.utils.data.DataLoader(  # noqa: E731
        ds, batch_size=batch_size, shuffle=shuffle, num_workers=workers, pin_memory=True, drop_last=shuffle)
    return loader(train, True), loader(test, False)


def cifar10_error(cfg: dict, seed: int, device: str) -> tuple[float, int]:
    """Test error of a fabric of the paper's size trained on CIFAR-10 (SGD momentum, cosine schedule)."""
    seed_everything(seed)
    train, test = cifar10_loaders(cfg["cifar_batch_size"], cfg["cifar_workers"])
    model = neural_fabric(in_channels=3, num_classes=10, layers=cfg["cifar_layers"], scales=cfg["cifar_scales"],
                          channels=cfg["cifar_channels"], doubling=cfg["cifar_doubling"])
    opt = make_optimizer(model.parameters(), name="sgd", lr=cfg["cifar_lr"], momentum=0.9,
                         weight_decay=cfg["cifar_weight_decay"])
    epochs = cfg["cifar_epochs"]
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(train))
    fit(model, train, None, epochs=epochs, seed=seed, optimizer=opt, scheduler=sched, device=device)
    return 1.0 - topk_accuracy(model, test, device=device)[0], count_params(model)


def measure_cifar10(cfg: dict, run) -> tuple[dict, dict]:
    """Sec. 4, Table 2: CIFAR-10 with augmentation, the paper-size fabric, cfg['cifar_seeds'] seeds."""
    cifar_seeds = run.seeds(cfg["cifar_seeds"])
    outs = [cifar10_error(cfg, s, run.device) for s in progress(cifar_seeds, desc="cifar10 seeds",
                                                                enabled=run.show_progress)]
    metrics = {"cifar10_error": [e for e, _ in outs], "param_count_fabric_cifar10": outs[0][1]}
    setting = {"cifar10": (
        f"torchvision CIFAR-10, 50,000 training images with 4-px padded random crops and flips, 10,000 test images; "
        f"fabric L = {cfg['cifar_layers']}, {cfg['cifar_scales']} scales, {cfg['cifar_channels']} channels "
        f"{'doubling per scale' if cfg['cifar_doubling'] else 'at every scale'} (the paper's sizes are unverified); "
        f"SGD momentum 0.9, lr {cfg['cifar_lr']} cosine to 0, weight decay {cfg['cifar_weight_decay']}, "
        f"batch {cfg['cifar_batch_size']}, {cfg['cifar_epochs']} epochs; seeds {cifar_seeds}")}
    return metrics, setting


def measure(cfg: dict, run) -> dict:
    # full: the real data first, so that a missing data set stops the stage before the small experiment runs
    cifar_metrics, cifar_setting = measure_cifar10(cfg, run) if run.profile == "full" else ({}, {})
    cfg = {**cfg, "device": run.device}
    seeds = run.seeds(cfg["seeds"])
    arms = ("fabric", "chain", "fabric_frozen")
    jobs = ["structural"] + [(arm, s) for arm in arms for s in seeds]
    # the meta-device counts take a few seconds: one more job beside the training runs
    outs = map_seeds(functools.partial(_job, cfg), jobs, label="job")
    metrics = outs.pop(0)
    res = {arm: [o for (a, _), o in zip(jobs[1:], outs) if a == arm] for arm in arms}
    for arm in arms:
        metrics[f"acc_{arm}"] = [r["acc"] for r in res[arm]]
    metrics["acc_fabric_minus_chain"] = [a["acc"] - b["acc"] for a, b in zip(res["fabric"], res["chain"])]
    metrics["acc_chain_minus_fabric_frozen"] = [a["acc"] - b["acc"] for a, b in zip(res["chain"], res["fabric_frozen"])]
    metrics["acc_logistic_regression"] = logistic_regression_accuracy()
    metrics["param_count_fabric"] = res["fabric"][0]["params"]
    metrics["param_count_chain"] = res["chain"][0]["params"]
    setting = {
        "data": "sklearn digits 8x8 (1,797 images), 70/30 split (split seed 0), standardised; fabric scales 8/4/2/1",
        "fabric": f"L = {cfg['layers']} layers, 4 scales, {cfg['fabric_channels']} channels doubling per scale, 3x3 "
                  f"convs, ReLU; broken fabric: the same with its trellis frozen at initialisation",
        "chain": f"chain CNN, 2 convs per scale, {cfg['chain_channels']} channels doubling per scale",
        "training": f"Adam, one-cycle lr peak {cfg['lr']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}",
        "structure": f"built fabrics on the meta device, 32x32 RGB input, {cfg['paper_scales']} scales, "
                     f"{cfg['paper_channels']} channels per scale; paths for L = {cfg['path_layers']}, cost for "
                     f"L = {cfg['cost_layers']} and S = {cfg['cost_scales']}"}
    metrics.update(cifar_metrics)
    setting.update(cifar_setting)
    return {"seeds": seeds, "metrics": metrics, "setting": setting}


def _job(cfg: dict, job):
    return structural(cfg) if job == "structural" else train_and_score(cfg, job)
