"""Long Short-Term Memory.

Sepp Hochreiter, Jürgen Schmidhuber. Neural Computation 9(8):1735-1780, 1997.
https://doi.org/10.1162/neco.1997.9.8.1735

Idea: a memory cell keeps its state s_c through a self-connection of fixed weight 1.0, the
"constant error carousel" (CEC), so the error flowing back through it neither vanishes nor explodes;
multiplicative input and output gates learn when to write to the cell and when to expose it.

The 1997 cell has NO forget gate: s_c(t) = s_c(t-1) + y_in(t) g(net_c(t)). The forget gate
(s_c(t) = y_phi(t) s_c(t-1) + ...) came later (Gers, Schmidhuber, Cummins, Neural Computation 2000); it
is what torch.nn.LSTM implements. `LSTM1997(forget_gate=True)` offers the Gers et al. cell beside the original.
"""
from __future__ import annotations

import torch
from torch import nn


def g_squash(x: torch.Tensor) -> torch.Tensor:
    """Cell input squashing g, a centred logistic sigmoid with range [-2, 2] (Sec. 4 and Appendix A.1)."""
    return 4 * torch.sigmoid(x) - 2


def h_squash(x: torch.Tensor) -> torch.Tensor:
    """Cell output squashing h, a centred logistic sigmoid with range [-1, 1] (Sec. 4 and Appendix A.1)."""
    return 2 * torch.sigmoid(x) - 1


