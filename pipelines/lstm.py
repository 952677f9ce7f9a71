"""LSTM (Hochreiter & Schmidhuber 1997): weight counts, O(1) cost per step and weight, a long time-lag task and
the adding problem.

The latch task is the paper's Exp. 2 in its noisy form (Exp. 2b): a one-hot alphabet; the first symbol (one of two)
must be reproduced after `lag` steps of random distractor symbols. The adding problem is Exp. 4 (Sec. 5.4) with
sequences of fixed length T (the paper draws lengths in [T, T + T/10]). Sequences are generated on-line, as in the
paper; within a task every arm gets exactly the same sequences and updates.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from implementations.lstm import (LSTM1997, lstm1997_classifier, rnn_classifier, torch_lstm_classifier,
                                  weight_count_1997)
from pipelines.shared.common import map_seeds
from pipelines.shared.structural import count_macs, count_params, on_meta
from pipelines.shared.train import seed_everything

CFG: dict = {}


def latch_batch(batch: int, *, lag: int, symbols: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(lag + 1, batch, symbols) one-hot sequences: class symbol 0 or 1, then `lag` distractors from 2..symbols-1."""
    y = torch.randint(0, 2, (batch,), generator=gen)
    seq = torch.randint(2, symbols, (lag + 1, batch), generator=gen)
    seq[0] = y
    return F.one_hot(seq, symbols).float(), y


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


def build(arm: str, symbols: int, hidden: int, outputs: int = 2):
    if arm == "lstm1997":  # 1997 cell, no forget gate, truncated backprop; `hidden` blocks of one cell each
        return lstm1997_classifier(input_size=symbols, num_classes=outputs, blocks=hidden)
    if arm == "lstm1997_exp4":  # Exp. 4's net: 2 blocks of 2 cells, 93 weights
        return lstm1997_classifier(input_size=symbols, num_classes=outputs, blocks=2, block_size=2)
    if arm == "torch_lstm_forget_bias":
        return torch_lstm_classifier(input_size=symbols, num_classes=outputs, hidden=hidden,
                                     forget_bias=CFG["forget_bias"])
    if arm == "rnn":
        return rnn_classifier(input_size=symbols, num_classes=outputs, hidden=hidden)
    raise ValueError(arm)


def train_arm(job: tuple[str, int]) -> float:
    arm, seed = job
    c = CFG
    seed_everything(seed)
    model = build(arm, c["symbols"], c["hidden"])
    opt = torch.optim.Adam(model.parameters(), lr=c["lr"][arm])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(c["updates"]):
        x, y = latch_batch(c["batch_size"], lag=c["lag"], symbols=c["symbols"], gen=gen)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    x, y = latch_batch(c["test_sequences"], lag=c["lag"], symbols=c["symbols"],
                       gen=torch.Generator().manual_seed(10_000 + seed))
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def adding_arm(job: tuple[str, int]) -> float:
    """Train one arm on the adding problem (MSE at the last step, Adam, clip 1); the fraction of fresh test sequences
    processed correctly, i.e. with absolute error below 0.04 at the sequence end (Sec. 5.4)."""
    arm, seed = job
    c = CFG
    seed_everything(seed)
    model = build(arm, 2, c["adding_hidden"], outputs=1)
    opt = torch.optim.Adam(model.parameters(), lr=c["adding_lr"][arm])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(c["adding_updates"]):
        x, y = adding_batch(c["adding_batch_size"], T=c["adding_T"], gen=gen)
        loss = F.mse_loss(model(x).squeeze(1), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    x, y = adding_batch(c["adding_test_sequences"], T=c["adding_T"], gen=torch.Generator().manual_seed(20_000 + seed))
    with torch.no_grad():
        return ((model(x).squeeze(1) - y).abs() < 0.04).float().mean().item()


def macs_per_step_per_weight(hidden: int) -> float:
    """Multiply-adds of one time step of the 1997 layer (batch 1) per weight: the paper's O(1) (Abstract, Sec. 4)."""
    layer = on_meta(lambda: LSTM1997(8, blocks=hidden))
    return count_macs(layer, (1, 8)) / count_params(layer)  # input (T=1, batch=1, 8): one step


def measure(cfg: dict, run) -> dict:
    CFG.clear()
    CFG.update(cfg)
    seeds = run.seeds(cfg["seeds"])
    arms = cfg["arms"]
    accs = map_seeds(train_arm, [(a, s) for a in arms for s in seeds], label="arm,seed")
    by_arm = {a: accs[i * len(seeds):(i + 1) * len(seeds)] for i, a in enumerate(arms)}

    adding_arms = cfg["adding_arms"]
    correct = map_seeds(adding_arm, [(a, s) for a in adding_arms for s in seeds[:cfg["adding_seeds"]]],
                        label="adding arm,seed")
    n = cfg["adding_seeds"]
    adding = {a: correct[i * n:(i + 1) * n] for i, a in enumerate(adding_arms)}

    exp4 = lstm1997_classifier(input_size=2, num_classes=1, blocks=2, block_size=2)  # Exp. 4 (adding problem)
    metrics = {
        "weights_exp4_counted": count_params(exp4),
        "weights_exp4_rule": weight_count_1997(inputs=2, outputs=1, blocks=2, block_size=2),
        "macs_per_step_per_weight": [macs_per_step_per_weight(h) for h in cfg["complexity_hidden"]],
        **{f"latch_acc_{a}": by_arm[a] for a in arms},
        "latch_acc_lstm1997_minus_rnn": [a - b for a, b in zip(by_arm["lstm1997"], by_arm["rnn"])],
        **{f"adding_correct_{a}": adding[a] for a in adding_arms},
        **{f"adding_wrong_{a}": [1 - v for v in adding[a]] for a in adding_arms},
        "adding_correct_torch_lstm_minus_rnn": [a - b for a, b in zip(adding["torch_lstm_forget_bias"], adding["rnn"])],
    }
    return {"seeds": seeds, "metrics": metrics,
            "setting": {"task": f"Exp. 2b analogue: class symbol then {cfg['lag']} random distractors, "
                                f"{cfg['symbols']}-symbol one-hot alphabet, on-line generated sequences",
                        "arms": arms, "hidden": cfg["hidden"], "updates": cfg["updates"],
                        "batch_size": cfg["batch_size"], "optimizer": f"Adam, lr per arm {cfg['lr']}, grad-norm clip 1",
                        "test_sequences": cfg["test_sequences"],
                        "complexity_hidden": cfg["complexity_hidden"],
                        "adding_problem": {"task": f"Exp. 4, fixed length T = {cfg['adding_T']}, correct if |error| "
                                                   "< 0.04 at the end", "arms": adding_arms,
                                           "seeds": seeds[:n],
                                           **{k[7:]: cfg[k] for k in ("adding_hidden", "adding_updates",
                                                                      "adding_batch_size", "adding_lr",
                                                                      "adding_test_sequences")},
                                           "optimizer": "Adam, MSE, grad-norm clip 1",
                                           "lstm1997_exp4": "2 blocks of 2 cells, 93 weights (Exp. 4)"}}}
