"""Focal Loss for Dense Object Detection.

Tsung-Yi Lin, Priya Goyal, Ross Girshick, Kaiming He, Piotr Dollar, ICCV 2017. https://arxiv.org/abs/1708.02002

Idea: a one-stage detector sees ~100k anchors of which a handful are objects; the easy negatives swamp the
cross-entropy. The focal loss FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t) (Eq. 5) down-weights well-classified
examples, and the classifier's bias starts at b = -log((1 - pi) / pi) so that every anchor begins at p = pi (Sec. 4.1).

torchvision ships the loss as torchvision.ops.sigmoid_focal_loss (used by its RetinaNet); this file wraps it with
the paper's defaults (gamma = 2, alpha = 0.25, Table 1a/b), adds the alpha-balanced CE baseline (Eq. 3), the
prior initialisation, and a small RetinaNet-style dense classification head.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.models.detection.retinanet import RetinaNetClassificationHead
from torchvision.ops import FrozenBatchNorm2d, sigmoid_focal_loss


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, *, alpha: float = 0.25, gamma: float = 2.0,
               reduction: str = "sum") -> torch.Tensor:
    """Eq. 5 with alpha-balancing; sigmoid per anchor and class (Sec. 3.3). alpha < 0 turns alpha off.
    The paper sums over all anchors and divides by the number of positive anchors (Sec. 4.1): do that outside."""
    return sigmoid_focal_loss(logits, targets.to(logits.dtype), alpha=alpha, gamma=gamma, reduction=reduction)


def balanced_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, alpha: float = 0.75,
                           reduction: str = "sum") -> torch.Tensor:
    """Eq. 3, alpha-balanced CE: the focal loss with gamma = 0 (Table 1a's baseline, best at alpha = .75)."""
    return focal_loss(logits, targets, alpha=alpha, gamma=0.0, reduction=reduction)


def modulating_factor(p_t: torch.Tensor | float, gamma: float = 2.0):
    """(1 - p_t)^gamma: how much lower FL is than CE for an example classified with probability p_t (Sec. 3.2)."""
    return (1 - p_t) ** gamma


def prior_bias(pi: float = 0.01) -> float:
    """b = -log((1 - pi) / pi), so that sigmoid(b) = pi (Sec. 4.1, "Initialization"; pi = .01 in all experiments)."""
    return -math.log((1 - pi) / pi)


def dense_classifier(*, in_channels: int = 256, width: int = 256, depth: int = 4, num_classes: int = 1,
                     prior: float | None = 0.01, hidden_std: float | None = 0.01) -> nn.Sequential:
    """RetinaNet's classification subnet (Sec. 4, Fig. 3c): `depth` 3x3 conv + ReLU of `width` channels, then a
    3x3 conv to num_classes logits per position (one anchor per position here). Weights ~ N(0, 0.01^2), biases 0,
    except the last bias, b = prior_bias(prior) (Sec. 4.1); prior=None leaves it at 0 (p = 0.5 at the start).
    hidden_std=None keeps torch's default init for the hidden convs (a small head on raw pixels, not on FPN
    features, otherwise starts with vanishing activations)."""
    layers, ch = [], in_channels
    for _ in range(depth):
        layers += [nn.Conv2d(ch, width, 3, padding=1), nn.ReLU(inplace=True)]
        ch = width
    layers.append(nn.Conv2d(ch, num_classes, 3, padding=1))
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and (hidden_std is not None or m is net[-1]):
            nn.init.normal_(m.weight, std=0.01 if m is net[-1] else hidden_std)
            nn.init.zeros_(m.bias)
    if prior is not None:
        nn.init.constant_(net[-1].bias, prior_bias(prior))
    return net


# ------------------------------------------------------------------------------ RetinaNet with any (gamma, alpha)
class FocalClassificationHead(RetinaNetClassificationHead):
    """torchvision's RetinaNet classification subnet (4 3x3 convs of 256, prior init pi = .01) with the loss of
    Eq. 5 at any (gamma, alpha): gamma = 0 is the alpha-balanced CE of Eq. 3 (Table 1a's baseline)."""

    def __init__(self, in_channels: int, num_anchors: int, num_classes: int, *, gamma: float, alpha: float,
                 ohem: int | None = None):
        super().__init__(in_channels, num_anchors, num_classes, prior_probability=0.01)
        self.gamma, self.alpha, self.ohem = gamma, alpha, ohem

    def compute_loss(self, targets, head_outputs, matched_idxs):
        losses = []
        for target, logits, matched in zip(targets, head_outputs["cls_logits"], matched_idxs):
            fg = matched >= 0  # anchors with IoU >= 0.5 to a box (Sec. 4, "Anchors")
            onehot = torch.zeros_like(logits)
            onehot[fg, target["labels"][matched[fg]]] = 1.0
            valid = matched != self.BETWEEN_THRESHOLDS  # IoU in [0.4, 0.5): ignored during training
            if self.ohem:  # Table 1d's OHEM baseline: CE on the `ohem` highest-loss anchors of the image (no NMS here)
                per = focal_loss(logits[valid], onehot[valid], alpha=-1, gamma=0.0, reduction="none").sum(1)
                losses.append(per.topk(min(self.ohem, len(per))).values.sum() / max(1, min(self.ohem, len(per))))
                continue
            # Sec. 4.1: "the sum of the FL over all ~100k anchors, normalized by the number of anchors assigned to a
            # ground-truth box"
            losses.append(focal_loss(logits[valid], onehot[valid], alpha=self.alpha, gamma=self.gamma)
                          / max(1, int(fg.sum())))
        return sum(losses) / len(targets)


def retinanet(*, gamma: float = 2.0, alpha: float = 0.25, num_classes: int = 80, imagenet_backbone: bool = False,
              min_size: int = 800, max_size: int = 1333, depth: int = 50, ohem: int | None = None) -> nn.Module:
    """RetinaNet ResNet-50-FPN (Sec. 4): torchvision's, whose anchors (3 scales x 3 ratios on P3-P7), matching
    (IoU 0.5 / 0.4), heads and inference (1000 top anchors per level over 0.05, NMS 0.5) are the paper's, with its
    classification loss set to FL(gamma, alpha). Differences: P6 comes from P5 instead of C5, the box loss is L1
    instead of smooth L1. depth=101 gives ResNet-101-FPN; ohem=B trains with Table 1d's OHEM baseline (CE on the B
    hardest anchors per image) instead of FL. imagenet_backbone=True loads torchvision's ImageNet ResNet-50 (a download), as in the
    paper, and then freezes batch norm and the first stages as the paper's Detectron did."""
    from torchvision.models import ResNet50_Weights, ResNet101_Weights
    from torchvision.models.detection import retinanet_resnet50_fpn
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.resnet import resnet101
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    model = retinanet_resnet50_fpn(weights=None, num_classes=num_classes, min_size=min_size, max_size=max_size,
                                   weights_backbone=ResNet50_Weights.IMAGENET1K_V1 if imagenet_backbone else None)
    if depth == 101:  # ResNet-101-FPN (Tables 1d, 2): the same FPN (P3-P7) on ResNet-101's C3-C5
        trunk = resnet101(weights=ResNet101_Weights.IMAGENET1K_V1 if imagenet_backbone else None,
                          norm_layer=FrozenBatchNorm2d if imagenet_backbone else nn.BatchNorm2d)
        model.backbone = _resnet_fpn_extractor(trunk, 3 if imagenet_backbone else 5, returned_layers=[2, 3, 4],
                                               extra_blocks=LastLevelP6P7(256, 256))
    anchors = model.head.classification_head.num_anchors
    model.head.classification_head = FocalClassificationHead(256, anchors, num_classes, gamma=gamma, alpha=alpha,
                                                             ohem=ohem)
    return model
