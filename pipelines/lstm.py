"""LSTM (Hochreiter & Schmidhuber 1997): weight counts, O(1) cost per step and weight, and a long time-lag task.

The task is the paper's Exp. 2 in its noisy form (Exp. 2b): a one-hot alphabet; the first symbol (one of two)
must be reproduced after `lag` steps of random distractor symbols. Sequences are generated on-line, as in the
paper; the RNN baseline gets exactly the same sequences and updates.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from implementations.lstm import (LSTM1997, lstm1997_classifier, rnn_classifier, torch_lstm_classifier,
                                  weight_count_1997)
from pipelines.common import map_seeds
from pipelines.structural import count_macs, count_params, on_meta
from pipelines.train import seed_everything

CFG: dict = {}


def latch_batch(batch: int, *, lag: int, symbols: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(lag + 1, batch, symbols) one-hot sequences: class symbol 0 or 1, then `lag` distractors from 2..symbols-1."""
    y = torch.randint(0, 2, (batch,), generator=gen)
    seq = torch.randint(2, symbols, (lag + 1, batch), generator=gen)
    seq[0] = y
    return F.one_hot(seq, symbols).float(), y


def build(arm: str, symbols: int, hidden: int):
    if arm == "lstm1997":  # 1997 cell, no forget gate, truncated backprop; `hidden` blocks of one cell each
        return lstm1997_classifier(input_size=symbols, num_classes=2, blocks=hidden)
    if arm == "torch_lstm_forget_bias":
        return torch_lstm_classifier(input_size=symbols, num_classes=2, hidden=hidden, forget_bias=CFG["forget_bias"])
    if arm == "rnn":
        return rnn_classifier(input_size=symbols, num_classes=2, hidden=hidden)
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


def macs_per_step_per_weight(hidden: int) -> float:
    """Multiply-adds of one time step of the 1997 layer (batch 1) per weight: the paper's O(1) (Abstract, Sec. 4)."""
    layer = on_meta(lambda: LSTM1997(8, blocks=hidden))
    return count_macs(layer, (1, 8)) / count_params(layer)  # input (T=1, batch=1, 8): one step


def measure(cfg: dict, run) -> dict:
    CFG.clear()
    CFG.update(cfg)
    seeds = list(range(cfg["seeds"]))
    arms = cfg["arms"]
    accs = map_seeds(train_arm, [(a, s) for a in arms for s in seeds], label="arm,seed")
    by_arm = {a: accs[i * len(seeds):(i + 1) * len(seeds)] for i, a in enumerate(arms)}

    exp4 = lstm1997_classifier(input_size=2, num_classes=1, blocks=2, block_size=2)  # Exp. 4 (adding problem)
    metrics = {
        "weights_exp4_counted": count_params(exp4),
        "weights_exp4_rule": weight_count_1997(inputs=2, outputs=1, blocks=2, block_size=2),
        "macs_per_step_per_weight": [macs_per_step_per_weight(h) for h in cfg["complexity_hidden"]],
        **{f"latch_acc_{a}": by_arm[a] for a in arms},
        "latch_acc_lstm1997_minus_rnn": [a - b for a, b in zip(by_arm["lstm1997"], by_arm["rnn"])],
    }
    return {"seeds": seeds, "metrics": metrics,
            "setting": {"task": f"Exp. 2b analogue: class symbol then {cfg['lag']} random distractors, "
                                f"{cfg['symbols']}-symbol one-hot alphabet, on-line generated sequences",
                        "arms": arms, "hidden": cfg["hidden"], "updates": cfg["updates"],
                        "batch_size": cfg["batch_size"], "optimizer": f"Adam, lr per arm {cfg['lr']}, grad-norm clip 1",
                        "test_sequences": cfg["test_sequences"],
                        "complexity_hidden": cfg["complexity_hidden"]}}
