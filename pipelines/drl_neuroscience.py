"""Botvinick et al. 2020 (review): TD prediction errors moving to the cue, distributional TD recovering the reward
distribution, and meta-RL on two-armed bandits (an LSTM trained by A2C, then tested with frozen weights)."""
from __future__ import annotations

import functools
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr, wasserstein_distance  # noqa: E402

from implementations import drl_neuroscience as drl  # noqa: E402
from pipelines.shared.common import map_seeds, progress  # noqa: E402


def td_experiment(cfg: dict, figures) -> dict:
    """Prediction errors at cue and reward before learning, after learning, and on an omitted reward."""
    K = cfg["reward_time"] - cfg["cue_time"]
    V = torch.zeros(K)
    kw = dict(cue_time=cfg["cue_time"], reward_time=cfg["reward_time"], trial_len=cfg["trial_len"], gamma=cfg["gamma"],
              alpha=cfg["alpha"])
    first = drl.td_trial(V.clone(), reward=1.0, learn=False, **kw)
    curves = [drl.td_trial(V, reward=1.0, **kw) for _ in range(cfg["trials"])]
    after = drl.td_trial(V.clone(), reward=1.0, learn=False, **kw)
    omitted = drl.td_trial(V.clone(), reward=0.0, learn=False, **kw)
    c, r = cfg["cue_time"], cfg["reward_time"]
    fig, ax = plt.subplots(figsize=(6, 3))
    for i in sorted({min(i, len(curves) - 1) for i in (0, 10, 30, 100, len(curves) - 1)}):
        ax.plot(curves[i].numpy(), label=f"trial {i + 1}")
    ax.plot(omitted.numpy(), "k--", label="reward omitted")
    ax.set(xlabel="time step", ylabel="TD error", title="RPE moves from reward to cue")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(figures / "td_rpe.png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return {"rpe_at_cue_before_learning": float(first[c]), "rpe_at_reward_before_learning": float(first[r]),
            "rpe_at_cue_after_learning": float(after[c]), "rpe_at_reward_after_learning": float(after[r]),
            "rpe_at_reward_omitted_after_learning": float(omitted[r]),
            "value_at_cue_over_gamma_pow_k_minus_1": float(V[0]) / cfg["gamma"] ** (K - 1)}


def distributional_seed(cfg: dict, seed: int) -> dict:
    """Expectile and quantile units trained on sampled rewards; their errors against the exact statistics."""
    values, probs = np.array(cfg["reward_values"], float), np.array(cfg["reward_probs"], float)
    taus = torch.linspace(cfg["tau_min"], cfg["tau_max"], cfg["units"])
    g = torch.Generator().manual_seed(seed)
    vals_t, probs_t = torch.tensor(values, dtype=torch.float32), torch.tensor(probs, dtype=torch.float32)
    span = values.max() - values.min()
    V_exp = torch.full((cfg["units"],), float(values.mean()))
    V_q = V_exp.clone()
    for t in range(cfg["updates"]):
        r = vals_t[torch.multinomial(probs_t, cfg["batch"], replacement=True, generator=g)]
        lr = cfg["lr"] / (1 + t / cfg["lr_decay_steps"])  # decaying step size (Robbins-Monro), so the noise vanishes
        V_exp = drl.asymmetric_update(V_exp, r, taus, lr, "expectile")
        V_q = drl.asymmetric_update(V_q, r, taus, lr * span, "quantile")
    true_e = np.array([drl.expectile(values, probs, float(t)) for t in taus])
    true_q = np.array([drl.quantile(values, probs, float(t)) for t in taus])
    decoded = drl.decode_expectiles(V_exp.numpy(), taus.numpy(), n_samples=cfg["decode_samples"], seed=seed)
    mid = int(np.argmin(np.abs(taus.numpy() - 0.5)))
    return {
        "spearman_tau_vs_expectile_unit": float(spearmanr(taus.numpy(), V_exp.numpy()).statistic),
        "max_abs_error_expectile_units_over_range": float(np.abs(V_exp.numpy() - true_e).max() / span),
        "max_abs_error_quantile_units_over_range": float(np.abs(V_q.numpy() - true_q).max() / span),
        "symmetric_unit_minus_mean_over_range": float((V_exp[mid].item() - (values * probs).sum()) / span),
        "decoded_wasserstein_over_range": float(wasserstein_distance(decoded, values, v_weights=probs) / span),
        "V_exp": V_exp.tolist(), "decoded": decoded.tolist(), "true_e": true_e.tolist()}


