"""MobileNet v1: parameters and multiply-adds of Tables 2-7 (exact, meta device), and on sklearn's digits the
accuracy cost of depthwise-separable convolutions (Table 4), scaled down.
Full profile: ImageNet top-1 of 1.0 MobileNet-224, and of Table 5's 0.75 MobileNet vs Shallow MobileNet.
"""
from __future__ import annotations

import functools

from torch import nn

from implementations.mobilenet import SHALLOW_ROWS, layer_type, mobilenet
from implementations.vgg import vgg
from pipelines.shared.common import map_arms
from pipelines.shared.imagenet import imagenet_top1_top5
from pipelines.shared.small_vision import digits_accuracy
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.shared.train import seed_everything

ARMS = ("separable", "full_conv")  # Table 4 scaled down (Table 5's pair is only checked at the full profile)


def weights(model: nn.Module) -> int:
    """The paper's parameter count: convolution and FC weights (and FC bias), not batchnorm's scale and shift."""
    return sum(count_params(m) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def table2_shares(model: nn.Module, size: int = 224) -> dict:
    """Table 2: share of multiply-adds and of parameters of each layer type."""
    _, per = count_macs(model, (3, size, size), by_module=True)
    macs, params = {}, {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            t = layer_type(m)
            macs[t] = macs.get(t, 0) + per[f"{type(model).__name__}.{name}"]
            params[t] = params.get(t, 0) + count_params(m)
    total_macs, total_params = sum(macs.values()), sum(params.values())
    return {**{f"table2_macs_share_{t}": v / total_macs for t, v in macs.items()},
            **{f"table2_params_share_{t}": v / total_params for t, v in params.items()}}


def structure() -> dict:
    m = {}
    for alpha in (1.0, 0.75, 0.5, 0.25):  # Table 6
        net = on_meta(lambda: mobilenet(alpha=alpha))
        tag = f"{alpha:g}".replace(".", "p")
        m[f"params_millions_alpha_{tag}"] = weights(net) / 1e6
        m[f"macs_millions_alpha_{tag}"] = count_macs(net, (3, 224, 224)) / 1e6
    net = on_meta(mobilenet)
    m["param_count_mobilenet"] = weights(net)
    m["param_count_mobilenet_with_bn"] = count_params(net)
    for size in (192, 160, 128):  # Table 7: resolution multiplier rho = size / 224
        m[f"macs_millions_res_{size}"] = count_macs(net, (3, size, size)) / 1e6
    m["layers_counting_dw_and_pw"] = sum(isinstance(x, (nn.Conv2d, nn.Linear)) for x in net.modules())
    shallow = on_meta(lambda: mobilenet(skip_rows=SHALLOW_ROWS))  # Table 5, "Shallow MobileNet"
    m["params_millions_shallow_mobilenet"] = weights(shallow) / 1e6
    m["macs_millions_shallow_mobilenet"] = count_macs(shallow, (3, 224, 224)) / 1e6
    full = on_meta(lambda: mobilenet(separable_convs=False))  # Table 4, "Conv MobileNet"
    m["params_millions_conv_mobilenet"] = weights(full) / 1e6
    m["macs_millions_conv_mobilenet"] = count_macs(full, (3, 224, 224)) / 1e6
    m.update(table2_shares(net))
    vgg16 = on_meta(lambda: vgg(config="D"))  # Table 8 compares with VGG 16
    m["table8_macs_millions_vgg16"] = count_macs(vgg16, (3, 224, 224)) / 1e6
    m["table8_params_millions_vgg16"] = count_params(vgg16) / 1e6
    # Table 3: one layer at 14x14x512 -> 512, 3x3: full convolution vs depthwise separable (no BN counted)
    conv = nn.Conv2d(512, 512, 3, padding=1, bias=False)
    dws = nn.Sequential(nn.Conv2d(512, 512, 3, padding=1, groups=512, bias=False), nn.Conv2d(512, 512, 1, bias=False))
    m["table3_macs_millions_full_conv"] = count_macs(conv, (512, 14, 14)) / 1e6
    m["table3_params_millions_full_conv"] = count_params(conv) / 1e6
    m["table3_macs_millions_separable"] = count_macs(dws, (512, 14, 14)) / 1e6
    m["table3_params_millions_separable"] = count_params(dws) / 1e6
    m["table3_cost_ratio_separable_over_full"] = m["table3_macs_millions_separable"] / m["table3_macs_millions_full_conv"]
    m["table3_cost_reduction_full_over_separable"] = 1 / m["table3_cost_ratio_separable_over_full"]
    return m


def mini(cfg: dict, separable_convs: bool = True, alpha: float | None = None, skip_rows: tuple[int, ...] = ()):
    return lambda: mobilenet(alpha=alpha or cfg["alpha"], num_classes=10, in_channels=1,
                             separable_convs=separable_convs, blocks=cfg["blocks"], stem_stride=1, skip_rows=skip_rows)


def builders(cfg: dict) -> dict:
    """The two scaled-down nets: stem + first rows of Table 1 with depthwise-separable blocks, and the same with full
    3x3 convolutions (Table 4)."""
    return {"separable": mini(cfg, True), "full_conv": mini(cfg, False)}


def train_arm(cfg: dict, job: tuple) -> float:
    arm, seed = job
    return digits_accuracy(builders(cfg)[arm], seed, cfg)


def measure(cfg: dict, run) -> dict:
    metrics = structure()
    if run.profile == "full":
        return measure_full(cfg, run, metrics)
    seeds = run.seeds(cfg["seeds"])
    res = map_arms(functools.partial(train_arm, cfg), ARMS, seeds)
    b = builders(cfg)
    m_sep, m_full = on_meta(b["separable"]), on_meta(b["full_conv"])
    metrics.update({
        "test_acc_mini_separable": res["separable"], "test_acc_mini_full_conv": res["full_conv"],
        "test_acc_separable_minus_full_conv": [a - f for a, f in zip(res["separable"], res["full_conv"])],
        "macs_ratio_mini_full_over_separable": count_macs(m_full, (1, 8, 8)) / count_macs(m_sep, (1, 8, 8)),
        "params_ratio_mini_full_over_separable": weights(m_full) / weights(m_sep),
    })
    setting = {
        "structure": "MobileNet v1 of Table 1 built on the meta device at 224x224 (and 192/160/128); parameters = conv "
                     "and FC weights (BN excluded, as the paper's 4.2 M)",
        "data": "sklearn digits 8x8, 1,258 train / 539 test, split seeded by the seed",
        "models": f"stem (stride 1) + first {cfg['blocks']} rows of Table 1, alpha {cfg['alpha']}: depthwise separable vs "
                  f"full 3x3 convolutions (Table 4's comparison)",
        "training": f"SGD momentum 0.9, lr {cfg['lr']}, batch {cfg['batch_size']}, {cfg['epochs']} epochs",
    }
    return {"seeds": seeds, "metrics": metrics, "setting": setting}


def measure_full(cfg: dict, run, metrics: dict) -> dict:
    """ImageNet, one run per seed and model: 1.0 MobileNet-224, and Table 5's 0.75 MobileNet vs Shallow MobileNet."""
    models = {"1p0_224": lambda: mobilenet(), "0p75_224": lambda: mobilenet(alpha=0.75),
              "shallow_224": lambda: mobilenet(skip_rows=SHALLOW_ROWS)}
    err = {name: [] for name in models}
    for seed in cfg["seeds_imagenet"]:
        for name, build in models.items():
            seed_everything(seed)
            err[name].append(imagenet_top1_top5(build(), cfg["imagenet"], run))
    for name, res in err.items():
        for k in ("top1_error", "top5_error"):
            metrics[f"imagenet_{k}_{name}"] = [r[k] for r in res]
    # Table 5 compares accuracies: the thinner net's accuracy gain is the shallower net's extra error
    metrics["imagenet_top1_acc_thinner_minus_shallower"] = [
        s["top1_error"] - t["top1_error"] for t, s in zip(err["0p75_224"], err["shallow_224"])]
    setting = {"data": "ImageNet ILSVRC-2012 train/val folders", "recipe": cfg["imagenet"],
               "models": "1.0 MobileNet-224; Table 5: 0.75 MobileNet-224 vs Shallow MobileNet (1.0, the five "
                         "14x14x512 rows removed)"}
    return {"seeds": cfg["seeds_imagenet"], "metrics": metrics, "setting": setting}
