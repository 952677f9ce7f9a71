from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from implementations.neural_fabrics import Fabric, chain_cnn, count_paths, neural_fabric
from pipelines.shared.structural import count_params, on_meta

CLAIMS = Path(__file__).resolve().parents[1] / "claims" / "neural_fabrics.yaml"


def _check(claim_id: str, metrics: dict) -> str:
    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file

    claim = next(c for c in load_claim_file(CLAIMS).claims if c.id == claim_id)
    return check_claim(claim, {"paper": "neural_fabrics", "profile": "cpu", "metrics": metrics}).verdict


def test_path_counts():
    assert [count_paths(L, 6) for L in (8, 12, 16)] == [26, 3223, 244296]
    assert count_paths(6, 6) == 1  # the only path: straight down the scales
    assert count_paths(5, 6) == 0  # too short to reach the coarsest scale


def test_built_fabric_paths_are_the_trellis_walks():
    """The autograd count on the built fabric = walks through the trellis: the first column reaches every scale by
    one path, L - 1 interior layers step to s - 1 | s | s + 1, the last column joins every scale to the output by
    one path: the sum of all entries of T^(L-1) (T tridiagonal ones)."""
    from pipelines.neural_fabrics import graph_paths

    for L, S in ((3, 4), (8, 6), (12, 5)):
        T = np.eye(S, dtype=object) + np.eye(S, k=1, dtype=object) + np.eye(S, k=-1, dtype=object)
        walks = np.linalg.matrix_power(T, L - 1).sum()
        fabric = on_meta(lambda: neural_fabric(layers=L, scales=S, channels=4, doubling=False))
        assert graph_paths(fabric, (3, 32, 32)) == walks
    assert graph_paths(on_meta(lambda: chain_cnn(scales=4, channels=4)), (3, 32, 32)) == 1


class _NoUpFabric(Fabric):
    """A broken fabric: the interior layers lose their upsampling links (information only flows to coarser scales)."""

    def forward(self, x):
        nodes = [F.relu(self.stem(x))]
        for conv in self.first:
            nodes.append(F.relu(conv(nodes[-1])))
        for l in range(self.layers - 1):
            nodes = [F.relu(self.same[l][s](nodes[s]) + (self.down[l][s - 1](nodes[s - 1]) if s else 0))
                     for s in range(self.scales)]
        out = nodes[0]
        for s, conv in enumerate(self.last, start=1):
            out = F.relu(conv(out) + nodes[s])
        return self.classifier(out.mean(dim=(2, 3)))


def test_a_wrong_fabric_fails_the_exponential_paths_claim():
    from pipelines.neural_fabrics import graph_paths

    def ratio(build):
        a, b = (graph_paths(on_meta(lambda L=L: build(L)), (3, 32, 32)) for L in (31, 32))
        return b / a

    kw = dict(in_channels=3, num_classes=10, scales=6, channels=2, doubling=False)
    good = ratio(lambda L: neural_fabric(layers=L, **kw))
    assert _check("exponential_paths", {"paths_growth_ratio_per_layer": good}) == "reproduced"
    no_up = ratio(lambda L: _NoUpFabric(layers=L, **kw))
    assert no_up < 1.3 and _check("exponential_paths", {"paths_growth_ratio_per_layer": no_up}) == "not_reproduced"
    assert _check("exponential_paths", {"paths_growth_ratio_per_layer": 1.0}) == "not_reproduced"  # a chain


