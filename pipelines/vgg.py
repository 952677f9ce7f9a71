"""VGG: Table 2's parameter counts of configurations A-E and Sec. 2.3's 3x3-stack argument (exact, meta device);
on sklearn's digits, LRN vs none (A-LRN vs A) and deep 3x3 pairs vs single 5x5 (B vs shallow B, Sec. 4.1).
Full profile: ImageNet top-1/top-5 of configuration D.
"""
from __future__ import annotations

import torch
import torchvision

from implementations.vgg import conv_stack, vgg
from pipelines.shared.common import map_seeds
from pipelines.shared.imagenet import imagenet_top1_top5
from pipelines.shared.small_vision import digits_accuracy
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.shared.train import seed_everything

CFG: dict = {}


def mini(config: str):
    c = CFG
    return lambda: vgg(config=config, num_classes=10, in_channels=1, width=c["width"], stages=c["stages"],
                       fc_width=c["fc_width"], pool_size=1)


def arms(seed: int) -> dict:
    return {name: digits_accuracy(mini(name), seed, CFG) for name in ("A", "A-LRN", "B", "B-shallow")}


def receptive_field(stack: torch.nn.Module, channels: int, size: int = 31) -> int:
    """Side of the input region that can change the centre output: the support of d out[centre] / d input."""
    torch.manual_seed(0)
    x = torch.randn(1, channels, size, size, requires_grad=True)
    with torch.no_grad():  # positive weights: no cancellation can hide a connection
        for p in stack.parameters():
            p.abs_()
    stack(x)[0, :, size // 2, size // 2].sum().backward()
    rows = x.grad.abs().sum((0, 1)).ne(0).any(1)
    return int(rows.sum())


def structure() -> dict:
    m = {f"param_millions_vgg_{c}": count_params(on_meta(lambda: vgg(config=c))) / 1e6
         for c in ("A", "A-LRN", "B", "C", "D", "E")}
    m["param_count_vgg_D"] = count_params(on_meta(lambda: vgg(config="D")))
    m["param_count_torchvision_vgg16"] = count_params(on_meta(lambda: torchvision.models.vgg16(weights=None)))
    m["macs_vgg_D"] = count_macs(on_meta(lambda: vgg(config="D")), (3, 224, 224))
    m["conv_layers_vgg_A"] = sum(isinstance(x, torch.nn.Conv2d) for x in on_meta(lambda: vgg(config="A")).modules())
    m["weight_layers_vgg_E"] = sum(isinstance(x, (torch.nn.Conv2d, torch.nn.Linear)) for x in on_meta(lambda: vgg(config="E")).modules())
    C = 64
    three_3x3, one_7x7 = count_params(conv_stack(C, kernel=3, depth=3)), count_params(conv_stack(C, kernel=7, depth=1))
    m["params_three_3x3_over_C2"] = three_3x3 / C ** 2
    m["params_one_7x7_over_C2"] = one_7x7 / C ** 2
    m["extra_params_7x7_over_three_3x3"] = one_7x7 / three_3x3 - 1
    m["receptive_field_three_3x3"] = receptive_field(conv_stack(4, kernel=3, depth=3), 4)
    m["receptive_field_two_3x3"] = receptive_field(conv_stack(4, kernel=3, depth=2), 4)
    return m


def measure(cfg: dict, run) -> dict:
    CFG.clear()
    CFG.update(cfg)
    metrics = structure()
    if run.profile == "full":
        seed_everything(0)
        res = imagenet_top1_top5(vgg(config="D"), cfg["imagenet"], run)
        metrics.update({f"imagenet_{k}_vgg_D": v for k, v in res.items()})
        return {"seeds": [0], "metrics": metrics, "setting": {"data": "ImageNet ILSVRC-2012 train/val folders",
                                                               "model": "configuration D", "recipe": cfg["imagenet"]}}
    seeds = run.seeds(cfg["seeds"])
    acc = map_seeds(arms, seeds)
    metrics.update({f"test_acc_{name}": [a[name] for a in acc] for name in ("A", "A-LRN", "B", "B-shallow")})
    metrics["test_acc_lrn_minus_plain"] = [a["A-LRN"] - a["A"] for a in acc]
    metrics["test_acc_deep_3x3_minus_shallow_5x5"] = [a["B"] - a["B-shallow"] for a in acc]
    setting = {
        "structure": "Table 1 configurations built on the meta device at 224x224 (FC 4096-4096-1000)",
        "data": "sklearn digits 8x8, 1,258 train / 539 test, split seeded by the seed",
        "models": f"first {cfg['stages']} stages of A, A-LRN, B and B-shallow (each 3x3 pair -> one 5x5), channels x{cfg['width']}, "
                  f"FC {cfg['fc_width']}-{cfg['fc_width']}-10, dropout 0.5",
        "training": f"SGD momentum 0.9, lr {cfg['lr']}, batch {cfg['batch_size']}, {cfg['epochs']} epochs",
    }
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
