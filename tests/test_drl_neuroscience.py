import numpy as np
import torch

from implementations import drl_neuroscience as drl


def test_td_converges_on_a_chain_to_discounted_reward():
    gamma, K = 0.9, 6
    V = torch.zeros(K)
    for _ in range(400):
        drl.td_trial(V, cue_time=2, reward_time=2 + K, trial_len=K + 4, reward=2.0, gamma=gamma, alpha=0.3)
    torch.testing.assert_close(V, 2.0 * gamma ** torch.arange(K - 1, -1, -1.0), atol=1e-5, rtol=0)
    d = drl.td_trial(V.clone(), cue_time=2, reward_time=2 + K, trial_len=K + 4, reward=2.0, gamma=gamma, alpha=0.3, learn=False)
    assert abs(d[2] - 2.0 * gamma ** K) < 1e-5 and abs(d[2 + K]) < 1e-5  # error at the cue, none at the reward
    assert d[3:2 + K].abs().max() < 1e-5


def test_exact_expectiles_and_quantiles():
    x, p = [0.0, 1.0], [0.5, 0.5]
    assert abs(drl.expectile(x, p, 0.5) - 0.5) < 1e-9  # the mean
    # tau (1 - e) 0.5 = (1 - tau) e 0.5  ->  e = tau
    assert abs(drl.expectile(x, p, 0.8) - 0.8) < 1e-9
    assert drl.quantile([1.0, 2.0, 3.0], [0.2, 0.5, 0.3], 0.1) == 1.0
    assert drl.quantile([1.0, 2.0, 3.0], [0.2, 0.5, 0.3], 0.6) == 2.0


def test_asymmetric_updates_converge_to_expectiles():
    g = torch.Generator().manual_seed(0)
    values, probs = torch.tensor([0.0, 1.0, 4.0]), torch.tensor([0.3, 0.5, 0.2])
    taus = torch.tensor([0.1, 0.5, 0.9])
    V = torch.zeros(3)
    for t in range(600):
        r = values[torch.multinomial(probs, 200, replacement=True, generator=g)]
        V = drl.asymmetric_update(V, r, taus, 0.5 / (1 + t / 30))
    exact = [drl.expectile(values.numpy(), probs.numpy(), float(t)) for t in taus]
    assert np.abs(V.numpy() - exact).max() < 0.05


def test_decoding_recovers_a_two_point_distribution():
    taus = np.linspace(0.05, 0.95, 19)
    e = np.array([drl.expectile([0.0, 10.0], [0.5, 0.5], t) for t in taus])
    z = drl.decode_expectiles(e, taus, n_samples=50)
    assert abs(z.mean() - 5.0) < 0.2
    assert np.abs([drl.expectile(z, np.full(50, 1 / 50), t) for t in taus] - e).max() < 0.3


def test_meta_rl_episode_shapes_and_loss():
    agent = drl.MetaRLAgent(hidden_size=8)
    g = torch.Generator().manual_seed(0)
    logps, ents, vals, rews, acts = drl.bandit_episode(agent, torch.rand(4, 2, generator=g), 5, g)
    assert logps.shape == ents.shape == vals.shape == rews.shape == acts.shape == (5, 4)
    loss = drl.a2c_loss(logps, ents, vals, rews, gamma=0.9, value_coef=0.5, entropy_coef=0.05)
    loss.backward()
    assert loss.ndim == 0 and agent.policy.weight.grad is not None
    assert drl.thompson_regret(torch.tensor([[0.1, 0.9]]), 50, g).item() < 50 * 0.8


def test_rpe_before_learning_is_the_reward():
    """Moved from the claim file (true by definition): with V = 0 an unpredicted reward r gives delta = r, the cue 0."""
    d = drl.td_trial(torch.zeros(10), cue_time=5, reward_time=15, trial_len=20, reward=1.0, gamma=0.98, alpha=0.2,
                     learn=False)
    assert d[15] == 1.0 and d[5] == 0.0


def test_untrained_meta_rl_agent_shows_no_within_episode_learning():
    """The metrics are not built in: an agent with no training (weights at initialisation) neither improves within
    the episode nor beats a random policy, so the meta-RL claims cannot pass without learning."""
    from pipelines.drl_neuroscience import meta_rl

    cfg = {"meta_hidden": 48, "meta_lr": 0.01, "meta_rl_episodes": 0, "meta_envs": 64, "meta_gamma": 0.5,
           "meta_entropy": 0.01, "meta_trials": 20, "meta_test_bandits": 2000, "meta_early_trials": 3,
           "meta_late_trials": 10}
    m = meta_rl(cfg, 0)
    assert abs(m["meta_rl_best_arm_late_minus_early"]) < 0.03
    assert abs(m["meta_rl_log_regret_over_random"]) < 0.1
    assert m["meta_rl_log_regret_over_thompson"] > 0.6931  # no better than random: beyond the Thompson claim's bar


def test_meta_rl_claims_fail_on_no_effect_values():
    """Values at each claim's null (no within-episode learning, random-policy regret) never reproduce."""
    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file
    from pipelines.shared.common import REPO

    cf = load_claim_file(REPO / "claims" / "drl_neuroscience.yaml")
    rng = np.random.default_rng(0)
    noise = lambda: (0.02 * rng.standard_normal(6)).tolist()  # noqa: E731
    metrics = {"meta_rl_best_arm_late_minus_early": noise(), "meta_rl_late_minus_early_over_memory_reset": noise(),
               "meta_rl_log_regret_over_random": noise(),
               "meta_rl_log_regret_over_thompson": [0.86 + x for x in noise()],
               "meta_rl_train_reward_gain": [0.1] * 6, "meta_rl_thompson_regret_over_random": [0.42] * 6}
    measured = {"paper": "drl_neuroscience", "profile": "cpu", "metrics": metrics}
    verdicts = {c.id: check_claim(c, measured).verdict for c in cf.claims if c.id.startswith("meta_rl")}
    assert len(verdicts) == 4 and "reproduced" not in verdicts.values(), verdicts
