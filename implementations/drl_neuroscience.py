"""Deep Reinforcement Learning and Its Neuroscientific Implications.

Botvinick, Wang, Dabney, Miller, Kurth-Nelson, 2020 (Neuron). https://arxiv.org/abs/2007.03750

A review: it argues that deep RL's models explain brain data. This file holds the model-level statements it
builds on, small enough to check exactly: (1) dopamine as the TD reward-prediction error (Schultz, Dayan &
Montague 1997): the error moves from the reward to the cue that predicts it; (2) distributional RL (Dabney
et al. 2020): units with asymmetric learning rates for positive and negative errors learn expectiles (or
quantiles) of the reward distribution, from which the distribution can be decoded; (3) meta-RL (Wang et al.
2018): an LSTM trained by RL on a family of bandits learns a bandit algorithm that runs in its activations.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import brentq, minimize
from torch import nn


# ------------------------------------------------------------------- (1) TD(0) and the dopamine RPE
def td_trial(V: torch.Tensor, *, cue_time: int, reward_time: int, trial_len: int, reward: float, gamma: float,
             alpha: float, learn: bool = True) -> torch.Tensor:
    """One trial of tabular TD(0) with a complete serial compound (one state per time step since the cue).

    Before the cue the agent is in a background state whose value stays 0, because cue onset is unpredictable.
    Returns the prediction errors delta_t = r_t + gamma V(s_t) - V(s_{t-1}) indexed by the time step t at which
    they occur (the review's Box on TD learning; Schultz et al. 1997). V[k] is the value k steps after the cue,
    updated in place: V(s_{t-1}) += alpha delta_t.
    """
    deltas = torch.zeros(trial_len)
    in_trial = lambda t: cue_time <= t < reward_time  # noqa: E731  (before the cue: background; after the reward: terminal)
    for t in range(1, trial_len):
        prev = V[t - 1 - cue_time] if in_trial(t - 1) else 0.0
        now = V[t - cue_time] if in_trial(t) else 0.0
        r = reward if t == reward_time else 0.0
        deltas[t] = r + gamma * now - prev
        if learn and in_trial(t - 1):
            V[t - 1 - cue_time] += alpha * deltas[t]
    return deltas


# ------------------------------------------------------------------- (2) distributional TD
def asymmetric_update(V: torch.Tensor, r: torch.Tensor, taus: torch.Tensor, lr: float, kind: str = "expectile"):
    """One update of a population of value units on reward samples r (shape (batch,)), Dabney et al. 2020.

    Unit i scales positive errors by alpha+ = lr tau_i and negative ones by alpha- = lr (1 - tau_i).
    "expectile": the error itself is scaled -> V_i converges to the tau_i-expectile.
    "quantile": only its sign is -> V_i converges to the tau_i-quantile.
    """
    delta = r[:, None] - V[None, :]
    step = delta if kind == "expectile" else torch.sign(delta)
    scale = torch.where(delta > 0, taus, 1 - taus)
    return V + lr * (scale * step).mean(0)


def expectile(values, probs, tau: float) -> float:
    """The tau-expectile e of a discrete distribution: tau E[(X - e)+] = (1 - tau) E[(e - X)+] (exact root)."""
    x, p = np.asarray(values, float), np.asarray(probs, float)
    f = lambda e: tau * (p * np.clip(x - e, 0, None)).sum() - (1 - tau) * (p * np.clip(e - x, 0, None)).sum()  # noqa: E731
    return brentq(f, x.min(), x.max(), xtol=1e-12)


def quantile(values, probs, tau: float) -> float:
    """The tau-quantile of a discrete distribution: the smallest x with F(x) >= tau."""
    order = np.argsort(values)
    cdf = np.cumsum(np.asarray(probs, float)[order])
    return float(np.asarray(values, float)[order][np.searchsorted(cdf, tau)])


def decode_expectiles(expectiles, taus, n_samples: int = 100, seed: int = 0) -> np.ndarray:
    """Samples whose tau-expectiles are the given ones (Dabney et al. 2020's distribution decoding): minimise
    sum_i c_i^2 with c_i = mean_j |tau_i - 1[z_j < e_i]| (z_j - e_i), each unit's expectile condition (L-BFGS)."""
    e, tau = np.asarray(expectiles, float), np.asarray(taus, float)

    def loss_grad(z):
        diff = z[:, None] - e[None, :]
        w = np.abs(tau[None, :] - (diff < 0))
        c = (w * diff).mean(0)
        return (c ** 2).sum(), (2 * w * c[None, :]).sum(1) / len(z)

    z0 = np.random.default_rng(seed).uniform(e.min(), e.max(), n_samples)
    return minimize(loss_grad, z0, jac=True, method="L-BFGS-B", options={"maxiter": 5000}).x


# ------------------------------------------------------------------- (3) meta-RL on bandits
class MetaRLAgent(nn.Module):
    """Wang et al. 2018's agent: an LSTM fed the previous action (one-hot) and reward, with policy and value heads."""

    def __init__(self, *, num_actions: int = 2, hidden_size: int = 48):
        super().__init__()
        self.lstm = nn.LSTMCell(num_actions + 1, hidden_size)
        self.policy = nn.Linear(hidden_size, num_actions)
        self.value = nn.Linear(hidden_size, 1)

    def forward(self, prev_action_onehot, prev_reward, state=None):
        h, c = self.lstm(torch.cat([prev_action_onehot, prev_reward[:, None]], 1), state)
        return self.policy(h), self.value(h)[:, 0], (h, c)


def bandit_episode(agent: MetaRLAgent, probs: torch.Tensor, trials: int, generator: torch.Generator, greedy=False,
                   reset_memory: bool = False, blind_reward: bool = False):
    """Play Bernoulli bandits (probs: (B, arms)) for `trials` steps; returns log-probs, entropies, values, rewards, actions.

    Actions are drawn by inverse CDF from uniforms of `generator` (no torch.distributions objects: per-op overhead
    dominates on a CPU at these sizes). reset_memory=True zeroes the LSTM state before every trial: a control that
    keeps the weights but removes the activations in which the learned algorithm would run. blind_reward=True feeds
    a reward input of 0 (a broken agent that cannot learn from outcomes within an episode; rewards still train it).
    """
    B, A = probs.shape
    a_prev, r_prev, state = probs.new_zeros(B, A), probs.new_zeros(B), None
    u_act = torch.rand(trials, B, 1, generator=generator).to(probs.device)
    u_rew = torch.rand(trials, B, generator=generator).to(probs.device)
    logps, ents, vals, rews, acts = [], [], [], [], []
    for t in range(trials):
        logits, v, state = agent(a_prev, r_prev, None if reset_memory else state)
        logp = torch.log_softmax(logits, 1)
        p = logp.exp()
        if greedy:
            a = logits.argmax(1)
        else:
            a = (u_act[t] > p.detach().cumsum(1)).sum(1).clamp(max=A - 1)
        r = (u_rew[t] < probs.gather(1, a[:, None])[:, 0]).float()
        logps.append(logp.gather(1, a[:, None])[:, 0])
        ents.append(-(p * logp).sum(1))
        vals.append(v)
        rews.append(r)
        acts.append(a)
        a_prev, r_prev = nn.functional.one_hot(a, A).float(), (torch.zeros_like(r) if blind_reward else r)
    return torch.stack(logps), torch.stack(ents), torch.stack(vals), torch.stack(rews), torch.stack(acts)


def a2c_loss(logps, ents, vals, rews, *, gamma: float, value_coef: float, entropy_coef: float) -> torch.Tensor:
    """Advantage actor-critic on whole episodes (Mnih et al. 2016), as Wang et al. 2018 train the agent."""
    ret, returns = torch.zeros_like(rews[0]), []
    for r in reversed(rews):
        ret = r + gamma * ret
        returns.append(ret)
    returns = torch.stack(returns[::-1])
    adv = returns - vals
    return (-(logps * adv.detach()).mean() + value_coef * adv.pow(2).mean() - entropy_coef * ents.mean())


def thompson_regret(probs: torch.Tensor, trials: int, generator: torch.Generator) -> torch.Tensor:
    """Reference: Thompson sampling with Beta(1, 1) priors; expected regret per bandit summed over trials.

    Rewards come from `generator`; the Beta draws from a numpy generator seeded from it (torch's Beta sampler
    takes no generator), so the reference is reproducible."""
    B, A = probs.shape
    rng = np.random.default_rng(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator)))
    p_np = probs.detach().cpu().double().numpy()
    wins, losses = np.ones((B, A)), np.ones((B, A))
    regret = np.zeros(B)
    best = p_np.max(1)
    rows = np.arange(B)
    for _ in range(trials):
        a = rng.beta(wins, losses).argmax(1)
        p = p_np[rows, a]
        r = (torch.rand(B, generator=generator).double().numpy() < p).astype(float)
        wins[rows, a] += r
        losses[rows, a] += 1 - r
        regret += best - p
    return torch.from_numpy(regret)
