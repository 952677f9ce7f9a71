"""Full-profile image classification: ImageNet (a local folder) or CIFAR-10 (torchvision download) behind a
DataLoader, a training loop on pipelines.shared.train.fit, and top-1 / top-5 accuracy through pipelines.shared.train.topk_accuracy.

Two recipes use the loop: `imagenet_top1_top5` (SGD/RMSProp with a step schedule; alexnet, vgg, googlenet,
mobilenet) and `train_bag_of_tricks` (He et al. 2019's baseline and tricks; bag_of_tricks, swish).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from implementations import bag_of_tricks as bot
from pipelines.shared.common import log
from pipelines.shared.data import DataUnavailable, image_folder, torchvision_dataset
from pipelines.shared.train import fit, make_optimizer, seed_everything, topk_accuracy

# PIL image -> float tensor in [0, 1], normalised with ImageNet's channel statistics
TO_TENSOR = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
             v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]


# ------------------------------------------------------------------------------------------------- data
def imagenet_datasets(data_dir: str | Path | None, *, image_size: int = 224, color_jitter: float = 0.0):
    """(train, val) ImageFolders of `data_dir`/train and `data_dir`/val (or $IMAGENET_DIR), standard augmentation:
    random-resized crop (8-100 % of the area, aspect 3/4-4/3) + horizontal flip (+ colour jitter) for training,
    resize to 256/224 of the size + centre crop for evaluation."""
    root = data_dir or os.environ.get("IMAGENET_DIR")
    if not root:
        raise DataUnavailable("no ImageNet folder: set IMAGENET_DIR (or this paper's `data_dir` in params.yaml) to a "
                              "folder holding train/<class>/<image> and val/<class>/<image>")
    jitter = [v2.ColorJitter(color_jitter, color_jitter, color_jitter)] if color_jitter else []
    train_tf = v2.Compose([v2.RandomResizedCrop(image_size), v2.RandomHorizontalFlip(), *jitter, *TO_TENSOR])
    val_tf = v2.Compose([v2.Resize(image_size * 256 // 224), v2.CenterCrop(image_size), *TO_TENSOR])
    return (image_folder(Path(root) / "train", transform=train_tf), image_folder(Path(root) / "val", transform=val_tf))


def imagenet_or_cifar10(cfg: dict):
    """(train, test, num_classes, image_size) for cfg['dataset']: CIFAR10 (downloaded; crop with 4-pixel padding +
    flip) or ImageNet (Bag of Tricks Sec. 2.1: random-resized crop, flip, colour jitter 0.6-1.4; test 256 -> 224)."""
    if cfg["dataset"] != "CIFAR10":
        return (*imagenet_datasets(cfg.get("data_dir"), color_jitter=0.4), 1000, 224)
    train_tf = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(), *TO_TENSOR])
    train = torchvision_dataset("CIFAR10", train=True, transform=train_tf)
    test = torchvision_dataset("CIFAR10", train=False, transform=v2.Compose(TO_TENSOR))
    return train, test, 10, 32


def cifar_stem(model: nn.Module) -> nn.Module:
    """A torchvision ResNet on 32x32 images: 3x3 stride-1 stem and no max-pool (the usual CIFAR adaptation)."""
    if isinstance(model.conv1, nn.Conv2d):
        model.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def loader(ds, cfg: dict, run, *, train: bool, generator: torch.Generator | None = None,
           persistent: bool = False) -> DataLoader:
    """Shuffled full batches for training, every example in order for evaluation; cfg['workers'] processes, kept
    between epochs when `persistent` (which also changes the random numbers the augmentation draws)."""
    workers = cfg.get("workers", 8)
    return DataLoader(ds, batch_size=cfg["batch_size"], shuffle=train, drop_last=train, generator=generator,
                      num_workers=workers, pin_memory=run.device == "cuda", persistent_workers=persistent and workers > 0)


class Mixup:
    """The training batches of `batches` mixed (Bag of Tricks Sec. 5.3) in the main process, re-iterable per epoch."""

    def __init__(self, batches, mix):
        self.batches, self.mix = batches, mix

    def __iter__(self):
        return (self.mix(x, y) for x, y in self.batches)


# ------------------------------------------------------------------------------------------------- training
class StackedHeads(nn.Module):
    """A model that returns (logits, *auxiliary logits) in training (GoogLeNet, Sec. 5) as one (heads, N, classes)
    tensor, the single output pipelines.shared.train.fit expects; a single output passes through."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return torch.stack(out) if isinstance(out, tuple) else out


