"""Federated Learning: Strategies for Improving Communication Efficiency.

Konečný, McMahan, Yu, Richtárik, Suresh, Bacon, 2016. https://arxiv.org/abs/1610.05492

Idea: in Federated Averaging (FedAvg) the uplink (client -> server update H_i) is the bottleneck.
Either *structure* the update so it has few parameters (low rank H = A B with A random and fixed, or a
random sparsity mask), or *sketch* a full update before sending it (random rotation, subsampling,
probabilistic b-bit quantization). Every sketch is unbiased, so the server's average stays unbiased.

torch gives the model and autograd; this file adds the update parametrisations (Sec. 2), the sketches
(Sec. 3) with an honest count of the bits each client sends, and one FedAvg round (Sec. 1).
"""
from __future__ import annotations

import functools
import math

import scipy.linalg
import torch
from torch import nn

FLOAT_BITS = 32  # an update coordinate sent as a 4-byte float (Sec. 3: "32x ... compared to a 4 byte float")
SEED_BITS = 32  # a random seed from which the server regenerates masks, A matrices and rotations (Sec. 2, 3)


def mlp(*, sizes=(64, 128, 10)) -> nn.Sequential:
    """A fully connected ReLU network; the cpu profile's model (the paper used an all-conv CIFAR net and an LSTM)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def cnn(*, num_classes=10, in_channels=3, width=32) -> nn.Sequential:
    """A small conv net for the full profile (CIFAR-10 / MNIST); conv kernels are updated as (out, in*k*k) matrices."""
    w = width
    return nn.Sequential(
        nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * w, num_classes))


# ------------------------------------------------------------------------------------ Sec. 3: sketches
@functools.lru_cache(maxsize=None)
def _hadamard(n: int) -> torch.Tensor:
    return torch.tensor(scipy.linalg.hadamard(n), dtype=torch.float32)


def fwht(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal Walsh-Hadamard transform over the last dim (a power of 2, d = a*b); it is its own inverse.

    Sylvester's H_d = H_a (x) H_b, so H_d x = vec(H_a X H_b) with X = x as an a x b matrix: two small matmuls,
    faster on a CPU than the O(d log d) butterfly the paper cites for the same result.
    """
    d = x.shape[-1]
    assert d & (d - 1) == 0, f"length {d} is not a power of 2"
    a = 1 << (d.bit_length() - 1) // 2
    X = x.reshape(*x.shape[:-1], a, d // a)
    return (_hadamard(a) @ X @ _hadamard(d // a)).reshape(x.shape) / math.sqrt(d)


def rotate(x: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """Structured random rotation R x = H D x (Sec. 3, 'Improving the quantization by structured random rotations')."""
    return fwht(x * signs)


def unrotate(y: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """R^-1 y = D H y: H is symmetric orthonormal and D = diag(+-1) is its own inverse."""
    return fwht(y) * signs


def quantize_levels(h: torch.Tensor, bits: int):
    """The two neighbouring levels of every coordinate and the probability of the upper one (Sec. 3, eq. for h~_j).

    2**bits levels evenly spaced on [h_min, h_max]: for bits = 1 that is the paper's two-level scheme (h_max with
    probability (h_j - h_min)/(h_max - h_min), else h_min). The paper's b-bit text says "2^b intervals", which for
    b = 1 would give three levels; we keep 2^b levels so the 1-bit case is the scheme the paper writes out.
    """
    lo, hi = h.min(), h.max()
    step = (hi - lo) / (2 ** bits - 1)
    if step == 0:
        return h.clone(), h.clone(), torch.zeros_like(h)
    pos = (h - lo) / step
    k = pos.floor().clamp(max=2 ** bits - 2)
    return lo + k * step, lo + (k + 1) * step, pos - k


def stochastic_quantize(h: torch.Tensor, bits: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Probabilistic quantization: round up with probability p_up, so E[Q(h)] = lower + p_up * step = h (unbiased)."""
    lower, upper, p_up = quantize_levels(h, bits)
    u = torch.rand(h.shape, generator=generator)
    return torch.where(u < p_up, upper, lower)


def quantized_bits(n: int, bits: int) -> int:
    """n coordinates at `bits` each plus h_min and h_max as two floats."""
    return n * bits + 2 * FLOAT_BITS


def sketch(h: torch.Tensor, *, fraction: float, bits: int | None, rotation: bool, generator: torch.Generator):
    """Client side then server side of one matrix's sketched update; returns (the server's estimate of h, bits sent).

    Order of Sec. 4.1: random rotation -> random subsampling of `fraction` of the coordinates, rescaled by
    1/fraction so the estimate stays unbiased -> b-bit probabilistic quantization. Rotation signs and subsample
    indices come from a seed, so they cost no bits beyond SEED_BITS (counted by the caller, once per client).
    The rotation needs a power-of-2 length: the zero padding is sent too, and counted.
    """
    flat = h.reshape(-1)
    d = flat.numel()
    n = 1 << (d - 1).bit_length() if rotation else d
    x = torch.zeros(n)
    x[:d] = flat
    if rotation:
        signs = torch.randint(0, 2, (n,), generator=generator).float() * 2 - 1
        x = rotate(x, signs)
    m = max(1, round(fraction * n))
    idx = torch.randperm(n, generator=generator)[:m] if m < n else torch.arange(n)
    vals = x[idx]
    if bits is not None:
        vals = stochastic_quantize(vals, bits, generator)
        sent = quantized_bits(m, bits)
    else:
        sent = m * FLOAT_BITS
    est = torch.zeros(n)
    est[idx] = vals * (n / m)
    if rotation:
        est = unrotate(est, signs)
    return est[:d].reshape(h.shape), sent


# ------------------------------------------------------------------------------- Sec. 2: structured updates
class Structure:
    """The subspace a client's update of one weight tensor is restricted to (Sec. 2), as a projection of its gradient.

    kind "full": any update. "mask": H is zero outside a random sparsity pattern holding `fraction` of the
    entries, drawn anew for every client and round; only the non-zeros are sent. "low_rank": H = A B with A random
    and fixed (the server regenerates it from a seed) on the larger side of the matrix and only B trained and
    sent, of rank k = fraction * larger side, so that B has the same share of the entries as the mask.
    Training B by SGD moves W = W_global + A B by A dB = -lr A A^T dL/dW, so plain SGD on W with the gradient
    projected by `project` is exactly SGD on the structured parameters. Tensors are seen as (out, rest) matrices.
    """

    def __init__(self, shape, kind: str, fraction: float, generator: torch.Generator):
        self.shape, self.kind = torch.Size(shape), kind
        rows, cols = self.shape[0], self.shape.numel() // self.shape[0]
        self.sent = rows * cols
        if kind == "mask":
            self.sent = max(1, round(fraction * rows * cols))
            mask = torch.zeros(rows * cols)
            mask[torch.randperm(rows * cols, generator=generator)[:self.sent]] = 1.0
            self.mask = mask.reshape(self.shape)
        elif kind == "low_rank":
            big = max(rows, cols)
            k = max(1, round(fraction * big))
            # A ~ N(0, 1/big): columns of about unit norm, so A A^T is close to an orthogonal projector and a
            # learning rate means the same for low rank and mask (the paper does not give A's distribution)
            A = torch.randn(big, k, generator=generator) / math.sqrt(big)
            self.left = rows >= cols  # H = A B (A on the rows) or H = B A^T (A on the columns)
            self.A = A
            self.sent = k * (cols if rows >= cols else rows)
        elif kind != "full":
            raise ValueError(f"unknown update kind {kind!r}")

    def project(self, grad: torch.Tensor) -> torch.Tensor:
        if self.kind == "full":
            return grad
        if self.kind == "mask":
            return grad * self.mask
        g = grad.reshape(self.shape[0], -1)
        g = self.A @ (self.A.T @ g) if self.left else (g @ self.A) @ self.A.T
        return g.reshape(self.shape)

    def bits(self) -> int:
        return self.sent * FLOAT_BITS


def client_update(model: nn.Module, global_params: dict, X: torch.Tensor, y: torch.Tensor, *, structure: str = "full",
                  fraction: float = 1.0, sketch_cfg: dict | None = None, epochs: int = 1, lr: float = 0.1,
                  batch_size: int = 16, generator: torch.Generator, loss_fn=nn.functional.cross_entropy):
    """Local plain SGD from the global model; returns ({name: H_i}, uplink bits) of one client (Sec. 1-3).

    Only weight tensors (dim >= 2) are structured or sketched; biases are trained fully and sent as raw floats,
    as the paper compresses the big weight tensors. `model` is used as scratch space: its parameters are
    overwritten with the global ones first.
    """
    params = dict(model.named_parameters())
    structs = {k: Structure(v.shape, structure if v.dim() >= 2 else "full", fraction, generator)
               for k, v in params.items()}
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(global_params[k])
    n = len(y)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            model.zero_grad(set_to_none=True)
            loss_fn(model(X[idx]), y[idx]).backward()
            with torch.no_grad():
                for k, p in params.items():
                    p.sub_(lr * structs[k].project(p.grad))
    out, bits = {}, 0
    for k, p in params.items():
        h = p.detach() - global_params[k]
        if sketch_cfg is not None and h.dim() >= 2:
            h, sent = sketch(h, generator=generator, **sketch_cfg)
            bits += sent
        else:
            bits += structs[k].bits()
        out[k] = h
    compressed = structure != "full" or sketch_cfg is not None
    return out, bits + (SEED_BITS if compressed else 0)


def fedavg_step(global_params: dict, updates: list[dict], server_lr: float = 1.0) -> dict:
    """W_{t+1} = W_t + eta_t H_t with H_t = (1/|S_t|) sum_i H_i (Sec. 1; eta_t = 1 is plain FedAvg)."""
    return {k: w + server_lr * torch.stack([u[k] for u in updates]).mean(0) for k, w in global_params.items()}
