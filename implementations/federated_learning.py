"""Federated Learning: Strategies for Improving Communication Efficiency.

Konečný, McMahan, Yu, Richtárik, Suresh, Bacon, 2016. https://arxiv.org/abs/1610.05492

Idea: in Federated Averaging (FedAvg) the uplink (client -> server update H_i) is the bottleneck.
Either *structure* the update so it has few parameters (low rank H = A B with A random and fixed, or a
random sparsity mask), or *sketch* a full update before sending it (random rotation, subsampling,
probabilistic b-bit quantization). Every sketch is unbiased, so the server's average stays unbiased.

torch gives the model and autograd; this file adds the update parametrisations (Sec. 2), the sketches
(Sec. 3), the byte messages a client actually sends and the server decodes (so the uplink is counted on the wire,
not by formula), and one FedAvg round (Sec. 1).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
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


def quantize_indices(h: torch.Tensor, bits: int, generator: torch.Generator | None = None):
    """(h_min, h_max, level index per coordinate): round up with probability p_up, so E[level] = h (unbiased)."""
    lo, hi = h.min(), h.max()
    step = (hi - lo) / (2 ** bits - 1)
    if step == 0:
        return lo, hi, torch.zeros(h.shape, dtype=torch.long)
    pos = (h - lo) / step
    k = pos.floor().clamp(max=2 ** bits - 2)
    u = torch.rand(h.shape, generator=generator).to(h.device)
    return lo, hi, (k + (u < pos - k).to(k.dtype)).long()


def stochastic_quantize(h: torch.Tensor, bits: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Probabilistic quantization: the value the server reads back, lower + p_up * step in expectation = h."""
    lo, hi, k = quantize_indices(h, bits, generator)
    return lo + k.to(h.dtype) * ((hi - lo) / (2 ** bits - 1))


# ------------------------------------------------------------------------ the messages a client actually sends
def encode_floats(t: torch.Tensor) -> bytes:
    """Coordinates as 4-byte floats (little-endian): what an uncompressed update costs."""
    return t.detach().to("cpu", torch.float32).numpy().astype("<f4").tobytes()


def decode_floats(msg: bytes, shape) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(msg, dtype="<f4").copy()).reshape(shape)


def pack_levels(k: np.ndarray, bits: int) -> bytes:
    """Level indices (0 .. 2**bits - 1) as a bit stream, `bits` bits each, padded to whole bytes."""
    shifts = np.arange(bits - 1, -1, -1)
    return np.packbits(((k.astype(np.int64)[:, None] >> shifts) & 1).astype(np.uint8).ravel()).tobytes()


def unpack_levels(msg: bytes, n: int, bits: int) -> np.ndarray:
    stream = np.unpackbits(np.frombuffer(msg, dtype=np.uint8))[:n * bits].reshape(n, bits).astype(np.int64)
    return (stream << np.arange(bits - 1, -1, -1)).sum(1)


def encode_quantized(h: torch.Tensor, bits: int, generator: torch.Generator | None = None) -> bytes:
    """Probabilistic b-bit quantization as sent (Sec. 3): h_min and h_max as two 4-byte floats, then one b-bit
    level index per coordinate."""
    lo, hi, k = quantize_indices(h.detach().float().cpu(), bits, generator)
    return np.array([float(lo), float(hi)], dtype="<f4").tobytes() + pack_levels(k.numpy(), bits)


def decode_quantized(msg: bytes, n: int, bits: int) -> torch.Tensor:
    lo, hi = (torch.tensor(float(v)) for v in np.frombuffer(msg[:8], dtype="<f4"))
    k = torch.from_numpy(unpack_levels(msg[8:], n, bits)).float()
    return lo + k * ((hi - lo) / (2 ** bits - 1))


def _padded(d: int, rotation: bool) -> int:
    return 1 << (d - 1).bit_length() if rotation else d


def _sketch_plan(d: int, *, fraction: float, rotation: bool, public: torch.Generator):
    """What client and server both derive from the shared seed: rotation signs and the kept coordinates."""
    n = _padded(d, rotation)
    signs = torch.randint(0, 2, (n,), generator=public).float() * 2 - 1 if rotation else None
    m = max(1, round(fraction * n))
    idx = torch.randperm(n, generator=public)[:m] if m < n else torch.arange(n)
    return n, signs, idx


