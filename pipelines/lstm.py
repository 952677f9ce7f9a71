"""LSTM (Hochreiter & Schmidhuber 1997): weight counts, the learning algorithm's cost per step and weight, a long
time-lag task and the adding problem.

Paper scale (cpu profile): Exp. 3a (Bengio et al.'s 2-sequence problem, T = 100, N = 3, stopping criteria ST1/ST2)
and Exp. 4 (the adding problem at T = 100 with the paper's 93-weight net), with the paper's nets, sequence budgets and
success criteria; Exp. 2a (noise-free long lags, p = 100) at the full profile. The seeds of one arm train side by
side as one stacked model (StackedLSTM1997 / StackedRNN: the same arithmetic as separate nets).
Analogue: Exp. 2b's noisy form (class symbol, then `lag` random distractors) against a tanh RNN.
Sequences are generated on-line, as in the paper; within a task every arm gets exactly the same sequences.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from implementations.lstm import (StackedLSTM1997, lstm1997_classifier, rtrl_init, rtrl_step, truncated_rtrl_init,
                                  truncated_rtrl_step, weight_count_1997)
from pipelines.shared.common import map_seeds
from pipelines.shared.structural import count_params


# ------------------------------------------------------------------------------------------ tasks
def latch_batch(batch: int, *, lag: int, symbols: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(lag + 1, batch, symbols) one-hot sequences: class symbol 0 or 1, then `lag` distractors from 2..symbols-1."""
    y = torch.randint(0, 2, (batch,), generator=gen)
    seq = torch.randint(2, symbols, (lag + 1, batch), generator=gen)
    seq[0] = y
    return F.one_hot(seq, symbols).float(), y