def meta_rl(cfg: dict, seed: int, show_progress: bool = False) -> dict:
    """Train the LSTM agent with A2C over random two-armed bandits, then test it with frozen weights on new bandits.

    Within-episode learning with frozen weights is the signature of a learned learning algorithm: the rate of
    choosing the better arm late in a test episode minus early in it. Regret is compared with a random policy
    and with Thompson sampling on the same test bandits."""
    device = cfg.get("device", "cpu")
    blind = bool(cfg.get("meta_blind_reward", False))  # broken-agent switch: no reward input (never in a committed run)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    agent = drl.MetaRLAgent(num_actions=2, hidden_size=cfg["meta_hidden"]).to(device)
    opt = torch.optim.Adam(agent.parameters(), lr=cfg["meta_lr"])
    updates = cfg["meta_rl_episodes"] // cfg["meta_envs"]
    train_reward = []
    for _ in progress(range(updates), total=updates, desc="meta-RL", enabled=show_progress):
        probs = torch.rand(cfg["meta_envs"], 2, generator=g).to(device)
        logps, ents, vals, rews, _ = drl.bandit_episode(agent, probs, cfg["meta_trials"], g, blind_reward=blind)
        loss = drl.a2c_loss(logps, ents, vals, rews, gamma=cfg["meta_gamma"], value_coef=0.5,
                            entropy_coef=cfg["meta_entropy"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(agent.parameters(), 1.0)
        opt.step()
        train_reward.append(float(rews.mean()))
    tenth = max(1, len(train_reward) // 10)
    test = torch.rand(cfg["meta_test_bandits"], 2, generator=g).to(device)
    best_arm = test.argmax(1)
    with torch.no_grad():  # frozen weights: whatever adapts now adapts in the LSTM's activations
        *_, acts = drl.bandit_episode(agent, test, cfg["meta_trials"], g, blind_reward=blind)
        *_, acts_reset = drl.bandit_episode(agent, test, cfg["meta_trials"], g, reset_memory=True, blind_reward=blind)
    early, late = cfg["meta_early_trials"], cfg["meta_late_trials"]

    def late_minus_early(a):
        hit = (a == best_arm[None]).float()
        return float(hit[-late:].mean() - hit[:early].mean())

    best = test.max(1).values
    regret_agent = float((best[None] - test.gather(1, acts.T).T).sum(0).mean())
    regret_random = float(((best - test.mean(1)) * cfg["meta_trials"]).mean())
    regret_ts = float(drl.thompson_regret(test.cpu(), cfg["meta_trials"], g).mean())
    return {"meta_rl_best_arm_late_minus_early": late_minus_early(acts),
            "meta_rl_memory_reset_late_minus_early": late_minus_early(acts_reset),
            "meta_rl_late_minus_early_over_memory_reset": late_minus_early(acts) - late_minus_early(acts_reset),
            "meta_rl_regret_over_random": regret_agent / regret_random,
            "meta_rl_log_regret_over_random": math.log(regret_agent / regret_random),
            "meta_rl_log_regret_over_thompson": math.log(regret_agent / regret_ts),
            "meta_rl_thompson_regret_over_random": regret_ts / regret_random,
            "meta_rl_train_reward_gain": float(np.mean(train_reward[-tenth:]) - np.mean(train_reward[:tenth]))}


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "device": run.device}
    seeds = run.seeds(cfg["seeds"])
    metrics = td_experiment(cfg, run.figures)
    res = map_seeds(functools.partial(distributional_seed, cfg), seeds)
    for name in [k for k in res[0] if not isinstance(res[0][k], list)]:
        metrics[name] = [r[name] for r in res]
    taus = np.linspace(cfg["tau_min"], cfg["tau_max"], cfg["units"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    a.plot(taus, res[0]["true_e"], "k-", label="exact expectile")
    a.plot(taus, res[0]["V_exp"], "o", ms=3, label="TD units")
    a.set(xlabel="tau = a+/(a+ + a-)", ylabel="reversal point", title="asymmetry vs reversal point")
    a.legend(fontsize=7)
    b.hist(res[0]["decoded"], bins=40, density=True, alpha=0.6, label="decoded")
    b.bar(cfg["reward_values"], np.array(cfg["reward_probs"]), width=0.4, color="k", label="true (probabilities)")
    b.set(xlabel="reward", title="decoded reward distribution")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run.figures / "distributional.png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    setting = {
        "td": f"tabular TD(0), complete serial compound, cue t={cfg['cue_time']}, reward t={cfg['reward_time']}, "
              f"gamma {cfg['gamma']}, alpha {cfg['alpha']}, {cfg['trials']} trials",
        "distributional": f"{cfg['units']} units, tau in [{cfg['tau_min']}, {cfg['tau_max']}], rewards "
                          f"{cfg['reward_values']} w.p. {cfg['reward_probs']} (Dabney et al. 2020 task), "
                          f"{cfg['updates']} updates x batch {cfg['batch']}, step {cfg['lr']}/(1+t/{cfg['lr_decay_steps']})",
    }
    if cfg.get("meta_rl_episodes", 0) > 0:
        mr = map_seeds(functools.partial(meta_rl, cfg, show_progress=run.show_progress), seeds)
        for name in mr[0]:
            metrics[name] = [m[name] for m in mr]
        setting["meta_rl"] = (f"LSTM({cfg['meta_hidden']}) A2C (gamma {cfg['meta_gamma']}, entropy {cfg['meta_entropy']}, "
                              f"Adam {cfg['meta_lr']}), {cfg['meta_rl_episodes']} episodes of {cfg['meta_trials']} "
                              f"trials in batches of {cfg['meta_envs']}, 2-armed Bernoulli bandits p~U[0,1]; frozen-weight "
                              f"test on {cfg['meta_test_bandits']} new bandits: best-arm rate in the last "
                              f"{cfg['meta_late_trials']} minus the first {cfg['meta_early_trials']} trials")
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
