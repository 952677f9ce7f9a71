"""Federated Learning of Out-of-Vocabulary Words.

Chen, Mathews, Ouyang, Beaufays, 2019. https://arxiv.org/abs/1903.10635

Idea: a keyboard cannot suggest words missing from its vocabulary, and users' typed text must not leave
their phones. Train a character-level LSTM language model on the OOV words each device logged, with
federated averaging (only weight updates leave the device), then sample whole words from the model
("drawing from the joint posterior directly"): the most frequently sampled words are the frequent OOV words.

The model is the paper's LSTM variant (Sec. 3): Coupled Input and Forget Gate (CIFG, i_t = 1 - f_t),
peephole connections and a projection layer. FedAvg's server step is the one of Konečný et al. (index 35).
"""
from __future__ import annotations

import torch
from torch import nn

BOS_EOS = 0  # one symbol marks both the start and the end of a word


class CIFGLSTM(nn.Module):
    """One-layer CIFG LSTM with peepholes and a projection (Sec. 3; Greff et al. 2017's CIFG, Sak et al. 2014's LSTMP).

        f_t = sigmoid(W_f [x_t, r_{t-1}] + p_f * c_{t-1} + b_f)     forget gate, with a peephole
        i_t = 1 - f_t                                              the coupled input gate: no weights of its own
        g_t = tanh(W_g [x_t, r_{t-1}] + b_g)                        candidate
        c_t = f_t * c_{t-1} + i_t * g_t
        o_t = sigmoid(W_o [x_t, r_{t-1}] + p_o * c_t + b_o)         output gate, peephole on the new cell
        r_t = W_r (o_t * tanh(c_t))                                projection to proj_size, fed back as recurrence
    Three gate blocks and two peepholes instead of the peephole LSTM's four blocks and three peepholes.
    """

    def __init__(self, input_size: int, hidden_size: int, proj_size: int):
        super().__init__()
        self.hidden_size, self.proj_size = hidden_size, proj_size
        self.gates = nn.Linear(input_size + proj_size, 3 * hidden_size)  # [f, g, o] blocks
        self.peep_f = nn.Parameter(torch.zeros(hidden_size))
        self.peep_o = nn.Parameter(torch.zeros(hidden_size))
        self.proj = nn.Linear(hidden_size, proj_size, bias=False)

    def step(self, x, state):
        r, c = state
        zf, zg, zo = self.gates(torch.cat([x, r], dim=-1)).chunk(3, dim=-1)
        f = torch.sigmoid(zf + self.peep_f * c)
        i = 1 - f
        c = f * c + i * torch.tanh(zg)
        o = torch.sigmoid(zo + self.peep_o * c)
        return self.proj(o * torch.tanh(c)), c, (f, i)

    def forward(self, x: torch.Tensor, state=None):
        """x: (T, B, input_size) -> outputs (T, B, proj_size), final (r, c)."""
        if state is None:
            state = (x.new_zeros(x.shape[1], self.proj_size), x.new_zeros(x.shape[1], self.hidden_size))
        outs = []
        for x_t in x:
            r, c, _ = self.step(x_t, state)
            state = (r, c)
            outs.append(r)
        return torch.stack(outs), state


class CharLM(nn.Module):
    """Character language model: embedding -> CIFG LSTM -> softmax over characters (Sec. 3)."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, proj_size: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = CIFGLSTM(embed_size, hidden_size, proj_size)
        self.out = nn.Linear(proj_size, vocab_size)

    def forward(self, tokens: torch.Tensor, state=None):
        y, state = self.rnn(self.embed(tokens), state)
        return self.out(y), state


def char_lm(*, vocab_size: int = 27, embed_size: int = 16, hidden_size: int = 128, proj_size: int = 32) -> CharLM:
    """a-z plus the word boundary. Sizes are small defaults of ours: the paper's are not reproduced here."""
    return CharLM(vocab_size, embed_size, hidden_size, proj_size)


def encode(words: list[str], alphabet: str) -> torch.Tensor:
    """Words -> (T, B) tokens: BOS, characters (1..len(alphabet)), EOS, then padding (-1 = ignored in the loss)."""
    T = max(len(w) for w in words) + 2
    out = torch.full((T, len(words)), -1, dtype=torch.long)
    for b, w in enumerate(words):
        out[:len(w) + 2, b] = torch.tensor([BOS_EOS] + [alphabet.index(ch) + 1 for ch in w] + [BOS_EOS])
    return out


def sequence_loss(model: CharLM, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-character cross-entropy of a batch of encoded words (padding ignored)."""
    inp = tokens[:-1].clamp_min(0)
    logits, _ = model(inp)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[1:].reshape(-1), ignore_index=-1)


def client_update(model: CharLM, global_params: dict, tokens: torch.Tensor, *, epochs: int, lr: float,
                  batch_size: int, clip: float, generator: torch.Generator) -> dict:
    """A client's local training on its own OOV words; only the weight difference H_i leaves the device.

    Local Adam with gradient-norm clipping (our choice for a small simulation; the paper's client optimiser is not
    reproduced); `model` is scratch space, overwritten with the global weights first.
    """
    params = dict(model.named_parameters())
    with torch.no_grad():
        for k, p in params.items():
            p.copy_(global_params[k])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = tokens.shape[1]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator).to(tokens.device)
        for s in range(0, n, batch_size):
            batch = tokens[:, perm[s:s + batch_size]]
            batch = batch[:int((batch >= 0).sum(1).nonzero().max()) + 1]  # drop rows that are padding only
            loss = sequence_loss(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
    return {k: p.detach() - global_params[k] for k, p in params.items()}


@torch.no_grad()
def sample_words(model: CharLM, n: int, alphabet: str, *, max_len: int, generator: torch.Generator) -> list[str]:
    """Ancestral sampling of n whole words from the model's joint distribution over character strings (Sec. 3).

    Characters are drawn one at a time from p(c_t | c_<t) until the end symbol: each word comes out with its
    probability under the model, so frequent words come out often."""
    device = next(model.parameters()).device
    x = torch.full((n,), BOS_EOS, dtype=torch.long, device=device)
    state = None
    chars = []
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for _ in range(max_len + 1):
        logits, state = model(x[None], state)
        x = torch.multinomial(torch.softmax(logits[0], -1).cpu(), 1, generator=generator)[:, 0].to(device)
        x = torch.where(done, BOS_EOS, x)
        done |= x == BOS_EOS
        chars.append(x)
        if done.all():
            break
    words = []
    for row, ended in zip(torch.stack(chars, 1).tolist(), done.tolist()):
        # a word still going after max_len characters is returned empty
        words.append("".join(alphabet[t - 1] for t in row[:row.index(BOS_EOS)]) if ended else "")
    return words
