"""GCN (Kipf & Welling 2017): the propagation matrix against a dense computation, spectra, layers, Planetoid loader."""
import pickle

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from implementations.gcn import GraphConvolution, gcn, mlp, propagation_matrix, untrained_embedding_gcn
from pipelines.gcn import (MacCounter, complexity_slope, edge_index_of, karate_communities, layer_macs, load_planetoid,
                           spectrum)


def dense_reference(graph, renormalize):
    a = nx.to_numpy_array(graph, weight=None)
    np.fill_diagonal(a, 0)
    if renormalize:
        a = a + np.eye(len(a))
    d = a.sum(1)
    dinv = np.where(d > 0, d ** -0.5, 0)
    out = dinv[:, None] * a * dinv[None, :]
    return out if renormalize else out + np.eye(len(a))


@pytest.mark.parametrize("renormalize", [True, False])
@pytest.mark.parametrize("graph", [nx.karate_club_graph(), nx.florentine_families_graph(), nx.path_graph(5)])
def test_propagation_matrix_matches_dense(graph, renormalize):
    ei, n = edge_index_of(graph)
    got = propagation_matrix(ei, n, renormalize=renormalize, dtype=torch.float64).to_dense().numpy()
    np.testing.assert_allclose(got, dense_reference(graph, renormalize), atol=1e-12)


def test_duplicate_edges_self_loops_and_isolated_nodes():
    ei = torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 2, 3]])  # 0-1 twice, a self-loop on 2 and 3; node 4 isolated
    a = propagation_matrix(ei, 5, dtype=torch.float64).to_dense()
    g = nx.Graph([(0, 1), (1, 2)])
    g.add_nodes_from([3, 4])
    np.testing.assert_allclose(a.numpy(), dense_reference(g, True), atol=1e-12)
    assert a[4, 4] == 1.0


def test_spectra_on_karate():
    first, renorm = spectrum(nx.karate_club_graph(), False), spectrum(nx.karate_club_graph(), True)
    assert first.min() >= -1e-12 and abs(first.max() - 2) < 1e-12
    assert renorm.min() > -1 and abs(renorm.max() - 1) < 1e-12


def test_bipartite_graph_reaches_0_in_the_first_order_spectrum():
    assert abs(spectrum(nx.davis_southern_women_graph(), False).min()) < 1e-9


def test_layer_is_a_hat_x_w():
    torch.manual_seed(0)
    ei, n = edge_index_of(nx.karate_club_graph())
    a = propagation_matrix(ei, n)
    model = gcn(in_features=5, num_classes=3).eval()
    x = torch.randn(n, 5)
    l0, l1 = model.layers
    expected = a.to_dense() @ l1.linear(torch.relu(a.to_dense() @ l0.linear(x)))  # Eq. 9 before the softmax
    assert torch.allclose(model(x, a), expected, atol=1e-5)
    assert mlp(in_features=5, num_classes=3).eval()(x, None).shape == (n, 3)


def test_shapes_and_parameters():
    model = gcn(in_features=1433, num_classes=7)  # Cora
    assert sum(p.numel() for p in model.parameters()) == 1433 * 16 + 16 + 16 * 7 + 7
    emb = untrained_embedding_gcn(in_features=34)
    ei, n = edge_index_of(nx.karate_club_graph())
    assert emb(torch.eye(34), propagation_matrix(ei, n)).shape == (34, 2)


def test_planetoid_loader_on_tiny_raw_files(tmp_path):
    # 6 nodes: 2 labelled (x, y), allx = nodes 0..3, test nodes 5 and 4 (stored out of order), 2 classes
    allx = sp.csr_matrix(np.array([[1, 1], [2, 0], [0, 3], [1, 0]], dtype=np.float32))
    ally = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    tx = sp.csr_matrix(np.array([[4, 4], [0, 5]], dtype=np.float32))  # rows in test.index order: node 5, node 4
    ty = np.array([[0, 1], [1, 0]])
    parts = {"x": allx[:2], "y": ally[:2], "tx": tx, "ty": ty, "allx": allx, "ally": ally,
             "graph": {0: [1], 1: [0, 2], 2: [1], 3: [4], 4: [3, 5], 5: [4]}}
    for name, obj in parts.items():
        with open(tmp_path / f"ind.tiny.{name}", "wb") as f:
            pickle.dump(obj, f)
    (tmp_path / "ind.tiny.test.index").write_text("5\n4\n")
    x, y, a_hat, train, val, test = load_planetoid(tmp_path, "tiny")
    assert x.shape == (6, 2) and y.tolist() == [0, 1, 0, 1, 0, 1]
    np.testing.assert_allclose(x[5].numpy(), [0.5, 0.5])  # node 5's row, normalised
    np.testing.assert_allclose(x[4].numpy(), [0.0, 1.0])
    assert train.tolist() == [0, 1] and test.tolist() == [4, 5]
    assert a_hat.to_dense()[3, 4] > 0 and a_hat.to_dense()[0, 5] == 0