def sketch_encode(h: torch.Tensor, *, fraction: float, bits: int | None, rotation: bool, public: torch.Generator,
                  private: torch.Generator) -> bytes:
    """Client side of one matrix's sketched update (Sec. 4.1's order): random rotation -> random subsampling of
    `fraction` of the coordinates -> b-bit probabilistic quantization. Rotation signs and kept coordinates come
    from the shared seed (`public`), so they are not sent; the rounding is the client's own (`private`). The
    rotation needs a power-of-2 length: the zero padding is rotated in, and its coordinates are sent like any."""
    flat = h.detach().reshape(-1).float().cpu()
    n, signs, idx = _sketch_plan(flat.numel(), fraction=fraction, rotation=rotation, public=public)
    x = torch.zeros(n)
    x[:flat.numel()] = flat
    if rotation:
        x = rotate(x, signs)
    return encode_quantized(x[idx], bits, private) if bits is not None else encode_floats(x[idx])


def sketch_decode(msg: bytes, shape, *, fraction: float, bits: int | None, rotation: bool,
                  public: torch.Generator) -> torch.Tensor:
    """Server side: the unbiased estimate of the update from the bytes and the shared seed (kept coordinates
    rescaled by n / m, then the rotation undone)."""
    d = int(np.prod(shape))
    n, signs, idx = _sketch_plan(d, fraction=fraction, rotation=rotation, public=public)
    vals = decode_quantized(msg, len(idx), bits) if bits is not None else decode_floats(msg, (len(idx),))
    est = torch.zeros(n)
    est[idx] = vals * (n / len(idx))
    if rotation:
        est = unrotate(est, signs)
    return est[:d].reshape(shape)


def sketch(h: torch.Tensor, *, fraction: float, bits: int | None, rotation: bool, generator: torch.Generator):
    """One matrix through the wire: (the server's estimate of h, bits of the message); the shared seed is drawn
    from `generator` and not counted here (a client sends one seed for all its matrices)."""
    seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator))
    msg = sketch_encode(h, fraction=fraction, bits=bits, rotation=rotation,
                        public=torch.Generator().manual_seed(seed), private=generator)
    est = sketch_decode(msg, h.shape, fraction=fraction, bits=bits, rotation=rotation,
                        public=torch.Generator().manual_seed(seed))
    return est.to(h.device), 8 * len(msg)


# ------------------------------------------------------------------------------- Sec. 2: structured updates
class Structure:
    """The subspace a client's update of one weight tensor is restricted to (Sec. 2), as a projection of its gradient.

    kind "full": any update. "mask": H is zero outside a random sparsity pattern holding `fraction` of the
    entries, drawn anew for every client and round from the shared seed; only the non-zeros are sent. "low_rank":
    H = A B with A random and fixed (the server regenerates it from the seed) on the larger side of the matrix and
    only B trained and sent, of rank k = fraction * larger side, so that B has the same share of the entries as
    the mask. Training B by SGD moves W = W_global + A B by A dB = -lr A A^T dL/dW, so plain SGD on W with the
    gradient projected by `project` is exactly SGD on the structured parameters. Tensors are (out, rest) matrices.
    """

    def __init__(self, shape, kind: str, fraction: float, generator: torch.Generator):
        self.shape, self.kind = torch.Size(shape), kind
        rows, cols = self.shape[0], self.shape.numel() // self.shape[0]
        if kind == "mask":
            sent = max(1, round(fraction * rows * cols))
            mask = torch.zeros(rows * cols, dtype=torch.bool)
            mask[torch.randperm(rows * cols, generator=generator)[:sent]] = True
            self.mask = mask.reshape(self.shape)
        elif kind == "low_rank":
            big = max(rows, cols)
            k = max(1, round(fraction * big))
            # A ~ N(0, 1/big): columns of about unit norm, so A A^T is close to an orthogonal projector and a
            # learning rate means the same for low rank and mask (the paper does not give A's distribution)
            self.A = torch.randn(big, k, generator=generator) / math.sqrt(big)
            self.left = rows >= cols  # H = A B (A on the rows) or H = B A^T (A on the columns)
        elif kind != "full":
            raise ValueError(f"unknown update kind {kind!r}")

    def to(self, device) -> "Structure":
        for name in ("mask", "A"):
            if hasattr(self, name):
                setattr(self, name, getattr(self, name).to(device))
        return self

    def project(self, grad: torch.Tensor) -> torch.Tensor:
        if self.kind == "full":
            return grad
        if self.kind == "mask":
            return grad * self.mask
        g = grad.reshape(self.shape[0], -1)
        g = self.A @ (self.A.T @ g) if self.left else (g @ self.A) @ self.A.T
        return g.reshape(self.shape)

    def encode(self, h: torch.Tensor) -> bytes:
        """The update's free parameters as 4-byte floats: all of H, the mask's entries, or B."""
        if self.kind == "full":
            return encode_floats(h)
        if self.kind == "mask":
            return encode_floats(h[self.mask])
        g = h.reshape(self.shape[0], -1)
        b = torch.linalg.lstsq(self.A, g if self.left else g.T).solution  # H lies in A's range: exact
        return encode_floats(b)

    def decode(self, msg: bytes) -> torch.Tensor:
        if self.kind == "full":
            return decode_floats(msg, self.shape)
        if self.kind == "mask":
            out = torch.zeros(self.shape)
            out[self.mask.cpu()] = decode_floats(msg, (-1,))
            return out
        b = decode_floats(msg, (self.A.shape[1], -1))
        A = self.A.cpu()
        return (A @ b if self.left else (A @ b).T).reshape(self.shape)


