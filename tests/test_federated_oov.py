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