def test_planetoid_loader_says_where_to_get_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="kimiyoung/planetoid"):
        load_planetoid(tmp_path, "cora")


def test_layer_macs_counts_dense_transform_and_sparse_product():
    edges, degree, c, f = 2000, 10, 8, 4
    n = 2 * edges // degree
    e, macs = layer_macs(edges, degree=degree, in_features=c, out_features=f)
    a_hat = propagation_matrix(torch.randint(0, n, (2, edges), generator=torch.Generator().manual_seed(0)), n)
    nnz = a_hat.values().numel()
    assert nnz == 2 * e + n  # both directions of every distinct edge plus the self-loops of A + I
    assert macs == n * c * f + nnz * f  # H W, then A_hat (H W): O(|E| F C) for |E| >= N


class DenseLayer(GraphConvolution):
    """A broken GCN layer: the same output, computed with A_hat made dense (O(N^2 F))."""

    def forward(self, h, a_hat):
        return a_hat.to_dense() @ self.transform(h)


def test_dense_forward_fails_the_linear_complexity_claim():
    cfg = {"complexity_edges": [1000, 3000, 10000], "complexity_degree": 10, "complexity_in": 32, "complexity_out": 16}
    torch.manual_seed(0)
    x, a = torch.randn(50, 32), propagation_matrix(torch.randint(0, 50, (2, 200)), 50)
    layer, dense = GraphConvolution(32, 16), DenseLayer(32, 16)
    dense.load_state_dict(layer.state_dict())
    torch.testing.assert_close(dense(x, a), layer(x, a))  # same function, different cost
    slopes = {cls.__name__: complexity_slope(cfg, layer_cls=cls)[0] for cls in (GraphConvolution, DenseLayer)}
    verdicts = {k: claim_verdicts({"layer_macs_loglog_slope_vs_edges": v}, ["linear_complexity"])["linear_complexity"]
                for k, v in slopes.items()}
    assert verdicts == {"GraphConvolution": "reproduced", "DenseLayer": "not_reproduced"}, slopes
    assert slopes["DenseLayer"] > 1.8


def test_mac_counter_refuses_uncounted_sparse_ops():
    a = propagation_matrix(torch.tensor([[0, 1], [1, 2]]), 3)
    with pytest.raises(NotImplementedError, match="not counted"), MacCounter():
        a * 2.0


def claim_verdicts(metrics: dict, ids: list[str]) -> dict:
    from claimcheck.check import check_claim
    from claimcheck.schema import load_claim_file
    from pipelines.shared.common import REPO

    cf = load_claim_file(REPO / "claims" / "gcn.yaml")
    measured = {"paper": "gcn", "profile": "cpu", "metrics": metrics}
    return {c.id: check_claim(c, measured).verdict for c in cf.claims if c.id in ids}


def test_karate_labels_are_the_optimal_modularity_partition():
    from pipelines.gcn import label_modularity

    g = nx.karate_club_graph()
    labels = karate_communities(g)
    assert labels.max() + 1 == 4 and abs(label_modularity(g, labels) - 0.4198) < 5e-5  # Brandes et al. 2008's optimum


def test_gcn_without_propagation_fails_the_karate_claim(monkeypatch):
    """No graph in the untrained GCN (A_hat = I): its embedding is a random projection of one-hot rows, no better
    than a random embedding, and the claim must not reproduce."""
    from pipelines import gcn as stage

    seeds, labels = list(range(20)), karate_communities(nx.karate_club_graph())
    right = {"karate_label_classes": 4, "karate_label_modularity": 0.4198}
    assert claim_verdicts({"karate_knn_acc_untrained_gcn_minus_random": stage.karate_embedding_gap(seeds, labels), **right},
                          ["untrained_gcn_karate_communities"]) == {"untrained_gcn_karate_communities": "reproduced"}
    eye = lambda ei, n, **kw: torch.eye(n).to_sparse_csr()  # noqa: E731
    monkeypatch.setattr(stage, "propagation_matrix", eye)
    gaps = stage.karate_embedding_gap(seeds, labels)
    assert claim_verdicts({"karate_knn_acc_untrained_gcn_minus_random": gaps, **right},
                          ["untrained_gcn_karate_communities"]) != {"untrained_gcn_karate_communities": "reproduced"}


def test_karate_claim_is_not_judged_on_other_labels_than_the_papers():
    """A clustering that is not the optimal modularity partition (here the club's two factions, Q = 0.37) is not the
    paper's four classes: the claim is invalid on it, whatever the gap."""
    g = nx.karate_club_graph()
    factions = np.array([0 if g.nodes[v]["club"] == "Mr. Hi" else 1 for v in g.nodes])
    from pipelines.gcn import label_modularity

    other = {"karate_label_classes": 2, "karate_label_modularity": label_modularity(g, factions)}
    assert claim_verdicts({"karate_knn_acc_untrained_gcn_minus_random": [0.4] * 20, **other},
                          ["untrained_gcn_karate_communities"]) == {"untrained_gcn_karate_communities": "invalid"}


