"""The one training loop of the papers that train a classifier the plain way (minibatch SGD/Adam on tensors).

Runs the same on one CPU thread and under torchrun: when torch.distributed is initialised, the model is wrapped
in DistributedDataParallel and each rank takes its slice of every minibatch (gloo on CPU, NCCL on GPU).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)  # mean loss of each epoch
    train_acc: list[float] = field(default_factory=list)  # accuracy on the training set during each epoch
    evals: list[dict] = field(default_factory=list)  # whatever `on_epoch_end` returned, one per epoch
    steps: int = 0
    stopped_early: bool = False


def make_optimizer(params, *, name: str = "sgd", lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0,
                   betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def _batches(X, y, batch_size: int, gen: torch.Generator, rank: int, world: int):
    """Minibatches of tensors held in memory (seeded shuffle; rank r takes every world-th example), or a loader's."""
    if y is None:  # X is a DataLoader (full profile); give it a DistributedSampler for several ranks
        yield from X
        return
    perm = torch.randperm(len(y), generator=gen)
    for start in range(0, len(y), batch_size):
        idx = perm[start:start + batch_size][rank::world]
        yield X[idx], y[idx]


def fit(model: nn.Module, X, y: torch.Tensor | None, *, epochs: int, batch_size: int = 64, seed: int = 0,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 0.1, loss_fn: Callable = F.cross_entropy,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, scheduler_per: str = "step",
        on_epoch_end: Callable[[int, nn.Module], dict | bool | None] | None = None,
        stop_at_train_acc: float | None = None, after_step: Callable[[nn.Module], None] | None = None,
        device: str = "cpu") -> History:
    """Train `model` on (X, y) held in memory (or on a DataLoader X with y=None); seeded, so the same seed gives
    the same run.

    scheduler_per: "step" (called after every optimiser step) or "epoch".
    on_epoch_end(epoch, model) may return a dict (kept in History.evals) or True to stop.
    stop_at_train_acc: stop after the first epoch whose running training accuracy reaches it.
    after_step(model): e.g. a max-norm projection (Dropout paper, Sec. 5.1).
    """
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    model.to(device)
    net = nn.parallel.DistributedDataParallel(model) if distributed else model
    opt = optimizer or make_optimizer(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    hist = History()
    for epoch in range(epochs):
        net.train()
        total_loss, correct, seen = 0.0, 0, 0
        for xb, yb in _batches(X, y, batch_size, gen, rank, world):
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            out = net(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step(model)
            if scheduler is not None and scheduler_per == "step":
                scheduler.step()
            hist.steps += 1
            total_loss += loss.item() * len(yb)
            if out.ndim == 2 and yb.ndim == 1:
                correct += (out.argmax(1) == yb).sum().item()
            seen += len(yb)
        if scheduler is not None and scheduler_per == "epoch":
            scheduler.step()
        hist.train_loss.append(total_loss / max(seen, 1))
        hist.train_acc.append(correct / max(seen, 1))
        if not math.isfinite(hist.train_loss[-1]):
            hist.stopped_early = True
            break
        if on_epoch_end is not None:
            r = on_epoch_end(epoch, model)
            if r is True:
                hist.stopped_early = True
                break
            if isinstance(r, dict):
                hist.evals.append(r)
        if stop_at_train_acc is not None and hist.train_acc[-1] >= stop_at_train_acc:
            hist.stopped_early = True
            break
    return hist


@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, *, batch_size: int = 1024, device: str = "cpu") -> torch.Tensor:
    """Model outputs for X, in eval mode, in batches."""
    model.eval()
    outs = [model(X[i:i + batch_size].to(device)).cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(outs)


@torch.no_grad()
def topk_accuracy(model: nn.Module, X, y: torch.Tensor | None = None, *, ks: tuple[int, ...] = (1,),
                  batch_size: int = 1024, device: str = "cpu") -> list[float]:
    """Top-k accuracies on tensors (X, y) or on a DataLoader X (y=None)."""
    model.eval()
    batches = X if y is None else ((X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size))
    hits, n = [0] * len(ks), 0
    for xb, yb in batches:
        top = model(xb.to(device)).topk(max(ks), dim=1).indices.cpu()
        for j, k in enumerate(ks):
            hits[j] += (top[:, :k] == yb[:, None]).any(1).sum().item()
        n += len(yb)
    return [h / max(n, 1) for h in hits]


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024, device: str = "cpu") -> float:
    return topk_accuracy(model, X, y, batch_size=batch_size, device=device)[0]


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global generator (weight init) and return a fresh generator for data order."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def steps_to_target(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, reached: Callable[[nn.Module], bool],
                    optimizer: torch.optim.Optimizer, max_steps: int, batch_size: int, eval_every: int, seed: int,
                    loss_fn: Callable = F.cross_entropy, device: str = "cpu") -> int | None:
    """Minibatch steps until `reached(model)` holds, checked every `eval_every` steps (an epoch is too coarse on a
    small data set), e.g. "the whole training set's error is <= 25%" (AlexNet Fig. 1). Returns the step count, or None
    when it is never reached within `max_steps` (a censored run: report it as such, never as a number of steps)."""
    gen = torch.Generator().manual_seed(seed)
    model.to(device)
    perm, pos = torch.randperm(len(y), generator=gen), 0
    for step in range(1, max_steps + 1):
        if pos + batch_size > len(y):
            perm, pos = torch.randperm(len(y), generator=gen), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        model.train()
        loss = loss_fn(model(X[idx].to(device)), y[idx].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % eval_every == 0 and reached(model):
            return step
    return None


def first_reaching(curve: list[float], target: float, steps_per_point: int) -> int | None:
    """The steps until a recorded curve (one value every `steps_per_point` steps, higher is better) first reaches
    `target`, or None when it never does (censored)."""
    return next(((i + 1) * steps_per_point for i, v in enumerate(curve) if v >= target), None)
