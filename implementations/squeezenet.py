"""SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size.
Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer, 2016. https://arxiv.org/abs/1602.07360

The idea: replace most 3x3 filters by 1x1 filters and feed the remaining 3x3 filters through a thin 1x1
"squeeze" layer (the Fire module, Sec. 3.2), and downsample late. Eight Fire modules whose widths follow a
few metaparameters (Sec. 5) give AlexNet's ImageNet accuracy with 1.25 M parameters instead of 61 M.
"""
from __future__ import annotations

import torch
from torch import nn


class Fire(nn.Module):
    """squeeze (1x1, s filters) -> ReLU -> [expand 1x1 (e1) | expand 3x3 (e3)] -> ReLU, concatenated (Fig. 1)."""

    def __init__(self, in_ch: int, squeeze: int, expand1x1: int, expand3x3: int, batch_norm: bool = False):
        super().__init__()
        self.squeeze = nn.Conv2d(in_ch, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)  # padding keeps both expand outputs aligned
        # batch_norm: a BN after each convolution, for the scaled-down runs only (the paper's SqueezeNet has none)
        bn = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.bn_squeeze, self.bn1x1, self.bn3x3 = bn(squeeze), bn(expand1x1), bn(expand3x3)
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = expand1x1 + expand3x3

    def forward(self, x):
        s = self.relu(self.bn_squeeze(self.squeeze(x)))
        return self.relu(torch.cat([self.bn1x1(self.expand1x1(s)), self.bn3x3(self.expand3x3(s))], 1))


class Bypass(nn.Module):
    """Fire module with a ResNet-style bypass (Sec. 6): simple = identity, complex = a 1x1 conv on the bypass."""

    def __init__(self, fire: Fire, in_ch: int, kind: str):
        super().__init__()
        self.fire = fire
        self.shortcut = nn.Identity() if kind == "simple" else nn.Conv2d(in_ch, fire.out_channels, 1, bias=False)

    def forward(self, x):
        return self.fire(x) + self.shortcut(x)


def fire_widths(*, base_e: int = 128, incr_e: int = 128, pct3x3: float = 0.5, freq: int = 2, sr: float = 0.125,
                n_fire: int = 8) -> list[tuple[int, int, int]]:
    """(squeeze, expand1x1, expand3x3) of each Fire module from the metaparameters (Sec. 5.1):
    e_i = base_e + incr_e * floor(i / freq), s_i = SR * e_i, e3x3_i = pct3x3 * e_i."""
    out = []
    for i in range(n_fire):
        e = base_e + incr_e * (i // freq)
        e3 = int(e * pct3x3)
        out.append((int(e * sr), e - e3, e3))
    return out


def squeezenet(*, num_classes: int = 1000, bypass: str | None = None, in_channels: int = 3, base_e: int = 128,
               incr_e: int = 128, pct3x3: float = 0.5, freq: int = 2, sr: float = 0.125, stem_channels: int = 96,
               stem_kernel: int = 7, stem_stride: int = 2, pool_after_fire: tuple[int, ...] = (2, 6),
               n_fire: int = 8, dropout: float = 0.5, batch_norm: bool = False, final_relu: bool = True,
               init: str = "torchvision") -> nn.Sequential:
    """SqueezeNet v1.0 (Table 1) with the paper's defaults.

    bypass: None (vanilla), "simple" (identity around fire3, 5, 7, 9: the modules whose input and output widths
    match) or "complex" (simple ones plus 1x1-conv bypasses around fire2, 4, 6, 8), as in Fig. 2.
    pool_after_fire: max-pool (3x3, stride 2) after these Fire modules, counted from fire2 = 0; the paper pools
    after conv1, fire4 and fire8 (Table 1), i.e. (2, 6). Scaled-down variants shrink base_e, n_fire and the stem.
    batch_norm / final_relu / init: knobs of the scaled-down runs only (the paper's network has no batch
    normalisation and a ReLU after conv10; init "torchvision" is torchvision's reference initialisation, "kaiming"
    He-normal (fan_out) convolutions and a He-uniform conv10).
    """
    if bypass not in (None, "simple", "complex"):
        raise ValueError(f"bypass must be None, 'simple' or 'complex', got {bypass!r}")
    layers: list[nn.Module] = [nn.Conv2d(in_channels, stem_channels, stem_kernel, stride=stem_stride),
                               *([nn.BatchNorm2d(stem_channels)] if batch_norm else []),
                               nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, ceil_mode=True)]
    ch = stem_channels
    for i, (s, e1, e3) in enumerate(fire_widths(base_e=base_e, incr_e=incr_e, pct3x3=pct3x3, freq=freq, sr=sr,
                                                n_fire=n_fire)):
        fire = Fire(ch, s, e1, e3, batch_norm=batch_norm)
        if bypass == "simple" and fire.out_channels == ch:
            fire = Bypass(fire, ch, "simple")
        elif bypass == "complex":
            fire = Bypass(fire, ch, "simple" if fire.out_channels == ch else "complex")
        layers.append(fire)
        ch = fire.out_channels if isinstance(fire, Fire) else fire.fire.out_channels
        if i in pool_after_fire:
            layers.append(nn.MaxPool2d(3, stride=2, ceil_mode=True))
    # conv10 is 1x1 to the classes, then global average pooling: no fully connected layer (Sec. 3.3)
    classifier = nn.Conv2d(ch, num_classes, 1)
    layers += [nn.Dropout(dropout), classifier, nn.ReLU(inplace=True) if final_relu else nn.Identity(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    model = nn.Sequential(*layers)
    # initialisation as in torchvision's reference SqueezeNet: Kaiming-uniform convolutions and a small N(0, 0.01)
    # classifier, so that the ReLU after conv10 does not start out dead for whole classes
    if init not in ("torchvision", "kaiming"):
        raise ValueError(f"init must be 'torchvision' or 'kaiming', got {init!r}")
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if init == "kaiming":
                nn.init.kaiming_uniform_(m.weight) if m is classifier else nn.init.kaiming_normal_(
                    m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, 0.0, 0.01) if m is classifier else nn.init.kaiming_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model
