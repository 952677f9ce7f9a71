"""Inceptionism / DeepDream: Going Deeper into Neural Networks.

Mordvintsev, Olah, Tyka, Google Research blog, June 2015.
https://research.google/blog/inceptionism-going-deeper-into-neural-networks/

Idea: turn a trained classifier around and run gradient *ascent* on its input. Maximising one class's score from
noise, with a natural-image prior (correlated neighbouring pixels), visualises what the class means to the net;
amplifying whatever a chosen layer already detects in a photo ("dreaming"), at several scales (octaves) with random
jitter, produces a feedback loop: the more a pattern is seen, the more of it is drawn.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def digit_cnn(*, width: int = 16, num_classes: int = 10, in_ch: int = 1) -> nn.Sequential:
    """The small net visualised here (the blog used GoogLeNet; no pretrained weights can be downloaded offline):
    three conv blocks named conv1..conv3 so that a layer can be chosen, then a linear classifier."""
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU()),
        nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU()),
        nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU()),
        nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes)))


def layer_output(model: nn.Sequential, x: torch.Tensor, layer: int) -> torch.Tensor:
    """The output of block `layer` (0-based) of a Sequential."""
    return model[: layer + 1](x)


def _jitter(x: torch.Tensor, jitter: int, g: torch.Generator | None) -> tuple[int, int]:
    if jitter == 0:
        return 0, 0
    dx, dy = (torch.randint(-jitter, jitter + 1, (2,), generator=g)).tolist()
    return dx, dy


def dream(model: nn.Sequential, image: torch.Tensor, layer: int, *, steps: int = 10, step_size: float = 1.5 / 255,
          octaves: int = 4, octave_scale: float = 1.4, jitter: int = 32, generator: torch.Generator | None = None,
          feedback: bool = True) -> torch.Tensor:
    """DeepDream as in the authors' released notebook: gradient ascent on ||a_layer(x)||^2 / 2, the step normalised
    by the mean absolute gradient, a random roll (jitter) before each step, run from the smallest octave up, each
    octave adding back the detail the downscaling lost.  image: (1, C, H, W) in [0, 1]; returns the dreamed image.

    step_size: the notebook's 1.5 is for pixels in 0-255 (Caffe's mean-subtracted BGR input); our pixels are in
    [0, 1], so the same step relative to the image range is 1.5 / 255 (with 1.5 every pixel would move by ~1.5
    per step, i.e. the first step already saturates the image at the clamp).

    feedback=False is the comparator without the blog's feedback loop: every step's gradient is taken at the image
    the octave started from (jittered alike), so what the steps add is never looked at again by the network."""
    model.eval()
    base = [image]
    for _ in range(octaves - 1):  # the octave pyramid: the image downscaled by octave_scale each time
        h, w = base[-1].shape[-2:]
        base.append(F.interpolate(base[-1], size=(max(int(h / octave_scale), 4), max(int(w / octave_scale), 4)),
                                  mode="bilinear", align_corners=False))
    detail = torch.zeros_like(base[-1])
    for octave_base in reversed(base):
        detail = F.interpolate(detail, size=octave_base.shape[-2:], mode="bilinear", align_corners=False)
        x = (octave_base + detail).clone()
        start = x.clone()
        for _ in range(steps):
            dx, dy = _jitter(x, min(jitter, x.shape[-1] // 4), generator)
            xj = (x if feedback else start).roll((dx, dy), (-1, -2)).requires_grad_(True)
            objective = layer_output(model, xj, layer).pow(2).sum() / 2  # the notebook's L2 objective
            (grad,) = torch.autograd.grad(objective, xj)
            with torch.no_grad():
                step = (step_size / grad.abs().mean().clamp_min(1e-8) * grad).roll((-dx, -dy), (-1, -2))
            x = (x + step).clamp(0, 1)
        detail = x - octave_base
    return x


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """The natural-image prior used here: neighbouring pixels should be close (sum of squared differences)."""
    return (x[..., 1:, :] - x[..., :-1, :]).pow(2).sum() + (x[..., :, 1:] - x[..., :, :-1]).pow(2).sum()


def visualize_class(model: nn.Module, targets: torch.Tensor, shape: tuple[int, ...], *, steps: int = 200, lr: float = 0.05,
                    prior: bool = True, tv_weight: float = 3.0, jitter: int = 2, blur_every: int = 10,
                    log_prob: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """"Start with an image full of random noise, then gradually tweak the image towards what the neural net
    considers a [class]"; with `prior`, impose "that the image should have similar statistics to natural images,
    such as neighboring pixels needing to be correlated" (TV penalty, jitter, a periodic 3x3 blur).
    One image per entry of `targets` (optimised together, independently). The score is the class logit, or with
    `log_prob` its log-softmax (towards the class and away from the others: a logit can grow with its rivals')."""
    model.eval()
    x = (0.5 + 0.1 * torch.randn(len(targets), *shape, generator=generator)).clamp(0, 1).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    blur = torch.full((shape[0], 1, 3, 3), 1 / 9)
    for step in range(steps):
        dx, dy = _jitter(x, jitter, generator) if prior else (0, 0)
        out = model(x.roll((dx, dy), (-1, -2)))
        logit = (out.log_softmax(1) if log_prob else out).gather(1, targets[:, None]).sum()
        loss = -logit + (tv_weight * total_variation(x) if prior else 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
            if prior and (step + 1) % blur_every == 0:
                x.copy_(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), blur, groups=shape[0]))
    return x.detach()


def parameterized_depth(model: nn.Module) -> int:
    """Depth counted as the blog counts it ("10-30 stacked layers"): the longest chain of layers with parameters.

    Works for torchvision's GoogLeNet (an Inception module adds its deepest branch, 2 layers) and plain Sequentials.
    """
    from torchvision.models.googlenet import Inception

    def depth(m: nn.Module) -> int:
        if isinstance(m, Inception):
            return max(depth(b) for b in (m.branch1, m.branch2, m.branch3, m.branch4))
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            return 1
        return sum(depth(c) for c in m.children())

    return depth(model)
