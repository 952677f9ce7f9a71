"""MobileNet v1: parameters and multiply-adds of Tables 2, 3, 4, 6 and 7 (exact, meta device), and on sklearn's
digits the accuracy cost of depthwise-separable convolutions (Table 4, scaled down). Full profile: ImageNet top-1.
"""
from __future__ import annotations

from torch import nn

from implementations.mobilenet import layer_type, mobilenet
from implementations.vgg import vgg
from pipelines.common import map_seeds
from pipelines.imagenet import imagenet_top1_top5
from pipelines.small_vision import digits_accuracy
from pipelines.structural import count_macs, count_params, on_meta
from pipelines.train import seed_everything

CFG: dict = {}


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


def mini(separable_convs: bool):
    c = CFG
    return lambda: mobilenet(alpha=c["alpha"], num_classes=10, in_channels=1, separable_convs=separable_convs,
                             blocks=c["blocks"], stem_stride=1)


def arms(seed: int) -> dict:
    return {sep: digits_accuracy(mini(sep), seed, CFG) for sep in (True, False)}


def measure(cfg: dict, run) -> dict:
    CFG.clear()
    CFG.update(cfg)
    metrics = structure()
    if run.profile == "full":
        seed_everything(0)
        res = imagenet_top1_top5(mobilenet(), cfg["imagenet"], run)
        metrics.update({f"imagenet_{k}_1p0_224": v for k, v in res.items()})
        return {"seeds": [0], "metrics": metrics, "setting": {"data": "ImageNet ILSVRC-2012 train/val folders",
                                                               "model": "1.0 MobileNet-224", "recipe": cfg["imagenet"]}}
    seeds = list(range(cfg["seeds"]))
    acc = map_seeds(arms, seeds)
    m_sep, m_full = on_meta(mini(True)), on_meta(mini(False))
    metrics.update({
        "test_acc_mini_separable": [a[True] for a in acc], "test_acc_mini_full_conv": [a[False] for a in acc],
        "test_acc_separable_minus_full_conv": [a[True] - a[False] for a in acc],
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
