"""Chen et al. 2019: FedAvg of a CIFG character LM on clients' out-of-vocabulary words, then sampling words from it.

Data are generated: a lexicon of pronounceable pseudo-words with Zipf frequencies, the most frequent ones
being the keyboard's vocabulary and the rest OOV; clients draw their words from Dirichlet topic mixtures
(non-IID), and keep only the OOV ones, as the keyboard logs them (Sec. 2).
"""
from __future__ import annotations

import functools
import string
from collections import Counter

import numpy as np
import torch

from implementations import federated_oov as oov
from implementations.federated_learning import fedavg_step
from pipelines.shared.common import map_seeds

ALPHABET = string.ascii_lowercase
ONSETS = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
          "br", "cr", "dr", "fl", "gr", "pl", "st", "tr", "sh", "ch", "th"]
NUCLEI = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou", "y"]
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng"]


def lexicon(size: int, rng: np.random.Generator) -> list[str]:
    """`size` distinct pseudo-words of 1-3 onset+nucleus+coda syllables."""
    words: dict[str, None] = {}
    while len(words) < size:
        n_syl = rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2])
        w = "".join(ONSETS[rng.integers(len(ONSETS))] + NUCLEI[rng.integers(len(NUCLEI))] + CODAS[rng.integers(len(CODAS))]
                    for _ in range(n_syl))
        if 2 <= len(w) <= 12:
            words[w] = None
    return list(words)


def make_clients(cfg: dict, seed: int):
    """(OOV words of each client, the in-vocabulary set, global OOV counts of the clients' data)."""
    rng = np.random.default_rng(seed)
    words = lexicon(cfg["lexicon_size"], rng)  # rank r has global weight r^-s (Zipf)
    zipf = np.arange(1, len(words) + 1, dtype=float) ** -cfg["zipf_exponent"]
    in_vocab = set(words[:cfg["vocab_size"]])
    topic = rng.integers(cfg["topics"], size=len(words))
    topic_dists = [np.where(topic == k, zipf, 0.0) for k in range(cfg["topics"])]
    topic_dists = [p / p.sum() for p in topic_dists]
    clients = []
    for _ in range(cfg["num_clients"]):
        mix = rng.dirichlet(np.full(cfg["topics"], cfg["dirichlet_alpha"]))
        p = sum(m * d for m, d in zip(mix, topic_dists))
        p[:cfg["vocab_size"]] = 0.0  # the keyboard logs only words outside its vocabulary
        draws = rng.choice(len(words), size=cfg["oov_tokens_per_client"], p=p / p.sum())
        clients.append([words[i] for i in draws])
    truth = Counter(w for c in clients for w in c)
    return clients, in_vocab, truth


def recall_at(k: int, sampled: Counter, truth: Counter) -> float:
    """|top-k sampled words & top-k true OOV words| / k (with equal k, precision and recall are the same number)."""
    top = lambda c: {w for w, _ in c.most_common(k)}  # noqa: E731
    return len(top(sampled) & top(truth)) / k


def bigram_sampler(clients: list[list[str]], n: int, rng: np.random.Generator, max_len: int) -> Counter:
    """Reference: a character-bigram (Markov) model counted on the pooled words, sampled the same way."""
    V = len(ALPHABET) + 1
    counts = np.ones((V, V)) * 1e-3
    for c in clients:
        for w in c:
            seq = [0] + [ALPHABET.index(ch) + 1 for ch in w] + [0]
            for a, b in zip(seq[:-1], seq[1:]):
                counts[a, b] += 1
    cdf = np.cumsum(counts / counts.sum(1, keepdims=True), axis=1)
    state = np.zeros(n, dtype=int)
    chars = np.zeros((n, max_len + 1), dtype=int)
    for t in range(max_len + 1):  # all n words at once: inverse-CDF draw of the next character
        u = rng.random(n)[:, None]
        state = np.where(state >= 0, (u > cdf[np.maximum(state, 0)]).sum(1).clip(max=V - 1), -1)
        chars[:, t] = state
        state = np.where(state == 0, -1, state)  # the word has ended
    ended = (chars <= 0).any(1)  # words still going after max_len characters are dropped (empty)
    words = ("".join(ALPHABET[c - 1] for c in row[:np.argmax(row <= 0)]) if e else "" for row, e in zip(chars, ended))
    return Counter(words)


@torch.no_grad()
def char_cross_entropy(model, words: list[str]) -> float:
    """Mean next-character cross-entropy (nats) of the model on words, end symbol included."""
    return float(oov.sequence_loss(model, oov.encode(words, ALPHABET).to(next(model.parameters()).device)))


