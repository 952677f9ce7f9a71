from collections import Counter

import torch

from implementations import federated_oov as oov
from pipelines.federated_oov import lexicon, recall_at


def test_cifg_couples_input_and_forget_gates():
    cell = oov.CIFGLSTM(5, 7, 3)
    with torch.no_grad():
        cell.peep_f.normal_()
        cell.peep_o.normal_()
    r, c, (f, i) = cell.step(torch.randn(4, 5), (torch.randn(4, 3), torch.randn(4, 7)))
    torch.testing.assert_close(i + f, torch.ones_like(f), atol=0, rtol=0)
    assert r.shape == (4, 3) and c.shape == (4, 7)


def test_cifg_parameter_count():
    e, h, p = 16, 128, 32
    cell = oov.CIFGLSTM(e, h, p)
    gates, peepholes, projection = 3 * h * (e + p) + 3 * h, 2 * h, h * p  # 3 blocks, 2 peepholes, projection
    assert sum(t.numel() for t in cell.parameters()) == gates + peepholes + projection
    lstm_with_peepholes = 4 * h * (e + p) + 4 * h + 3 * h + h * p
    assert lstm_with_peepholes - (gates + peepholes + projection) == h * (e + p) + h + h  # one block and one peephole less


def test_char_lm_shapes_and_loss():
    model = oov.char_lm()
    tokens = oov.encode(["abc", "hello"], "abcdefghijklmnopqrstuvwxyz")
    assert tokens.shape == (7, 2) and tokens[0].tolist() == [0, 0] and tokens[4, 0] == 0 and tokens[5, 0] == -1
    logits, _ = model(tokens.clamp_min(0))
    assert logits.shape == (7, 2, 27)
    loss = oov.sequence_loss(model, tokens)
    assert abs(loss.item() - torch.log(torch.tensor(27.0)).item()) < 0.5  # near uniform at initialisation


def test_federated_training_learns_a_word_and_sampling_finds_it():
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    torch.manual_seed(0)
    model = oov.char_lm(hidden_size=32, proj_size=16)
    w = {k: v.detach().clone() for k, v in model.named_parameters()}
    data = [oov.encode(["zork"] * 20 + ["miva"] * 5, alphabet) for _ in range(2)]
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        ups = [oov.client_update(model, w, d, epochs=2, lr=0.03, batch_size=25, clip=1.0, generator=g) for d in data]
        w = {k: v + torch.stack([u[k] for u in ups]).mean(0) for k, v in w.items()}
    model.load_state_dict(w)
    counts = Counter(oov.sample_words(model, 300, alphabet, max_len=8, generator=g))
    assert counts.most_common(1)[0][0] == "zork"
    assert all(set(word) <= set(alphabet) for word in counts)


def test_recall_at_k_and_lexicon():
    truth = Counter({"a": 5, "b": 4, "c": 3, "d": 1})
    assert recall_at(2, Counter({"a": 9, "c": 8, "b": 1}), truth) == 0.5
    words = lexicon(50, __import__("numpy").random.default_rng(0))
    assert len(set(words)) == 50 and all(w.isalpha() and w.islower() for w in words)


def claim_verdicts(metrics: dict, ids: list[str]) -> dict:
    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file
    from pipelines.shared.common import REPO

    cf = load_claim_file(REPO / "claims" / "federated_oov.yaml")
    measured = {"paper": "federated_oov", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if c.id in ids}


def test_cifg_has_peepholes_and_a_projection():
    cell = oov.CIFGLSTM(16, 128, 32)
    assert cell.peep_f.shape == cell.peep_o.shape == (128,) and not hasattr(cell, "peep_i")  # no input gate at all
    assert cell.proj.weight.shape == (32, 128) and cell.gates.in_features == 16 + 32  # recurrence through r (size 32)


def test_uncoupled_cell_fails_the_cifg_claim(monkeypatch):
    """A cell with an input gate of its own (4 gate blocks, as a plain LSTM) must fail the structural claim."""
    from pipelines import federated_oov as stage

    assert claim_verdicts({"gate_weights_cifg_over_lstm": stage.gate_weight_ratio(16, 128, 32)},
                          ["cifg_couples_input_and_forget_gates"]) == {"cifg_couples_input_and_forget_gates": "reproduced"}

    class Uncoupled(oov.CIFGLSTM):
        def __init__(self, input_size, hidden_size, proj_size):
            super().__init__(input_size, hidden_size, proj_size)
            self.gates = torch.nn.Linear(input_size + proj_size, 4 * hidden_size)

    monkeypatch.setattr(oov, "CIFGLSTM", Uncoupled)
    ratio = stage.gate_weight_ratio(16, 128, 32)
    assert ratio == 1.0
    assert claim_verdicts({"gate_weights_cifg_over_lstm": ratio},
                          ["cifg_couples_input_and_forget_gates"]) == {"cifg_couples_input_and_forget_gates": "not_reproduced"}


def test_untrained_model_fails_the_sampling_claims():
    """No federated training (0 rounds): the sampled words are letter soup, recall is 0 and no claim reproduces."""
    from pipelines import federated_oov as stage

    cfg = {"lexicon_size": 300, "vocab_size": 30, "zipf_exponent": 1.2, "topics": 5, "dirichlet_alpha": 0.3,
           "num_clients": 10, "oov_tokens_per_client": 100, "embed_size": 16, "hidden_size": 32, "proj_size": 16,
           "clients_per_round": 2, "local_epochs": 1, "client_lr": 0.01, "batch_size": 64, "clip": 1.0, "rounds": 0,
           "samples": 3000, "max_len": 14, "ks": [50, 200]}
    runs = [stage.run_seed(cfg, s) for s in range(5)]
    assert all(r["recall_at_50"] <= 0.04 for r in runs) and all(r["char_ce"] > 3.0 for r in runs)
    metrics = {"recall_at_50_fedavg": [r["recall_at_50"] for r in runs],
               "recall_at_50_fedavg_minus_char_bigram": [r["recall_at_50"] - r["recall_at_50_bigram"] for r in runs],
               "recall_at_50_minus_recall_at_200": [r["recall_at_50"] - r["recall_at_200"] for r in runs],
               "char_cross_entropy_fedavg": [r["char_ce"] for r in runs]}
    verdicts = claim_verdicts(metrics, ["oov_words_recovered_by_sampling", "oov_sampling_beats_char_bigram",
                                        "frequent_oov_words_recovered_best"])
    assert len(verdicts) == 3 and "reproduced" not in verdicts.values(), verdicts