def exp2a_batch(batch: int, *, p: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Exp. 2a (Sec. 5.2): the two sequences (y, a_1, ..., a_{p-1}, y) and (x, a_1, ..., a_{p-1}, x), each with
    probability 1/2, over p + 1 locally (one-hot) coded symbols (a_1..a_{p-1} = 0..p-2, x = p-1, y = p). Returns the
    one-hot inputs (p + 1, batch, p + 1) and the next-symbol targets (p, batch) of steps 0..p-1."""
    seq = exp2a_symbols(torch.randint(0, 2, (batch,), generator=gen) + (p - 1), p)
    return F.one_hot(seq, p + 1).float(), seq[1:]


def exp2a_symbols(first: torch.Tensor, p: int) -> torch.Tensor:
    """Symbol ids (p + 1, batch) of the sequences (first, a_1, ..., a_{p-1}, first)."""
    return torch.cat([first[None], torch.arange(p - 1)[:, None].expand(p - 1, len(first)), first[None]])


def two_sequence_batch(batch: int, *, T: int, n_info: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Exp. 3a (Sec. 5.3, Bengio et al.'s 2-sequence problem): (T, batch, 1) inputs whose first `n_info` elements are
    1.0 (class 1) or -1.0 (class 2) and the rest Gaussian noise of mean 0 and variance 0.2; targets 1.0 / 0.0."""
    y = torch.randint(0, 2, (batch,), generator=gen).float()
    x = torch.randn(T, batch, generator=gen) * 0.2 ** 0.5
    x[:n_info] = (2 * y - 1)[None]
    return x[..., None], y


def adding_batch(batch: int, *, T: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Exp. 4 (Sec. 5.4): (T, batch, 2) pairs (value in [-1, 1], marker). One of the first ten pairs (X1) and one of
    the first T/2 - 1 other pairs (X2) are marked 1.0; the first and the last pair are marked -1.0 unless marked 1.0
    (then X1 = 0). Target 0.5 + (X1 + X2) / 4, at the last step; minimal time lag ~T/2."""
    value = torch.rand(T, batch, generator=gen) * 2 - 1
    marker = torch.zeros(T, batch)
    marker[0], marker[-1] = -1.0, -1.0
    cols = torch.arange(batch)
    first = torch.randint(0, 10, (batch,), generator=gen)
    second = torch.randint(0, T // 2 - 1, (batch,), generator=gen)  # one of the first T/2 - 1 pairs but `first`
    second = second + (second >= first).long()
    marker[first, cols], marker[second, cols] = 1.0, 1.0
    value[0, cols[first == 0]] = 0.0  # "in the rare case where the first pair gets marked, we set X1 to zero"
    target = 0.5 + (value[first, cols] + value[second, cols]) / 4
    return torch.stack([value, marker], dim=2), target


def adding_length(T: int, gen: torch.Generator) -> int:
    """Sec. 5.4: sequence lengths are drawn from [T, T + T/10] (here one length per minibatch)."""
    return int(torch.randint(T, T + T // 10 + 1, (1,), generator=gen))


def _stacked(fn, gens, *args, **kw):
    """One batch per stacked model (seed), each from its own generator: inputs (T, S, B, ...), targets (S, ...)."""
    xs, ys = zip(*[fn(*args, gen=g, **kw) for g in gens])
    return torch.stack(xs, 1), torch.stack(ys)


def _update(model: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimiser step of every stacked model, each gradient clipped to norm 1 on its own."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    _clip_per_model(model, 1.0)
    opt.step()


def _test_errors(predict, batch, seeds: list[int], *, T: int, n: int, seed_offset: int, length_offset: int,
                 groups: int = 10) -> list[torch.Tensor]:
    """predict(x) - y of each seed's net on n fresh sequences of its own (generator seed_offset + seed), in `groups`
    minibatches whose lengths are drawn from [T, T + T/10]: a list of (seeds, n / groups) errors."""
    gens = [torch.Generator().manual_seed(seed_offset + s) for s in seeds]
    len_gen = torch.Generator().manual_seed(length_offset + seeds[0])
    errors = []
    for _ in range(groups):
        x, y = _stacked(batch, gens, n // groups, T=adding_length(T, len_gen))
        with torch.no_grad():
            errors.append(predict(x) - y)
    return errors


def _clip_per_model(model: torch.nn.Module, max_norm: float) -> None:
    """clip_grad_norm_ for every stacked model on its own (leading axis of every parameter)."""
    with torch.no_grad():
        norms = sum(p.grad.flatten(1).pow(2).sum(1) for p in model.parameters()).sqrt()
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for p in model.parameters():
            p.grad.mul_(scale.view(-1, *[1] * (p.dim() - 1)))


# ------------------------------------------------------------------------------------------ paper scale
def exp2a(cfg: dict, seeds: list[int]) -> dict:
    """Exp. 2a, all seeds stacked: the paper's cell (a memory cell and an input gate, no output gate, g logistic, h the
    identity, weights in [-0.2, 0.2]), output units that see the input and the cell, next-symbol prediction at every
    step (softmax cross-entropy), Adam. Success (Sec. 5.2): "the maximal absolute error of all output units is always
    below 0.25", here at every step of both sequences (the only two). Checked every `exp2a_check_every` updates."""
    p, B = cfg["exp2a_p"], cfg["exp2a_batch_size"]
    torch.manual_seed(seeds[0])
    model = StackedLSTM1997(len(seeds), p + 1, p + 1, blocks=cfg["exp2a_blocks"], readout_sees_input=True,
                            init_range=0.2, output_gate=False, g=torch.sigmoid, h=lambda s: s)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["exp2a_lr"])
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    both = exp2a_symbols(torch.tensor([p - 1, p]), p)  # the two sequences, (p + 1, 2) symbol ids
    test_x = F.one_hot(both, p + 1).float()[:, None].expand(-1, len(seeds), -1, -1)
    test_y = both[1:]
    first_success = [None] * len(seeds)
    updates = cfg["exp2a_sequences"] // B

    def evaluate():
        with torch.no_grad():
            prob = model(test_x, every_step=True)[:-1].softmax(-1)  # (p, S, 2, p + 1)
        target = F.one_hot(test_y, p + 1).float()[:, None]
        all_ok = (prob - target).abs().amax(-1).amax(0) < 0.25  # (S, 2): every output, every step
        easy = (prob[:-1].argmax(-1) == test_y[:-1, None]).float().mean((0, 2))
        return all_ok.all(-1), easy

    for u in range(updates):
        x, y = _stacked(exp2a_batch, gens, B, p=p)
        logits = model(x, every_step=True)[:-1]  # (p, S, B, p + 1): predictions of steps 1..p
        loss = F.cross_entropy(logits.permute(1, 3, 0, 2), y, reduction="none").mean((1, 2)).sum()
        _update(model, opt, loss)
        if (u + 1) % cfg["exp2a_check_every"] == 0:
            ok, _ = evaluate()
            for i in range(len(seeds)):
                if ok[i] and first_success[i] is None:
                    first_success[i] = (u + 1) * B
    ok, easy = evaluate()
    return {"success": [float(v) for v in ok], "easy_steps_correct": easy.tolist(),
            "sequences_to_success": [float(v) if v is not None else float("nan") for v in first_success]}


