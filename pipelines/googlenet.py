"""GoogLeNet: depth, parameters and multiply-adds of the Table 1 network (exact, meta device), against torchvision's
variant and AlexNet. Full profile: ImageNet top-1/top-5 of the network trained with its auxiliary classifiers.
"""
from __future__ import annotations

import torchvision

from implementations.alexnet import alexnet
from implementations.googlenet import depth, googlenet
from pipelines.imagenet import imagenet_top1_top5
from pipelines.structural import count_macs, count_params, on_meta
from pipelines.train import seed_everything


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


def measure(cfg: dict, run) -> dict:
    metrics = structure()
    setting = {"structure": "Table 1 network (true 5x5 branches, conv biases, LRN, no BN) and torchvision's googlenet "
                            "(aux_logits=False), built on the meta device at 224x224; AlexNet = its two-GPU network"}
    if run.profile == "full":
        seed_everything(0)
        res = imagenet_top1_top5(googlenet(aux_logits=True), cfg["imagenet"], run, aux_weight=0.3)  # Sec. 5: weight 0.3
        metrics.update({f"imagenet_{k}": v for k, v in res.items()})
        setting.update(data="ImageNet ILSVRC-2012 train/val folders", recipe=cfg["imagenet"])
        return {"seeds": [0], "metrics": metrics, "setting": setting}
    return {"seeds": [], "metrics": metrics, "setting": setting}
