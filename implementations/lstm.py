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


def torch_lstm_classifier(*, input_size: int, num_classes: int, hidden: int = 32,
                          forget_bias: float = 0.0) -> SequenceClassifier:
    """torch's nn.LSTM (with the Gers et al. 2000 forget gate). forget_bias > 0 keeps the forget gate open at the
    start of training, which makes the cell behave like the 1997 CEC (weight 1) until it learns to forget."""
    lstm = nn.LSTM(input_size, hidden)
    with torch.no_grad():  # gate order of nn.LSTM: input, forget, cell, output; both bias vectors add up
        lstm.bias_ih_l0[hidden:2 * hidden] = forget_bias
        lstm.bias_hh_l0[hidden:2 * hidden] = 0.0
    return SequenceClassifier(lstm, hidden, num_classes)


def rnn_classifier(*, input_size: int, num_classes: int, hidden: int = 32) -> SequenceClassifier:
    """The tanh recurrent net the paper compares against (its BPTT / RTRL baselines, Sec. 5)."""
    return SequenceClassifier(nn.RNN(input_size, hidden, nonlinearity="tanh"), hidden, num_classes)


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