def exp3a(cfg: dict, seeds: list[int]) -> dict:
    """Exp. 3a at the paper's scale, all seeds stacked: 1 input, 3 blocks of one cell, a sigmoid output unit from the
    cells, gate biases of Sec. 5.3 (input -1/-3/-5, output -2/-4/-6), weights in [-0.1, 0.1]; squared error at the
    sequence end, Adam, per-seed clip 1; lengths in [T, T + T/10]. Every `exp3a_check_every` updates each seed is
    tested on its own 256 sequences: ST1 = none misclassified (|error| > 0.2), ST2 = ST1 and mean |error| < 0.01. A
    seed stops (its weights are kept) at ST2; then 2,560 fresh sequences give its fraction misclassified (Table 4)."""
    T, B, S = cfg["exp3a_T"], cfg["exp3a_batch_size"], len(seeds)
    batch = partial(two_sequence_batch, n_info=cfg["exp3a_n"])
    torch.manual_seed(seeds[0])
    model = StackedLSTM1997(S, 1, 1, blocks=3, input_gate_bias=(-1.0, -3.0, -5.0), output_gate_bias=(-2.0, -4.0, -6.0))
    predict = lambda x: torch.sigmoid(model(x)[-1, ..., 0])  # noqa: E731
    opt = torch.optim.Adam(model.parameters(), lr=cfg["exp3a_lr"])
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    len_gen = torch.Generator().manual_seed(seeds[0])

    def test(n: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fraction misclassified and mean |error| of every seed on n sequences of its own."""
        wrong, err = torch.zeros(S), torch.zeros(S)
        for e in _test_errors(predict, batch, seeds, T=T, n=n, seed_offset=offset, length_offset=offset):
            e = e.abs()
            wrong, err = wrong + (e > 0.2).float().sum(-1), err + e.sum(-1)
        return wrong / n, err / n

    untrained_wrong, _ = test(cfg["exp3a_test_sequences"], 40_000)
    st1, st2 = [None] * S, [None] * S
    kept = [p.detach().clone() for p in model.parameters()]
    budget = cfg["exp3a_sequences"] // B
    for u in range(budget):
        x, y = _stacked(batch, gens, B, T=adding_length(T, len_gen))
        loss = (predict(x) - y).pow(2).mean(1).sum()
        _update(model, opt, loss)
        if (u + 1) % cfg["exp3a_check_every"] == 0 or u + 1 == budget:
            wrong, err = test(256, 50_000)
            for i in range(S):
                if st2[i] is None:
                    if wrong[i] == 0 and st1[i] is None:
                        st1[i] = (u + 1) * B
                    if wrong[i] == 0 and err[i] < 0.01:
                        st2[i] = (u + 1) * B
                        with torch.no_grad():
                            for k, p in zip(kept, model.parameters()):
                                k[i] = p[i]
            if all(v is not None for v in st2):
                break
    with torch.no_grad():  # the stopped seeds get back their weights at ST2; the others keep the last ones
        for k, p in zip(kept, model.parameters()):
            for i in range(S):
                if st2[i] is not None:
                    p[i] = k[i]
    wrong, _ = test(cfg["exp3a_test_sequences"], 60_000)
    censored = float(budget * B)  # not reached within the budget: counted as the budget (a lower bound)
    return {"wrong": wrong.tolist(), "untrained_wrong": untrained_wrong.tolist(),
            "reached_st2": [float(v is not None) for v in st2],
            "sequences_to_st1": [float(v) if v is not None else censored for v in st1],
            "sequences_to_st2": [float(v) if v is not None else censored for v in st2]}


def adding_lstm(cfg: dict, seeds: list[int]) -> dict:
    """Exp. 4 with the paper's net (2 blocks of 2 cells, 93 weights), all seeds stacked; MSE at the last step, Adam,
    per-seed gradient-norm clip 1; `adding_sequences` training sequences (Table 7: 74,000 at T = 100)."""
    T, B = cfg["adding_T"], cfg["adding_batch_size"]
    torch.manual_seed(seeds[0])
    model = StackedLSTM1997(len(seeds), 2, 1, blocks=2, block_size=2, input_gate_bias=tuple(cfg["adding_input_gate_bias"]))
    opt = torch.optim.Adam(model.parameters(), lr=cfg["adding_lr"]["lstm1997_exp4"])
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    len_gen = torch.Generator().manual_seed(seeds[0])
    for _ in range(cfg["adding_sequences"] // B):
        x, y = _stacked(adding_batch, gens, B, T=adding_length(T, len_gen))
        loss = (model(x)[-1, ..., 0] - y).pow(2).mean(1).sum()
        _update(model, opt, loss)
    return _adding_eval_stacked(lambda x: model(x)[-1, ..., 0], cfg, seeds)


def _adding_eval_stacked(predict, cfg: dict, seeds: list[int]) -> dict:
    """Each seed's net on its own 2,560 fresh test sequences (Table 7), lengths drawn from [T, T + T/10]."""
    n = cfg["adding_test_sequences"]
    wrong, sq = torch.zeros(len(seeds)), torch.zeros(len(seeds))
    for err in _test_errors(predict, adding_batch, seeds, T=cfg["adding_T"], n=n, seed_offset=20_000,
                            length_offset=30_000):
        wrong, sq = wrong + (err.abs() >= 0.04).float().sum(-1), sq + err.pow(2).sum(-1)
    return {"wrong": (wrong / n).tolist(), "mse": (sq / n).tolist()}


class StackedRNN(torch.nn.Module):
    """`models` independent tanh RNNs (nn.RNN's arithmetic: h = tanh(W_ih x + b_ih + W_hh h + b_hh)) with a linear
    read-out at the last step, stacked along a leading axis; full BPTT."""

    def __init__(self, models: int, inputs: int, hidden: int, outputs: int):
        super().__init__()
        k = hidden ** -0.5  # nn.RNN's and nn.Linear's default initialisation ranges
        u = lambda a, *shape: torch.nn.Parameter(torch.empty(models, *shape).uniform_(-a, a))  # noqa: E731
        self.w_ih, self.w_hh, self.b = u(k, inputs, hidden), u(k, hidden, hidden), u(k, 1, hidden)
        self.b.data += u(k, 1, hidden).data  # b_ih + b_hh
        self.w_out, self.b_out = u(k, hidden, outputs), u(k, 1, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, S, B, _ = x.shape
        net_x = torch.baddbmm(self.b, x.transpose(0, 1).reshape(S, T * B, -1), self.w_ih).view(S, T, B, -1)
        h = x.new_zeros(S, B, self.w_hh.shape[1])
        for t in range(T):
            h = torch.tanh(net_x[:, t] + torch.bmm(h, self.w_hh))
        return torch.baddbmm(self.b_out, h, self.w_out)  # (S, B, outputs)


def adding_rnn(cfg: dict, seeds: list[int]) -> dict:
    """The comparator on the same sequences and budget: tanh RNNs (BPTT) of `adding_rnn_hidden` units, all seeds
    stacked, Adam, per-seed clip 1."""
    T, B = cfg["adding_T"], cfg["adding_batch_size"]
    torch.manual_seed(seeds[0])
    model = StackedRNN(len(seeds), 2, cfg["adding_rnn_hidden"], 1)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["adding_lr"]["rnn"])
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    len_gen = torch.Generator().manual_seed(seeds[0])
    for _ in range(cfg["adding_sequences"] // B):
        x, y = _stacked(adding_batch, gens, B, T=adding_length(T, len_gen))
        loss = (model(x)[..., 0] - y).pow(2).mean(1).sum()
        _update(model, opt, loss)
    return _adding_eval_stacked(lambda x: model(x)[..., 0], cfg, seeds)


# ------------------------------------------------------------------------------------------ analogue: Exp. 2b
def latch(cfg: dict, arm: str, seeds: list[int]) -> list[float]:
    """Exp. 2b analogue, all seeds of one arm stacked: the 1997 LSTM (`hidden` blocks of one cell, truncated backprop,
    negatively biased gates as Sec. 4 prescribes against the abuse and drift problems) or a tanh RNN of `hidden`
    units (full BPTT), softmax read-out at the last step, Adam, per-seed clip 1. Returns each seed's test accuracy."""
    S, symbols = len(seeds), cfg["symbols"]
    torch.manual_seed(seeds[0])
    if arm == "lstm1997":
        bias = tuple(float(b) for b in cfg["latch_gate_bias"])
        model = StackedLSTM1997(S, symbols, 2, blocks=cfg["hidden"], input_gate_bias=bias, output_gate_bias=bias)
        logits = lambda x: model(x)[-1]  # noqa: E731
    elif arm == "rnn":
        model = StackedRNN(S, symbols, cfg["hidden"], 2)
        logits = model
    else:
        raise ValueError(arm)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"][arm])
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    for _ in range(cfg["updates"]):
        x, y = _stacked(latch_batch, gens, cfg["batch_size"], lag=cfg["lag"], symbols=symbols)
        loss = F.cross_entropy(logits(x).permute(0, 2, 1), y, reduction="none").mean(1).sum()
        _update(model, opt, loss)
    x, y = _stacked(latch_batch, [torch.Generator().manual_seed(10_000 + s) for s in seeds], cfg["test_sequences"],
                    lag=cfg["lag"], symbols=symbols)
    with torch.no_grad():
        return (logits(x).argmax(-1) == y).float().mean(-1).tolist()


# ------------------------------------------------------------------------------------------ cost per step and weight
class OpCounter(TorchDispatchMode):
    """Scalar arithmetic operations of the aten ops run inside it: multiply-adds of matrix products, one per output
    element of pointwise ops, one per input element of sums; views, copies and concatenations are free."""

    MATMUL = ("mm", "mv", "addmm", "dot")

    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name in self.MATMUL:
            a, b = args[-2], args[-1]
            self.ops += a.numel() * (b.shape[-1] if b.dim() == 2 else 1)
        elif torch.Tag.pointwise in func.tags:
            self.ops += out.numel()
        elif name == "sum":
            self.ops += args[0].numel()
        return out


def learning_ops_per_weight(algorithm: str, blocks: int, inputs: int = 8) -> float:
    """Arithmetic of one time step of a learning algorithm (forward, its state update and the weight gradient of an
    error at that step) / its number of weights, on the meta device. 'lstm': the 1997 algorithm for `blocks` blocks of
    one cell (truncated partials, Appendix A.1); 'rtrl': full RTRL for a fully recurrent tanh net of the same number
    of hidden units (3 per block)."""
    hidden = 3 * blocks
    with torch.device("meta"):
        W, x, target = torch.zeros(hidden, inputs + hidden + 1), torch.zeros(inputs), torch.zeros(1)
        if algorithm == "lstm":
            W_out = torch.zeros(1, blocks + 1)
            state, step = truncated_rtrl_init(W, blocks), partial(truncated_rtrl_step, blocks=blocks)
        else:
            W_out = torch.zeros(1, hidden + 1)
            state, step = rtrl_init(W), rtrl_step
        with OpCounter() as counter:
            step(W, W_out, state, x, target)
    return counter.ops / (W.numel() + W_out.numel())


# ------------------------------------------------------------------------------------------ the stage
def _mean_where(values: list[float], mask: list[float]) -> float:
    """Mean of the values whose mask is 1 (-1.0 when none: a gate on the mask then fails first)."""
    kept = [v for v, m in zip(values, mask) if m]
    return sum(kept) / len(kept) if kept else -1.0


def _job(cfg: dict, job):
    kind, seeds = job
    if kind == "exp2a":
        return exp2a(cfg, seeds)
    if kind == "exp3a":
        return exp3a(cfg, seeds)
    if kind == "adding_lstm":
        return adding_lstm(cfg, seeds)
    if kind == "adding_rnn":
        return adding_rnn(cfg, seeds)
    return latch(cfg, kind.removeprefix("latch_"), seeds)


def measure(cfg: dict, run) -> dict:
    seeds = run.seeds(cfg["seeds"])
    pseeds = run.seeds(cfg["paper_seeds"])
    kinds = ["adding_lstm", "exp3a", "adding_rnn", "latch_lstm1997", "latch_rnn"] + (["exp2a"] if cfg["run_exp2a"] else [])
    out = dict(zip(kinds, map_seeds(partial(_job, cfg), [(k, seeds if k.startswith("latch") else pseeds) for k in kinds],
                                    label="job")))
    add_lstm, e3a, add_rnn = out["adding_lstm"], out["exp3a"], out["adding_rnn"]
    latch_acc = {a: out[f"latch_{a}"] for a in ("lstm1997", "rnn")}

    exp4 = lstm1997_classifier(input_size=2, num_classes=1, blocks=2, block_size=2)
    sizes = cfg["complexity_blocks"]
    lstm_cost = [learning_ops_per_weight("lstm", b) for b in sizes]
    rtrl_cost = [learning_ops_per_weight("rtrl", b) for b in sizes]
    metrics = {
        "weights_exp4_counted": count_params(exp4),
        "weights_exp4_rule": weight_count_1997(inputs=2, outputs=1, blocks=2, block_size=2),
        "learning_ops_per_step_and_weight_lstm": lstm_cost,
        "learning_ops_per_step_and_weight_rtrl": rtrl_cost,
        "lstm_ops_per_weight_growth": lstm_cost[-1] / lstm_cost[0],
        "rtrl_ops_per_weight_growth": rtrl_cost[-1] / rtrl_cost[0],
        "exp3a_wrong_lstm1997": e3a["wrong"],
        "exp3a_wrong_at_st2_mean_lstm1997": _mean_where(e3a["wrong"], e3a["reached_st2"]),
        "exp3a_wrong_untrained_lstm1997": e3a["untrained_wrong"],
        "exp3a_reached_st2_lstm1997": e3a["reached_st2"],
        "exp3a_sequences_to_st1_lstm1997": e3a["sequences_to_st1"],
        "exp3a_sequences_to_st2_lstm1997": e3a["sequences_to_st2"],
        "exp3a_sequences_to_st2_mean_lstm1997": sum(e3a["sequences_to_st2"]) / len(e3a["sequences_to_st2"]),
        "adding_wrong_lstm1997_exp4": add_lstm["wrong"],
        "adding_test_mse_lstm1997_exp4": add_lstm["mse"],
        "adding_wrong_rnn": add_rnn["wrong"],
        "adding_test_mse_rnn": add_rnn["mse"],
        "adding_correct_lstm1997_exp4_minus_rnn": [r - w for r, w in zip(add_rnn["wrong"], add_lstm["wrong"])],
        **{f"latch_acc_{a}": v for a, v in latch_acc.items()},
        "latch_acc_lstm1997_minus_rnn": [a - b for a, b in zip(latch_acc["lstm1997"], latch_acc["rnn"])],
    }
    if cfg["run_exp2a"]:
        e2a = out["exp2a"]
        metrics |= {"exp2a_success_lstm1997": e2a["success"], "exp2a_easy_steps_correct_lstm1997": e2a["easy_steps_correct"],
                    "exp2a_sequences_to_success_lstm1997": [v if v == v else -1.0 for v in e2a["sequences_to_success"]]}
    return {"seeds": seeds, "metrics": metrics, "setting": {
        "complexity": f"one time step of each learning algorithm on the meta device, {sizes} blocks of one cell, 8 inputs",
        "exp2a": {"p": cfg["exp2a_p"], "coding": "one-hot, p + 1 symbols", "blocks": cfg["exp2a_blocks"],
                  "cell": "memory cell and input gate, no output gate, g logistic, h identity (Sec. 5.2)",
                  "readout": "softmax over p + 1 outputs from the cells and the input", "optimizer": f"Adam {cfg['exp2a_lr']}",
                  "batch_size": cfg["exp2a_batch_size"], "sequences": cfg["exp2a_sequences"], "seeds": pseeds,
                  "run": cfg["run_exp2a"]},
        "exp3a": {"T": cfg["exp3a_T"], "N": cfg["exp3a_n"], "lengths": "one per minibatch, uniform in [T, T + T/10]",
                  "lstm": "1997 cells, 3 blocks of 1, gate biases in -1/-3/-5, out -2/-4/-6, sigmoid output",
                  "optimizer": f"Adam {cfg['exp3a_lr']}, squared error, clip 1", "batch_size": cfg["exp3a_batch_size"],
                  "budget_sequences": cfg["exp3a_sequences"], "check_every": cfg["exp3a_check_every"],
                  "test_sequences": cfg["exp3a_test_sequences"], "seeds": pseeds},
        "adding_problem": {"T": cfg["adding_T"], "lengths": "one per minibatch, uniform in [T, T + T/10]",
                           "lstm": "1997 cells, 2 blocks of 2 (93 weights), stacked seeds",
                           "rnn_hidden": cfg["adding_rnn_hidden"], "optimizer": f"Adam {cfg['adding_lr']}, MSE, clip 1",
                           "batch_size": cfg["adding_batch_size"], "sequences": cfg["adding_sequences"],
                           "test_sequences": cfg["adding_test_sequences"], "seeds": pseeds},
        "latch_analogue": {"task": f"Exp. 2b analogue: class symbol then {cfg['lag']} random distractors, "
                                   f"{cfg['symbols']}-symbol one-hot alphabet", "arms": ["lstm1997", "rnn"],
                           "hidden": cfg["hidden"], "lstm_gate_bias": cfg["latch_gate_bias"], "updates": cfg["updates"],
                           "batch_size": cfg["batch_size"], "optimizer": f"Adam, lr per arm {cfg['lr']}, grad-norm clip 1",
                           "test_sequences": cfg["test_sequences"], "seeds": seeds}}}