@dataclass
class Message:
    """What one client sends: a 32-bit seed (when anything is random: masks, A, rotations, kept coordinates) and
    one byte string per parameter tensor."""

    seed: int | None
    tensors: dict

    def bits(self, names=None) -> int:
        names = self.tensors if names is None else names
        return 8 * sum(len(self.tensors[k]) for k in names) + (SEED_BITS if self.seed is not None else 0)


def _structures(shapes: dict, structure: str, fraction: float, public: torch.Generator | None) -> dict:
    return {k: Structure(s, structure if len(s) >= 2 else "full", fraction, public) for k, s in shapes.items()}


def client_update(model: nn.Module, global_params: dict, X: torch.Tensor, y: torch.Tensor, *, structure: str = "full",
                  fraction: float = 1.0, sketch_cfg: dict | None = None, epochs: int = 1, lr: float = 0.1,
                  batch_size: int = 16, generator: torch.Generator, loss_fn=nn.functional.cross_entropy) -> Message:
    """Local plain SGD from the global model; returns the Message the client sends (Sec. 1-3).

    Only weight tensors (dim >= 2) are structured or sketched; biases are trained fully and sent as raw floats,
    as the paper compresses the big weight tensors. `model` is used as scratch space: its parameters are
    overwritten with the global ones first. `generator` is the client's own randomness (batches, rounding, and
    the seed it draws and sends); everything the server must reproduce comes from that seed.
    """
    params = dict(model.named_parameters())
    compressed = structure != "full" or sketch_cfg is not None
    seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator)) if compressed else None
    public = torch.Generator().manual_seed(seed) if compressed else None
    structs = {k: s.to(params[k].device) for k, s in
               _structures({k: v.shape for k, v in params.items()}, structure, fraction, public).items()}
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(global_params[k])
    n = len(y)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator).to(y.device)
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            model.zero_grad(set_to_none=True)
            loss_fn(model(X[idx]), y[idx]).backward()
            with torch.no_grad():
                for k, p in params.items():
                    p.sub_(lr * structs[k].project(p.grad))
    out = {}
    for k, p in params.items():
        h = p.detach() - global_params[k]
        out[k] = (sketch_encode(h, public=public, private=generator, **sketch_cfg)
                  if sketch_cfg is not None and h.dim() >= 2 else structs[k].encode(h))
    return Message(seed, out)


def decode_update(message: Message, shapes: dict, *, structure: str = "full", fraction: float = 1.0,
                  sketch_cfg: dict | None = None) -> dict:
    """Server side: the update H_i read from the bytes alone (and the seed), in the client's tensor order."""
    public = torch.Generator().manual_seed(message.seed) if message.seed is not None else None
    structs = _structures(shapes, structure, fraction, public)
    return {k: (sketch_decode(message.tensors[k], shapes[k], public=public, **sketch_cfg)
                if sketch_cfg is not None and len(shapes[k]) >= 2 else structs[k].decode(message.tensors[k]))
            for k in shapes}


def fedavg_step(global_params: dict, updates: list[dict], server_lr: float = 1.0) -> dict:
    """W_{t+1} = W_t + eta_t H_t with H_t = (1/|S_t|) sum_i H_i (Sec. 1; eta_t = 1 is plain FedAvg)."""
    return {k: w + server_lr * torch.stack([u[k] for u in updates]).mean(0) for k, w in global_params.items()}
