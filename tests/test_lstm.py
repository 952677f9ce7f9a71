"""LSTM (Hochreiter & Schmidhuber 1997): weight counts, shapes, and the constant error carousel's gradient."""
import torch
from torch import nn

from implementations.lstm import (LSTM1997, lstm1997_classifier, rnn_classifier, torch_lstm_classifier,
                                  weight_count_1997, weight_count_torch_lstm)
from pipelines.lstm import adding_batch
from pipelines.shared.structural import count_params


def test_exp4_has_93_weights():
    model = lstm1997_classifier(input_size=2, num_classes=1, blocks=2, block_size=2)
    assert count_params(model) == weight_count_1997(inputs=2, outputs=1, blocks=2, block_size=2) == 93


def test_1997_count_rule_matches_the_module_for_many_sizes():
    for inputs, blocks, size, forget in [(3, 1, 1, False), (5, 3, 2, False), (4, 2, 3, True)]:
        model = lstm1997_classifier(input_size=inputs, num_classes=2, blocks=blocks, block_size=size, forget_gate=forget)
        assert count_params(model) == weight_count_1997(inputs=inputs, outputs=2, blocks=blocks, block_size=size,
                                                        forget_gate=forget)


def test_torch_lstm_has_two_bias_vectors():
    for i, h in [(8, 32), (1, 1), (100, 7)]:
        n = count_params(nn.LSTM(i, h))
        assert n == weight_count_torch_lstm(inputs=i, hidden=h) == 4 * h * (i + h + 1) + 4 * h
        assert count_params(nn.LSTM(i, h, bias=False)) == 4 * h * (i + h)


def test_1997_cell_vs_gers_cell_vs_torch():
    # H cells in blocks of one, fully recurrent over the gates too: 3H hidden units (4H with a forget gate)
    h, i = 16, 8
    assert count_params(LSTM1997(i, blocks=h)) == 3 * h * (i + 3 * h + 1)
    assert count_params(LSTM1997(i, blocks=h, forget_gate=True)) == 4 * h * (i + 4 * h + 1)
    # torch's cell sees only the cell outputs h(t-1), not the gates, and has two biases
    assert count_params(nn.LSTM(i, h)) == 4 * h * (i + h + 2)


def test_shapes():
    x = torch.randn(12, 5, 8)
    out, s = LSTM1997(8, blocks=3, block_size=2)(x)
    assert out.shape == (12, 5, 6) and s.shape == (5, 6)
    for model in (lstm1997_classifier(input_size=8, num_classes=2, blocks=4),
                  torch_lstm_classifier(input_size=8, num_classes=2, hidden=4, forget_bias=5.0),
                  rnn_classifier(input_size=8, num_classes=2, hidden=4)):
        assert model(x).shape == (5, 2)


def test_cec_carries_the_error_unchanged_through_time():
    # 1997 cell with truncated backprop: d s_c(T) / d s_c(0) = 1 exactly, for any T (the constant error carousel)
    torch.manual_seed(0)
    cell = LSTM1997(3, blocks=4, truncate=True)
    s0 = torch.randn(2, 4, requires_grad=True)
    _, s_t = cell(torch.randn(200, 2, 3), s0)
    s_t.sum().backward()
    assert torch.equal(s0.grad, torch.ones_like(s0))


def test_forget_gate_scales_the_carried_error():
    # Gers et al. 2000: d s_c(T) / d s_c(0) = product of forget gate activations < 1: it decays over long lags
    torch.manual_seed(0)
    cell = LSTM1997(3, blocks=4, forget_gate=True, truncate=True)
    s0 = torch.randn(2, 4, requires_grad=True)
    _, s_t = cell(torch.randn(20, 2, 3), s0)
    s_t.sum().backward()
    assert (s0.grad > 0).all() and (s0.grad < 1e-3).all()  # gates start near 0.5: about 0.5^20


def test_vanilla_rnn_gradient_vanishes_over_long_lags():
    torch.manual_seed(0)
    rnn = nn.RNN(3, 8)
    x = torch.randn(200, 1, 3, requires_grad=True)
    rnn(x)[0][-1].sum().backward()
    assert x.grad[0].abs().max() < 1e-6 * x.grad[-1].abs().max()


def test_forget_bias_sits_on_the_forget_gate_slice():
    model = torch_lstm_classifier(input_size=4, num_classes=2, hidden=3, forget_bias=5.0)
    b = model.recurrent.bias_ih_l0 + model.recurrent.bias_hh_l0
    assert torch.equal(b[3:6], torch.full((3,), 5.0))


def test_adding_problem_sequences_follow_exp4():
    T, n = 100, 4096
    x, y = adding_batch(n, T=T, gen=torch.Generator().manual_seed(0))
    assert x.shape == (T, n, 2)
    value, marker = x[..., 0], x[..., 1]
    marked = marker == 1.0
    assert (marked.sum(0) == 2).all()  # exactly two marked pairs per sequence
    first = marked.float().argmax(0)
    assert (first < 10).all()  # X1 among the first ten pairs
    assert (marked[T // 2:].sum(0) == 0).all()  # X2 among the first T/2 - 1 other pairs: minimal lag ~T/2
    assert ((marker == 0) | marked | (marker == -1)).all()
    assert torch.allclose(y, 0.5 + (value * marked).sum(0) / 4)  # target 0.5 + (X1 + X2) / 4
    assert (value.abs() <= 1).all() and (y >= 0).all() and (y <= 1).all()