class Bfloat16Autocast(nn.Module):
    """The forward pass under bfloat16 autocast on a GPU (a no-op on the CPU)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
            return self.model(x)


def train(model: nn.Module, batches, run, *, epochs: int, optimizer, scheduler, scheduler_per: str, loss_fn):
    """pipelines.shared.train.fit on a DataLoader (or any re-iterable of batches), one log line per epoch."""
    tick = (lambda epoch, m: log(f"epoch {epoch + 1}/{epochs}")) if run.show_progress else None
    fit(model, batches, None, epochs=epochs, optimizer=optimizer, scheduler=scheduler, scheduler_per=scheduler_per,
        loss_fn=loss_fn, on_epoch_end=tick, device=run.device)


def imagenet_top1_top5(model: nn.Module, cfg: dict, run, *, image_size: int = 224, aux_weight: float = 0.0) -> dict:
    """Train `model` on ImageNet's train folder with SGD/RMSProp and a step schedule; top-1/top-5 error on val.

    Models returning a tuple (GoogLeNet with auxiliary heads) add aux_weight times the auxiliary losses.
    """
    train_ds, val_ds = imagenet_datasets(cfg.get("data_dir"), image_size=image_size)
    model.to(run.device)
    opt = make_optimizer(model.parameters(), name=cfg.get("optimizer", "sgd"), lr=cfg["lr"],
                         momentum=cfg.get("momentum", 0.9), weight_decay=cfg.get("weight_decay", 5e-4))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg["lr_step_epochs"], gamma=cfg.get("lr_gamma", 0.1))

    def loss_fn(out, y):  # out: (N, classes), or (heads, N, classes) with the auxiliary heads after the main one
        if out.ndim == 2:
            return F.cross_entropy(out, y)
        return F.cross_entropy(out[0], y) + aux_weight * sum(F.cross_entropy(o, y) for o in out[1:])

    train(StackedHeads(model), loader(train_ds, cfg, run, train=True), run, epochs=cfg["epochs"], optimizer=opt,
          scheduler=sched, scheduler_per="epoch", loss_fn=loss_fn)
    top1, top5 = topk_accuracy(model, loader(val_ds, cfg, run, train=False), ks=(1, 5), device=run.device)
    return {"top1_error": 1 - top1, "top5_error": 1 - top5}


def train_bag_of_tricks(model: nn.Module, train_ds, cfg: dict, run, *, seed: int, tricks: bool,
                        num_classes: int) -> nn.Module:
    """Bag of Tricks' training loop: NAG, batch cfg['batch_size'], lr scaled 0.1 x b / 256 (Sec. 3.1), bfloat16
    autocast on a GPU; baseline: lr / 10 at 25/50/75 % of training (the paper's epochs 30/60/90 of 120); tricks:
    warm-up + cosine, no bias decay, label smoothing, mixup."""
    epochs, lr = cfg["epochs"], cfg["lr"] * cfg["batch_size"] / 256
    batches = loader(train_ds, cfg, run, train=True, generator=seed_everything(seed), persistent=True)
    model.to(run.device)
    total = epochs * len(batches)
    wd = cfg["weight_decay"]
    params = bot.no_bias_decay_groups(model, wd) if tricks else [{"params": model.parameters(), "weight_decay": wd}]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
    if tricks:
        sched = bot.cosine_with_warmup(opt, warmup_steps=cfg["warmup_epochs"] * len(batches), total_steps=total)
        loss = nn.CrossEntropyLoss(label_smoothing=bot.torch_label_smoothing(cfg["eps"], num_classes))
        if cfg.get("mixup_alpha"):
            batches = Mixup(batches, bot.mixup(alpha=cfg["mixup_alpha"], num_classes=num_classes))
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [total // 4, total // 2, 3 * total // 4], 0.1)
        loss = nn.CrossEntropyLoss()
    # the loss in float32, as autocast computes cross-entropy
    train(Bfloat16Autocast(model), batches, run, epochs=epochs, optimizer=opt, scheduler=sched, scheduler_per="step",
          loss_fn=lambda out, y: loss(out.float(), y))
    return model


def top1(model: nn.Module, test_ds, cfg: dict, run) -> float:
    return topk_accuracy(model, loader(test_ds, cfg, run, train=False), device=run.device)[0]
