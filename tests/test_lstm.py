"""LSTM (Hochreiter & Schmidhuber 1997): weight counts, shapes, and the constant error carousel's gradient."""
import torch
from torch import nn

from implementations.lstm import LSTM1997, lstm1997_classifier, weight_count_1997, weight_count_torch_lstm
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
    assert lstm1997_classifier(input_size=8, num_classes=2, blocks=4)(x).shape == (5, 2)


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


# ------------------------------------------------------------------------------------------ learning algorithms
from claimcheck.check import check_claim  # noqa: E402
from claimcheck.schema import load_claim_file  # noqa: E402
from implementations.lstm import StackedLSTM1997, rtrl_init, rtrl_step, truncated_rtrl_init, truncated_rtrl_step  # noqa: E402
from pipelines import lstm as stage  # noqa: E402
from pipelines.shared.common import REPO  # noqa: E402

CLAIMS = {c.id: c for c in load_claim_file(REPO / "claims" / "lstm.yaml").claims}


def _verdict(cid, metrics):
    """The verdict at the claim's first profile (cpu, or full for the claims not judged at cpu yet)."""
    return check_claim(CLAIMS[cid], {"paper": "lstm", "profile": CLAIMS[cid].profiles[0], "metrics": metrics}).verdict


def test_truncated_rtrl_step_is_the_truncated_gradient_of_the_1997_cell():
    """The forward-mode algorithm of Appendix A.1 gives exactly autograd's gradient of LSTM1997(truncate=True)."""
    torch.manual_seed(0)
    for blocks, size in [(3, 1), (2, 2)]:
        net = lstm1997_classifier(input_size=3, num_classes=2, blocks=blocks, block_size=size).double()
        x, target = torch.randn(20, 1, 3, dtype=torch.float64), torch.randn(1, 2, dtype=torch.float64)
        (0.5 * (net(x) - target).pow(2).sum()).backward()
        r = net.recurrent
        W = torch.cat([r.from_input.weight, r.from_hidden.weight, r.from_input.bias[:, None]], 1).detach()
        W_out = torch.cat([net.readout.weight, net.readout.bias[:, None]], 1).detach()
        state = truncated_rtrl_init(W, r.cells)
        for t in range(20):
            _, state, grads = truncated_rtrl_step(W, W_out, state, x[t, 0], target[0] if t == 19 else None,
                                                  blocks=blocks, block_size=size)
        ref = torch.cat([r.from_input.weight.grad, r.from_hidden.weight.grad, r.from_input.bias.grad[:, None]], 1)
        assert torch.allclose(grads[0], ref, atol=1e-12)
        assert torch.allclose(grads[1], torch.cat([net.readout.weight.grad, net.readout.bias.grad[:, None]], 1), atol=1e-12)