def test_identical_arms_fail_the_gcn_vs_mlp_claim(monkeypatch):
    """The GCN arm replaced by the MLP (the factor under test removed): every gap is 0 and the claim fails."""
    from pipelines import gcn as stage

    cfg = {"hidden": 16, "dropout": 0.5, "lr": 0.01, "weight_decay": 5e-4, "epochs": 30, "early_stop_window": 0,
           "sbm_blocks": 4, "sbm_block_size": 30, "sbm_p_in": 0.2, "sbm_p_out": 0.01, "sbm_features": 8,
           "sbm_signal": 1.0, "sbm_labels_per_class": 5, "sbm_val": 10}
    monkeypatch.setattr(stage, "gcn", stage.mlp)
    runs = [stage.sbm_run(cfg, s) for s in range(5)]
    metrics = {"sbm_acc_gcn": [g for g, _ in runs], "sbm_acc_mlp": [m for _, m in runs],
               "sbm_acc_gcn_minus_mlp": [g - m for g, m in runs]}
    assert metrics["sbm_acc_gcn_minus_mlp"] == [0.0] * 5
    verdict = claim_verdicts(metrics, ["gcn_beats_mlp_noisy_features"])["gcn_beats_mlp_noisy_features"]
    assert verdict in ("not_reproduced", "invalid")


def write_nell(folder):
    """NELL's layout: 8 graph nodes, allx = nodes 0..2, test nodes 5 and 3 (stored out of order); nodes 4, 6 and 7
    are relation nodes without features."""
    allx = sp.csr_matrix(np.array([[1, 1], [2, 0], [0, 3]], dtype=np.float32))
    ally = np.array([[1, 0], [0, 1], [1, 0]])
    tx = sp.csr_matrix(np.array([[4, 4], [0, 5]], dtype=np.float32))  # rows in test.index order: node 5, node 3
    ty = np.array([[0, 1], [1, 0]])
    graph = {0: [1], 1: [0, 2], 2: [1, 3], 3: [2, 4], 4: [3, 5], 5: [4, 6], 6: [5, 7], 7: [6]}
    parts = {"x": allx[:2], "y": ally[:2], "tx": tx, "ty": ty, "allx": allx, "ally": ally, "graph": graph}
    for name, obj in parts.items():
        with open(folder / f"ind.nell.0.001.{name}", "wb") as f:
            pickle.dump(obj, f)
    (folder / "ind.nell.0.001.test.index").write_text("5\n3\n")


def test_nell_loader_gives_relation_nodes_one_hot_features(tmp_path):
    """The relation nodes (4, 6, 7) get a one-hot feature each (Sec. 5.1); features stay sparse and a GCN trains on
    them (sparse dropout, sparse X W)."""
    from implementations.gcn import gcn

    write_nell(tmp_path)
    x, y, a_hat, train, val, test = load_planetoid(tmp_path, "nell.0.001")
    assert x.is_sparse and x.shape == (8, 2 + 3)
    dense = x.to_dense()
    np.testing.assert_allclose(dense[5].numpy(), [0.5, 0.5, 0, 0, 0])  # node 5: tx's first row, normalised
    np.testing.assert_allclose(dense[3].numpy(), [0, 1, 0, 0, 0])
    np.testing.assert_allclose(dense[[4, 6, 7], 2:].numpy(), np.eye(3))  # the relation nodes' one-hot features
    assert (dense[[4, 6, 7], :2] == 0).all() and y[[3, 5]].tolist() == [0, 1] and test.tolist() == [3, 5]
    torch.manual_seed(0)
    model = gcn(in_features=5, num_classes=2, hidden=4, dropout=0.5)
    model.train()
    model(x, a_hat)[train].sum().backward()
    assert model.layers[0].linear.weight.grad is not None
    model.eval()
    torch.testing.assert_close(model(x, a_hat), model(dense, a_hat))  # sparse and dense inputs agree


def test_nell_runs_with_its_own_hyperparameters(tmp_path, monkeypatch):
    from pipelines import gcn as stage

    write_nell(tmp_path)
    seen = {}
    monkeypatch.setattr(stage, "gcn_vs_mlp", lambda seed, c, *data: seen.update(c) or (0.5, 0.25))
    cfg = {"planetoid_dir": str(tmp_path), "dropout": 0.5, "hidden": 16,
           "planetoid_overrides": {"nell.0.001": {"dropout": 0.1, "hidden": 64}}}
    assert stage.planetoid_run(cfg, ("nell.0.001", 0)) == (0.5, 0.25)
    assert seen["dropout"] == 0.1 and seen["hidden"] == 64


def test_karate_club_has_78_undirected_edges():
    """App. A.1 says 154 edges; Zachary's graph has 78 undirected (156 directed): claims/gcn.yaml karate_club_edge_count."""
    g = nx.karate_club_graph()
    assert g.number_of_nodes() == 34 and g.number_of_edges() == 78 and not g.is_directed()
    assert claim_verdicts({"karate_undirected_edges": 78}, ["karate_club_edge_count"]) == {
        "karate_club_edge_count": "not_reproduced"}