class LSTM1997(nn.Module):
    """One fully recurrent hidden layer of memory cell blocks (Sec. 4, "memory cell blocks"; Sec. 5 architectures).

    The hidden layer holds `blocks * block_size` cells plus, per block, one input gate and one output gate (and
    one forget gate when `forget_gate`). Every hidden unit sees the input and the whole hidden layer of the
    previous step (cell outputs and gate activations) plus a bias: "the hidden layer is fully connected".
    truncate=True is the paper's truncated backprop (Sec. 4, Appendix A.1): errors arriving at the net inputs of
    cells and gates are not propagated further back in time, so the only path back in time is the CEC.
    Returns the cell outputs y_c of every step, shape (T, batch, cells).
    """

    def __init__(self, input_size: int, *, blocks: int = 1, block_size: int = 1, forget_gate: bool = False,
                 truncate: bool = True, init_range: float = 0.1):
        super().__init__()
        self.blocks, self.block_size, self.forget_gate, self.truncate = blocks, block_size, forget_gate, truncate
        self.cells = blocks * block_size
        gates = 3 if forget_gate else 2
        self.hidden = self.cells + gates * blocks
        # net inputs of all hidden units (cells, input gates, output gates (, forget gates)) from the input and from
        # the previous hidden layer: two affine maps, so the input part is computed for all steps at once
        self.from_input = nn.Linear(input_size, self.hidden)
        self.from_hidden = nn.Linear(self.hidden, self.hidden, bias=False)
        for p in self.parameters():  # Sec. 5: weights initialised uniformly in [-0.1, 0.1]
            nn.init.uniform_(p, -init_range, init_range)

    def forward(self, x: torch.Tensor, s0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        T, batch, _ = x.shape
        s = x.new_zeros(batch, self.cells) if s0 is None else s0
        y = x.new_zeros(batch, self.hidden)
        net_x = self.from_input(x)
        per_cell = (lambda gate: gate) if self.block_size == 1 else (  # the cells of a block share its gates
            lambda gate: gate.repeat_interleave(self.block_size, dim=1))
        outs = []
        for t in range(T):
            net = net_x[t] + self.from_hidden(y.detach() if self.truncate else y)
            net_c, gates = net[:, :self.cells], torch.sigmoid(net[:, self.cells:])
            y_in, y_out = per_cell(gates[:, :self.blocks]), per_cell(gates[:, self.blocks:2 * self.blocks])
            carry = per_cell(gates[:, 2 * self.blocks:]) * s if self.forget_gate else s  # Gers 2000 / 1997 CEC
            s = carry + y_in * g_squash(net_c)  # Sec. 4: s_c(t) = s_c(t-1) + y_in(t) g(net_c(t))
            y_c = y_out * h_squash(s)  # Sec. 4: y_c(t) = y_out(t) h(s_c(t))
            y = torch.cat([y_c, gates], dim=1)
            outs.append(y_c)
        return torch.stack(outs), s


class SequenceClassifier(nn.Module):
    """A recurrent layer read out at the last step by a linear layer. The 1997 output units see the cells only."""

    def __init__(self, recurrent: nn.Module, features: int, num_classes: int):
        super().__init__()
        self.recurrent, self.readout = recurrent, nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.recurrent(x)[0]
        return self.readout(out[-1])


def lstm1997_classifier(*, input_size: int, num_classes: int, blocks: int = 1, block_size: int = 1,
                        forget_gate: bool = False, truncate: bool = True) -> SequenceClassifier:
    cell = LSTM1997(input_size, blocks=blocks, block_size=block_size, forget_gate=forget_gate, truncate=truncate)
    return SequenceClassifier(cell, cell.cells, num_classes)


def weight_count_1997(*, inputs: int, outputs: int, blocks: int, block_size: int, forget_gate: bool = False) -> int:
    """The paper's way of counting weights (Sec. 5): fully recurrent hidden layer with biases, outputs from cells.

    hidden = cells + gates per block x blocks; each hidden unit has inputs + hidden + 1 weights; each output unit
    has cells + 1. Exp. 4 (2 inputs, 1 output, 2 blocks of size 2): 8 x (2 + 8 + 1) + 5 = 93.
    """
    cells = blocks * block_size
    hidden = cells + (3 if forget_gate else 2) * blocks
    return hidden * (inputs + hidden + 1) + outputs * (cells + 1)


def weight_count_torch_lstm(*, inputs: int, hidden: int) -> int:
    """nn.LSTM: 4 gate pre-activations of size `hidden`, each from input and hidden state, with TWO bias vectors
    (b_ih and b_hh, kept for cuDNN compatibility): 4 H (I + H + 2), not the textbook 4 H (I + H + 1)."""
    return 4 * hidden * (inputs + hidden + 2)


class StackedLSTM1997(nn.Module):
    """`models` independent copies of the 1997 layer plus a linear read-out, trained side by side (one set of weights
    per copy, stacked along a leading axis): the same arithmetic as `models` separate LSTM1997 nets, with one Python
    loop over time for all of them. Inputs (T, models, batch, I); `readout_sees_input` lets the output units see the
    current input as well as the cells. Truncated backprop as in LSTM1997 (Sec. 4, Appendix A.1).
    Exp. 2a's cell (Sec. 5.2) differs from the default: `output_gate=False`, g the logistic sigmoid in [0, 1],
    h the identity ("a memory cell and an input gate (no output gate required)")."""

    def __init__(self, models: int, input_size: int, outputs: int, *, blocks: int = 1, block_size: int = 1,
                 readout_sees_input: bool = False, init_range: float = 0.1,
                 input_gate_bias: tuple[float, ...] | None = None, output_gate_bias: tuple[float, ...] | None = None,
                 output_gate: bool = True, g=g_squash, h=h_squash):
        super().__init__()
        self.blocks, self.block_size, self.cells = blocks, block_size, blocks * block_size
        self.output_gate, self.g, self.h = output_gate, g, h
        self.hidden = self.cells + (2 if output_gate else 1) * blocks
        self.readout_sees_input = readout_sees_input
        feats = self.cells + (input_size if readout_sees_input else 0)
        u = lambda *shape: nn.Parameter(torch.empty(models, *shape).uniform_(-init_range, init_range))  # noqa: E731
        self.w_in, self.b_in = u(input_size, self.hidden), u(1, self.hidden)
        self.w_rec = u(self.hidden, self.hidden)
        self.w_out, self.b_out = u(feats, outputs), u(1, outputs)
        with torch.no_grad():  # negatively biased gates, one value per block (Sec. 4: "abuse problem"; Sec. 5)
            if input_gate_bias is not None:
                self.b_in[:, 0, self.cells:self.cells + blocks] = torch.tensor(input_gate_bias, dtype=self.b_in.dtype)
            if output_gate_bias is not None:
                self.b_in[:, 0, self.cells + blocks:] = torch.tensor(output_gate_bias, dtype=self.b_in.dtype)

    @classmethod
    def from_single(cls, nets: list[SequenceClassifier], **kw) -> "StackedLSTM1997":
        """Stack LSTM1997 classifiers (the reference implementation) into one StackedLSTM1997 with their weights."""
        r = nets[0].recurrent
        out = cls(len(nets), r.from_input.in_features, nets[0].readout.out_features, blocks=r.blocks,
                  block_size=r.block_size, **kw)
        with torch.no_grad():
            for i, n in enumerate(nets):
                out.w_in[i], out.b_in[i, 0] = n.recurrent.from_input.weight.T, n.recurrent.from_input.bias
                out.w_rec[i] = n.recurrent.from_hidden.weight.T
                out.w_out[i], out.b_out[i, 0] = n.readout.weight.T, n.readout.bias
        return out

    def forward(self, x: torch.Tensor, *, every_step: bool = False) -> torch.Tensor:
        T, S, B, _ = x.shape
        net_x = torch.baddbmm(self.b_in, x.transpose(0, 1).reshape(S, T * B, -1), self.w_in).view(S, T, B, -1)
        s, y = x.new_zeros(S, B, self.cells), x.new_zeros(S, B, self.hidden)
        k, c = self.blocks, self.cells
        outs = []
        for t in range(T):
            net = net_x[:, t] + torch.bmm(y.detach(), self.w_rec)  # truncation: no error into y(t-1)
            gates = torch.sigmoid(net[..., c:])
            y_in, y_out = gates[..., :k], (gates[..., k:] if self.output_gate else None)
            if self.block_size > 1:
                y_in = y_in.repeat_interleave(self.block_size, -1)
                y_out = None if y_out is None else y_out.repeat_interleave(self.block_size, -1)
            s = s + y_in * self.g(net[..., :c])  # the CEC, Sec. 4
            y_c = self.h(s) if y_out is None else y_out * self.h(s)
            y = torch.cat([y_c, gates], -1)
            if every_step or t == T - 1:
                outs.append(torch.cat([x[t], y_c], -1) if self.readout_sees_input else y_c)
        feats = torch.stack(outs, 1)  # (S, T', B, F)
        out = torch.baddbmm(self.b_out, feats.flatten(1, 2), self.w_out)  # one batched matmul per model
        return out.view(S, len(outs), B, -1).transpose(0, 1)  # (T', S, B, O)


# ------------------------------------------------------------------------------ the learning algorithms, per step
def truncated_rtrl_init(W: torch.Tensor, cells: int) -> dict:
    """State of LSTM's learning algorithm for one layer (batch 1) whose net inputs are W @ [x; y(t-1); 1] (rows: cells,
    input gates, output gates): cell states s, hidden activations y, and for every cell the partial derivatives
    ds_c/dw of the weights into the cell and into its input gate (Appendix A.1): 2 x cells x (I + H + 1) numbers, O(W)."""
    H, J = W.shape
    return {"s": W.new_zeros(cells), "y": W.new_zeros(H), "dS_c": W.new_zeros(cells, J), "dS_in": W.new_zeros(cells, J)}


def truncated_rtrl_step(W: torch.Tensor, W_out: torch.Tensor, state: dict, x: torch.Tensor, target: torch.Tensor | None,
                        *, blocks: int, block_size: int = 1) -> tuple[torch.Tensor, dict, tuple | None]:
    """One time step of the 1997 learning algorithm (Sec. 4 and Appendix A.1): forward, the forward update of the
    truncated partials ds_c/dw (errors stop at net inputs, so only the CEC carries them back in time), and, when a
    target is given, the gradient of 1/2 |W_out [y_c; 1] - target|^2 w.r.t. W and W_out. Every operation touches each
    weight a constant number of times: O(1) per time step and weight."""
    C, K = blocks * block_size, blocks
    z = torch.cat([x, state["y"], x.new_ones(1)])
    net = W @ z
    gates = torch.sigmoid(net[C:])
    per_cell = (lambda v: v) if block_size == 1 else (lambda v: v.repeat_interleave(block_size))  # noqa: E731
    y_in, y_out = per_cell(gates[:K]), per_cell(gates[K:])
    sig_c = torch.sigmoid(net[:C])
    g, dg = 4 * sig_c - 2, 4 * sig_c * (1 - sig_c)  # g and g' (range [-2, 2])
    s = state["s"] + y_in * g
    dS_c = state["dS_c"] + torch.outer(y_in * dg, z)  # ds_c/dw_cj += y_in g'(net_c) z_j
    dS_in = state["dS_in"] + torch.outer(g * y_in * (1 - y_in), z)  # ds_c/dw_in,j += g(net_c) f'(net_in) z_j
    sig_s = torch.sigmoid(s)
    h, dh = 2 * sig_s - 1, 2 * sig_s * (1 - sig_s)
    y_c = y_out * h
    new = {"s": s, "y": torch.cat([y_c, gates]), "dS_c": dS_c, "dS_in": dS_in}
    pred = W_out @ torch.cat([y_c, x.new_ones(1)])
    if target is None:
        return pred, new, None
    err = pred - target
    e = W_out[:, :C].T @ err  # dE/dy_c
    e_s = e * y_out * dh  # dE/ds_c
    dW = torch.cat([e_s[:, None] * dS_c,  # weights into the cells
                    (e_s[:, None] * dS_in).view(K, block_size, -1).sum(1),  # into the input gates
                    torch.outer((e * h).view(K, block_size).sum(1) * gates[K:] * (1 - gates[K:]), z)])  # output gates
    dW_out = torch.outer(err, torch.cat([y_c, x.new_ones(1)]))
    return pred, new, (dW, dW_out)


def rtrl_init(W: torch.Tensor) -> dict:
    """Full RTRL (Williams & Zipser 1989) for a fully recurrent tanh layer y = tanh(W [x; y(t-1); 1]): it carries
    dy_k/dw_ij for every unit k and weight ij: n x W numbers."""
    n, J = W.shape
    return {"y": W.new_zeros(n), "P": W.new_zeros(n, n, J)}


def rtrl_step(W: torch.Tensor, W_out: torch.Tensor, state: dict, x: torch.Tensor, target: torch.Tensor | None
              ) -> tuple[torch.Tensor, dict, tuple | None]:
    """One step of full RTRL: P_k,ij <- f'(net_k) (sum_l W_kl P_l,ij + delta_ki z_j): n^2 W multiply-adds, O(W) per
    weight (the cost the paper contrasts LSTM with, Sec. 4)."""
    n, J = W.shape
    I = J - n - 1
    z = torch.cat([x, state["y"], x.new_ones(1)])
    y = torch.tanh(W @ z)
    P = (W[:, I:I + n] @ state["P"].view(n, -1)).view(n, n, J)
    P = P + torch.eye(n, dtype=W.dtype, device=W.device)[:, :, None] * z  # the delta_ki z_j term
    P = (1 - y * y)[:, None, None] * P
    new = {"y": y, "P": P}
    pred = W_out @ torch.cat([y, x.new_ones(1)])
    if target is None:
        return pred, new, None
    err = pred - target
    e = W_out[:, :n].T @ err
    return pred, new, ((e @ P.view(n, -1)).view(n, J), torch.outer(err, torch.cat([y, x.new_ones(1)])))