def test_structural_metrics_come_from_the_built_fabric_and_a_quadratic_one_fails(monkeypatch):
    import pipelines.neural_fabrics as nf

    cfg = dict(paper_layers=4, paper_scales=4, paper_channels=4, path_layers=[6, 7], cost_layers=[2, 4, 6],
               cost_scales=[3, 4])
    m = nf.structural(cfg)
    assert m["fabric_cost_increment_rel_spread"] == 0 and m["fabric_params_per_layer_minus_edge_formula"] == 0
    assert _check("linear_cost", m) == "reproduced" and _check("linear_cost_edges", m) == "reproduced"
    # a "fabric" whose cost grows with the square of its depth (as if every layer took all earlier ones)
    monkeypatch.setattr(nf, "neural_fabric", lambda layers, **kw: neural_fabric(layers=layers * layers, **kw))
    bad = nf.structural(cfg)
    assert bad["fabric_cost_increment_rel_spread"] >= 0.5 and _check("linear_cost", bad) == "not_reproduced"


def test_competitive_rule_rejects_a_broken_fabric_and_an_untrained_or_blind_comparison():
    noise = [0.004, -0.006, 0.002, 0.005, -0.003]
    ok = {"acc_fabric": [0.97] * 5, "acc_chain": [0.965] * 5, "acc_chain_minus_fabric_frozen": [0.5 + e for e in noise],
          "acc_fabric_minus_chain": [0.005 + e for e in noise]}
    assert _check("competitive_with_chain", ok) == "reproduced"
    # a broken fabric (frozen trellis, or one that trains badly) is far below the chain: not reproduced
    assert _check("competitive_with_chain", {**ok, "acc_fabric_minus_chain": [-0.4 + e for e in noise]}) == "not_reproduced"
    assert _check("competitive_with_chain", {**ok, "acc_fabric_minus_chain": [-0.03 + e for e in noise]}) == "not_reproduced"
    # a comparison that cannot tell a broken fabric from the chain, or an untrained chain: invalid
    assert _check("competitive_with_chain", {**ok, "acc_chain_minus_fabric_frozen": noise}) == "invalid"
    assert _check("competitive_with_chain", {**ok, "acc_chain": [0.6] * 5}) == "invalid"


def test_frozen_fabric_trains_only_its_classifier():
    from pipelines.neural_fabrics import train_and_score

    cfg = dict(layers=3, fabric_channels=2, chain_channels=2, lr=0.01, batch_size=256, epochs=1, device="cpu")
    out = train_and_score(cfg, ("fabric_frozen", 0))
    assert 0 <= out["acc"] <= 1 and out["params"] == count_params(neural_fabric(in_channels=1, layers=3, scales=4,
                                                                                 channels=2))


def test_parameters_linear_in_layers_and_shapes():
    p = [count_params(neural_fabric(layers=L, scales=4, channels=4, in_channels=1)) for L in (2, 3, 4)]
    assert p[2] - p[1] == p[1] - p[0] > 0
    f = neural_fabric(layers=3, scales=4, channels=4, in_channels=1, num_classes=10)
    assert f(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert chain_cnn(in_channels=1, scales=4, channels=4)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_paper_size_fabric_builds_on_meta():
    f = on_meta(lambda: neural_fabric())
    assert f(torch.zeros(1, 3, 32, 32, device="meta")).shape == (1, 10)


def test_cifar10_full_branch_runs_on_fake_cifar(monkeypatch):
    """The full profile's CIFAR-10 training and test error, on torchvision's FakeData instead of the download."""
    import torchvision

    import pipelines.neural_fabrics as nf

    fake = lambda name, *, train, transform: torchvision.datasets.FakeData(  # noqa: E731
        size=16 if train else 8, image_size=(3, 32, 32), num_classes=10, transform=transform)
    monkeypatch.setattr(nf, "torchvision_dataset", fake)
    cfg = dict(cifar_batch_size=4, cifar_workers=0, cifar_layers=3, cifar_scales=6, cifar_channels=2,
               cifar_doubling=False, cifar_lr=0.01, cifar_weight_decay=0.0, cifar_epochs=1)
    error, params = nf.cifar10_error(cfg, 0, "cpu")
    assert 0.0 <= error <= 1.0 and params == count_params(neural_fabric(layers=3, scales=6, channels=2, doubling=False))