def test_rtrl_step_is_the_full_gradient():
    torch.manual_seed(0)
    n, i, T = 4, 3, 15
    W = (torch.randn(n, i + n + 1, dtype=torch.float64) * 0.5).requires_grad_(True)
    W_out, x, target = torch.randn(2, n + 1, dtype=torch.float64), torch.randn(T, i, dtype=torch.float64), torch.randn(2, dtype=torch.float64)
    y, one = torch.zeros(n, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    for t in range(T):
        y = torch.tanh(W @ torch.cat([x[t], y, one]))
    (0.5 * (W_out @ torch.cat([y, one]) - target).pow(2).sum()).backward()
    state = rtrl_init(W.detach())
    for t in range(T):
        _, state, grads = rtrl_step(W.detach(), W_out, state, x[t], target if t == T - 1 else None)
    assert torch.allclose(grads[0], W.grad, atol=1e-12)


def test_learning_cost_per_weight_is_flat_for_lstm_and_grows_for_rtrl():
    lstm = [stage.learning_ops_per_weight("lstm", b) for b in (1, 4, 16)]
    rtrl = [stage.learning_ops_per_weight("rtrl", b) for b in (1, 4, 16)]
    assert max(lstm) / min(lstm) < 1.5 and rtrl[2] / rtrl[0] > 50


def test_o1_claim_fails_for_an_algorithm_whose_cost_per_weight_grows():
    """The broken version: RTRL's cost in place of LSTM's must not reproduce; a counter that sees no growth anywhere
    (the positive control fails) makes the claim invalid."""
    assert _verdict("o1_per_step_and_weight", {"lstm_ops_per_weight_growth": 0.84, "rtrl_ops_per_weight_growth": 3e4}) == "reproduced"
    assert _verdict("o1_per_step_and_weight", {"lstm_ops_per_weight_growth": 3e4, "rtrl_ops_per_weight_growth": 3e4}) == "not_reproduced"
    assert _verdict("o1_per_step_and_weight", {"lstm_ops_per_weight_growth": 1.0, "rtrl_ops_per_weight_growth": 1.0}) == "invalid"


def test_stacked_lstm_is_the_same_arithmetic_as_separate_nets():
    torch.manual_seed(0)
    nets = [lstm1997_classifier(input_size=2, num_classes=1, blocks=2, block_size=2) for _ in range(3)]
    stacked = StackedLSTM1997.from_single(nets)
    x = torch.randn(30, 3, 5, 2)
    assert torch.allclose(stacked(x)[-1], torch.stack([n(x[:, i]) for i, n in enumerate(nets)]), atol=1e-6)
    sum(n(x[:, i]).sum() for i, n in enumerate(nets)).backward()
    stacked(x)[-1].sum().backward()
    assert torch.allclose(stacked.w_rec.grad[1], nets[1].recurrent.from_hidden.weight.grad.T, atol=1e-6)


def test_exp2a_sequences():
    x, y = stage.exp2a_batch(64, p=100, gen=torch.Generator().manual_seed(0))
    ids = x.argmax(-1)
    assert x.shape == (101, 64, 101) and (ids[0] == ids[-1]).all() and set(ids[0].tolist()) <= {99, 100}
    assert (ids[1:-1] == torch.arange(99)[:, None]).all() and torch.equal(y, ids[1:])


def test_adding_claims_need_a_solved_lstm_and_fail_when_it_is_no_better():
    solved = {"adding_test_mse_lstm1997_exp4": [0.001] * 10}
    same = {**solved, "adding_correct_lstm1997_exp4_minus_rnn": [0.01, -0.01] * 5}
    assert _verdict("adding_problem_lstm_beats_rnn", same) == "not_reproduced"
    plateau = {"adding_test_mse_lstm1997_exp4": [0.03] * 10, "adding_correct_lstm1997_exp4_minus_rnn": [0.0] * 10}
    assert _verdict("adding_problem_lstm_beats_rnn", plateau) == "invalid"
    hard = {**solved, "adding_wrong_rnn": [0.8] * 10}
    assert _verdict("adding_problem_t100", {**hard, "adding_wrong_lstm1997_exp4": [0.01] * 10}) == "not_reproduced"
    assert _verdict("adding_problem_t100", {**hard, "adding_wrong_lstm1997_exp4": [0.0] * 10}) == "reproduced"


def test_exp2a_claim_needs_the_short_lags_learned():
    assert _verdict("long_lag_all_trials_succeed", {"exp2a_success_lstm1997": [0.0] * 10,
                                                    "exp2a_easy_steps_correct_lstm1997": [0.5] * 10}) == "invalid"
    assert _verdict("long_lag_all_trials_succeed", {"exp2a_success_lstm1997": [1.0] * 9 + [0.0],
                                                    "exp2a_easy_steps_correct_lstm1997": [1.0] * 10}) == "not_reproduced"


def test_two_sequence_problem_sequences():
    x, y = stage.two_sequence_batch(500, T=100, n_info=3, gen=torch.Generator().manual_seed(0))
    assert x.shape == (100, 500, 1) and set(y.tolist()) == {0.0, 1.0}
    assert torch.equal(x[:3, :, 0], (2 * y - 1).expand(3, -1))
    assert abs(x[3:].var().item() - 0.2) < 0.01 and abs(x[3:].mean().item()) < 0.01


def test_mean_over_the_seeds_at_st2():
    assert stage._mean_where([0.5, 0.001, 0.003], [0.0, 1.0, 1.0]) == 0.002 and stage._mean_where([0.5], [0.0]) == -1.0


def test_exp3a_claims_fail_for_a_net_that_does_not_learn_or_is_slow():
    ok = {"exp3a_wrong_untrained_lstm1997": [1.0] * 10, "exp3a_reached_st2_lstm1997": [1.0] * 10,
          "exp3a_wrong_lstm1997": [0.001] * 10}
    assert _verdict("two_sequence_problem_st2", ok) == "reproduced"
    assert _verdict("two_sequence_problem_st2", {**ok, "exp3a_reached_st2_lstm1997": [1.0] * 9 + [0.0]}) == "not_reproduced"
    untrained = {**ok, "exp3a_wrong_lstm1997": [0.001] * 9 + [0.5], "exp3a_reached_st2_lstm1997": [1.0] * 9 + [0.0]}
    assert _verdict("two_sequence_problem_st2", untrained) == "invalid"
    assert _verdict("two_sequence_problem_misclassified", {**ok, "exp3a_wrong_at_st2_mean_lstm1997": 0.0001}) == "reproduced"
    assert _verdict("two_sequence_problem_misclassified", {**ok, "exp3a_wrong_at_st2_mean_lstm1997": 0.002}) == "not_reproduced"
    never = {**ok, "exp3a_reached_st2_lstm1997": [1.0] * 4 + [0.0] * 6, "exp3a_wrong_at_st2_mean_lstm1997": 0.0}
    assert _verdict("two_sequence_problem_misclassified", never) == "invalid"
    blind = {**ok, "exp3a_wrong_untrained_lstm1997": [0.0] * 10, "exp3a_wrong_at_st2_mean_lstm1997": 0.0}
    assert _verdict("two_sequence_problem_misclassified", blind) == "invalid"


def test_latch_claims_need_every_lstm_seed_trained():
    learned = {"latch_acc_lstm1997": [1.0] * 10}
    assert _verdict("long_lag_rnn_fails", {**learned, "latch_acc_rnn": [0.5, 0.51] * 5}) == "reproduced"
    assert _verdict("long_lag_rnn_fails", {**learned, "latch_acc_rnn": [1.0] * 10}) == "not_reproduced"
    one_missed = {"latch_acc_lstm1997": [1.0] * 9 + [0.5], "latch_acc_rnn": [0.5, 0.51] * 5}
    assert _verdict("long_lag_rnn_fails", one_missed) == "invalid"
    same = {**learned, "latch_acc_lstm1997_minus_rnn": [0.01, -0.01] * 5}
    assert _verdict("lstm_beats_rnn_on_long_lag", same) == "not_reproduced"


def test_exp2a_cell_is_the_papers_and_the_stacked_readout_matches_a_loop():
    torch.manual_seed(0)
    net = StackedLSTM1997(2, 5, 5, readout_sees_input=True, output_gate=False, g=torch.sigmoid, h=lambda s: s)
    assert net.hidden == 2 and net.w_rec.shape == (2, 2, 2)  # one cell and its input gate
    x = torch.randn(7, 2, 3, 5)
    out = net(x, every_step=True)
    s = torch.zeros(2, 3, 1)
    y = torch.zeros(2, 3, 2)
    for t in range(7):
        net_t = x[t] @ net.w_in + net.b_in + y @ net.w_rec
        gate = torch.sigmoid(net_t[..., 1:])
        s = s + gate * torch.sigmoid(net_t[..., :1])
        y = torch.cat([s, gate], -1)
        assert torch.allclose(out[t], torch.cat([x[t], s], -1) @ net.w_out + net.b_out, atol=1e-5)