def run_seed(cfg: dict, seed: int) -> dict:
    device = cfg.get("device", "cpu")
    clients, in_vocab, truth = make_clients(cfg, seed)
    encoded = [oov.encode(c, ALPHABET).to(device) for c in clients]
    torch.manual_seed(seed)
    model = oov.char_lm(vocab_size=len(ALPHABET) + 1, embed_size=cfg["embed_size"], hidden_size=cfg["hidden_size"],
                        proj_size=cfg["proj_size"]).to(device)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    g = torch.Generator().manual_seed(1000 + seed)
    for _ in range(cfg["rounds"]):
        chosen = torch.randperm(len(clients), generator=g)[:cfg["clients_per_round"]].tolist()
        updates = [oov.client_update(model, params, encoded[c], epochs=cfg["local_epochs"], lr=cfg["client_lr"],
                                     batch_size=cfg["batch_size"], clip=cfg["clip"], generator=g) for c in chosen]
        params = fedavg_step(params, updates)
    model.load_state_dict(params)
    rng = np.random.default_rng(seed)
    pooled = [w for c in clients for w in c]
    ce_words = [pooled[i] for i in rng.choice(len(pooled), size=min(2000, len(pooled)), replace=False)]
    sampled = Counter(w for w in oov.sample_words(model, cfg["samples"], ALPHABET, max_len=cfg["max_len"], generator=g)
                      if w and w not in in_vocab)
    bigram = bigram_sampler(clients, cfg["samples"], rng, cfg["max_len"])
    bigram = Counter({w: c for w, c in bigram.items() if w and w not in in_vocab})
    out = {f"recall_at_{k}": recall_at(k, sampled, truth) for k in cfg["ks"]}
    out.update({f"recall_at_{k}_bigram": recall_at(k, bigram, truth) for k in cfg["ks"]})
    out["char_ce"] = char_cross_entropy(model, ce_words)
    out["top_sampled"] = [w for w, _ in sampled.most_common(10)]
    out["top_true"] = [w for w, _ in truth.most_common(10)]
    return out


def gate_weight_ratio(embed: int, hidden: int, proj: int) -> float:
    """Gate weights of the built CIFG cell over those of torch's own LSTM with a projection, same sizes, both built
    on the meta device: a cell that kept an input gate of its own would give 1."""
    with torch.device("meta"):
        cifg = oov.CIFGLSTM(embed, hidden, proj)
        lstm = torch.nn.LSTM(embed, hidden, proj_size=proj)
    return cifg.gates.weight.numel() / (lstm.weight_ih_l0.numel() + lstm.weight_hh_l0.numel())


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "device": run.device}
    seeds = run.seeds(cfg["seeds"])
    res = map_seeds(functools.partial(run_seed, cfg), seeds)
    metrics = {}
    for k in cfg["ks"]:
        metrics[f"recall_at_{k}_fedavg"] = [r[f"recall_at_{k}"] for r in res]
        metrics[f"recall_at_{k}_char_bigram"] = [r[f"recall_at_{k}_bigram"] for r in res]
        metrics[f"recall_at_{k}_fedavg_minus_char_bigram"] = [r[f"recall_at_{k}"] - r[f"recall_at_{k}_bigram"] for r in res]
    k_lo, k_hi = min(cfg["ks"]), max(cfg["ks"])
    metrics[f"recall_at_{k_lo}_minus_recall_at_{k_hi}"] = [r[f"recall_at_{k_lo}"] - r[f"recall_at_{k_hi}"] for r in res]
    metrics["char_cross_entropy_fedavg"] = [r["char_ce"] for r in res]
    metrics["gate_weights_cifg_over_lstm"] = gate_weight_ratio(cfg["embed_size"], cfg["hidden_size"], cfg["proj_size"])
    setting = {
        "data": f"generated: {cfg['lexicon_size']} pseudo-words, Zipf({cfg['zipf_exponent']}), top {cfg['vocab_size']} in "
                f"vocabulary; {cfg['num_clients']} clients, {cfg['topics']} topics mixed by Dirichlet({cfg['dirichlet_alpha']}),"
                f" {cfg['oov_tokens_per_client']} OOV tokens each",
        "model": f"CIFG char LM emb {cfg['embed_size']} hidden {cfg['hidden_size']} proj {cfg['proj_size']}",
        "fedavg": f"{cfg['rounds']} rounds x {cfg['clients_per_round']} clients, {cfg['local_epochs']} local epochs "
                  f"Adam {cfg['client_lr']} batch {cfg['batch_size']} clip {cfg['clip']}",
        "sampling": f"{cfg['samples']} words ancestrally sampled; recall@k = overlap of top-k sampled and top-k true OOV / k",
        "cross_entropy": "per character (nats) on 2,000 of the clients' words; uniform over 27 symbols = 3.30",
        "example_first_seed": {"top_sampled": res[0]["top_sampled"], "top_true": res[0]["top_true"]},
    }
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
