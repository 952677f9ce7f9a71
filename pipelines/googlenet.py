"""GoogLeNet: depth, parameters and multiply-adds of the Table 1 network (exact, meta device), against torchvision's
variant and AlexNet. Full profile: ImageNet top-1/top-5 of the network trained with its auxiliary classifiers, and
of the same network with FC layers instead of average pooling (Sec. 5).
"""
from __future__ import annotations

import torchvision

from implementations.alexnet import alexnet
from implementations.googlenet import depth, googlenet
from pipelines.shared.imagenet import imagenet_top1_top5
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.shared.torchvision_meta import evaluate_classification, params_gap, retraining
from pipelines.shared.train import seed_everything


def structure() -> dict:
    net = on_meta(googlenet)
    tv = on_meta(lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False))
    params, tv_params = count_params(net), count_params(tv)
    alex = count_params(on_meta(alexnet))
    _, per = count_macs(net, (3, 224, 224), by_module=True)
    b = net.inception4bcd[1].branches  # Table 1 row "inception (4c)"
    return {
        "param_count_googlenet": params,
        "param_count_googlenet_with_aux_heads": count_params(on_meta(lambda: googlenet(aux_logits=True))),
        "param_count_torchvision_googlenet": tv_params,
        "macs_googlenet": count_macs(net, (3, 224, 224)),
        "macs_torchvision_googlenet": count_macs(tv, (3, 224, 224)),
        "depth_layers_with_parameters": depth(net),
        "depth_layers_with_parameters_and_pooling": depth(net, count_pooling=True),
        "param_ratio_alexnet_over_googlenet": alex / params,
        "param_ratio_alexnet_over_torchvision_googlenet": alex / tv_params,
        "table1_conv1_params": count_params(net.stem[0]),
        "table1_inception_4c_params": count_params(net.inception4bcd[1]),
        "table1_inception_4c_macs": sum(per[f"GoogLeNet.inception4bcd.1.branches.{i}"] for i in range(len(b))),
    }


def torchvision_evidence() -> dict:
    """torchvision's GoogLeNet weights (offline metadata): ImageNet-1K val, one 224 crop."""
    r = retraining("googlenet")
    return {"torchvision_googlenet_top1_error": 1 - r.metrics["acc@1"] / 100,
            "torchvision_googlenet_top5_error": 1 - r.metrics["acc@5"] / 100,
            "torchvision_googlenet_params_minus_builder": params_gap(
                r, lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False))}


def reevaluate_torchvision(cfg: dict, run) -> dict:
    """torchvision's googlenet weights on the val folder with their own preprocessing, minus their published acc@1 /
    acc@5 (points)."""
    r = retraining("googlenet")
    val = cfg.get("torchvision_val_dir") or f"{cfg['imagenet'].get('data_dir') or ''}/val"
    got = evaluate_classification("googlenet", None, val, run.device, batch_size=cfg["imagenet"].get("batch_size", 128),
                                  workers=cfg["imagenet"].get("workers", 8))
    return {f"torchvision_googlenet_reeval_{k.replace('@', '')}_minus_published": got[k] - r.metrics[k]
            for k in ("acc@1", "acc@5")}


def measure(cfg: dict, run) -> dict:
    metrics = {**structure(), **torchvision_evidence()}
    setting = {"structure": "Table 1 network (true 5x5 branches, conv biases, LRN, no BN) and torchvision's googlenet "
                            "(aux_logits=False), built on the meta device at 224x224; AlexNet = its two-GPU network",
               "torchvision": retraining("googlenet").source}
    if run.profile == "full":
        return measure_full(cfg, run, metrics, setting)
    return {"seeds": [], "metrics": metrics, "setting": setting}


def measure_full(cfg: dict, run, metrics: dict, setting: dict) -> dict:
    """ImageNet, one run per seed and head, both trained with the auxiliary classifiers (Sec. 5: loss weight 0.3), and
    torchvision's weights re-evaluated."""
    metrics.update(reevaluate_torchvision(cfg, run))
    err = {"avgpool": [], "fc": []}
    for seed in cfg["seeds_imagenet"]:
        for head in err:
            seed_everything(seed)
            err[head].append(imagenet_top1_top5(googlenet(aux_logits=True, head=head), cfg["imagenet"], run, aux_weight=0.3))
    metrics.update({f"imagenet_{k}": [r[k] for r in err["avgpool"]] for k in ("top1_error", "top5_error")})
    metrics["imagenet_top1_error_fc_head"] = [r["top1_error"] for r in err["fc"]]
    # Sec. 5: the top-1 accuracy gained by average pooling = the FC head's extra top-1 error
    metrics["imagenet_top1_acc_avgpool_minus_fc"] = [f["top1_error"] - a["top1_error"] for a, f in zip(err["avgpool"], err["fc"])]
    setting.update(data="ImageNet ILSVRC-2012 train/val folders", recipe=cfg["imagenet"],
                   heads="average pooling + linear (the paper's) vs FC 1024 + ReLU + dropout + linear on the 7x7 map")
    return {"seeds": cfg["seeds_imagenet"], "metrics": metrics, "setting": setting}
