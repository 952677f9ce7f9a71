"""GCN (Kipf & Welling 2017): spectrum of the propagation operator, GCN vs MLP, untrained karate embedding.

cpu/smoke: networkx's bundled graphs and a generated stochastic block model with noisy node features.
full: the Planetoid splits of Cora / Citeseer / Pubmed (Table 2) read from the raw files of
https://github.com/kimiyoung/planetoid (folder `data/`: ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index});
put them in `planetoid_dir` (params.yaml). torch_geometric is not needed.
"""
from __future__ import annotations

import functools
import pickle
from pathlib import Path

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F

from implementations.gcn import GraphConvolution, gcn, mlp, propagation_matrix, untrained_embedding_gcn
from pipelines.shared.common import REPO, map_seeds
from pipelines.shared.train import seed_everything

SPECTRUM_GRAPHS = {"karate_club": nx.karate_club_graph, "les_miserables": nx.les_miserables_graph,
                   "florentine_families": nx.florentine_families_graph, "davis_southern_women": nx.davis_southern_women_graph}


def edge_index_of(graph: nx.Graph) -> tuple[torch.Tensor, int]:
    nodes = {v: i for i, v in enumerate(graph.nodes)}
    edges = [(nodes[u], nodes[v]) for u, v in graph.edges]  # edge weights ignored: a binary adjacency A
    return torch.tensor(edges, dtype=torch.long).T, len(nodes)


def spectrum(graph: nx.Graph, renormalize: bool) -> np.ndarray:
    ei, n = edge_index_of(graph)
    return np.linalg.eigvalsh(propagation_matrix(ei, n, renormalize=renormalize, dtype=torch.float64).to_dense().numpy())


# --- Sec. 2.2: the cost of Eq. 8 is O(|E| F C) ---

class MacCounter:
    """Multiply-adds of every aten op a forward pass executes (a TorchDispatchMode, entered with `with`).

    Dense ops are counted by FlopCounterMode's own formulas (torch.utils.flop_counter.flop_registry, halved: one
    multiply-add is two flops). A product of a sparse matrix with a dense one costs nnz x (dense columns), the work
    of a CSR/COO kernel. A sparse matrix made dense costs one write per entry. Any other op on a sparse operand is
    refused, so that no work hides from the count. What is counted is what the built layer runs: an implementation
    that densified A_hat would be charged N^2 F for its product."""

    SPARSE_MATMULS = ("_sparse_addmm", "_sparse_mm", "addmm", "mm", "_sparse_csr_mm", "sparse_sampled_addmm")
    SPARSE_FREE = ("detach", "t", "alias", "_nnz", "values", "crow_indices", "col_indices", "indices",
                   "_values", "_indices", "sym_size", "size", "dim", "is_coalesced", "_coalesced_")
    SPARSE_TO_DENSE = ("_to_dense", "to_dense")

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils.flop_counter import flop_registry

        counter = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                counter._count(func, args, kwargs, out, flop_registry)
                return out

        self.mode, self.dense, self.sparse, self.ops = _Mode(), 0, 0, []

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)

    @property
    def total(self) -> int:
        return self.dense + self.sparse

    def _count(self, func, args, kwargs, out, registry) -> None:
        name = func._overloadpacket.__name__
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        sparse = [t for t in tensors if t.layout != torch.strided]
        self.ops.append(name)
        if sparse:
            if name in self.SPARSE_MATMULS:
                mat = next(t for t in tensors if t.layout != torch.strided and t.dim() == 2)
                other = [t for t in tensors if t is not mat and t.dim() == 2]
                cols = other[-1].shape[1] if other else 1
                nnz = mat._nnz() if mat.layout != torch.sparse_coo else mat.coalesce()._nnz()
                self.sparse += int(nnz) * int(cols)
            elif name in self.SPARSE_TO_DENSE:
                self.sparse += int(out.numel())
            elif name not in self.SPARSE_FREE:
                raise NotImplementedError(f"MacCounter: {name} on a sparse operand is not counted")
        elif func._overloadpacket in registry:
            self.dense += int(registry[func._overloadpacket](*args, **kwargs, out_val=out)) // 2


def layer_macs(edges: int, *, degree: int, in_features: int, out_features: int, seed: int = 0,
               layer_cls=GraphConvolution, device: str = "cpu") -> tuple[int, int]:
    """(|E|, multiply-adds of one forward pass of the built GraphConvolution) on a random graph with `edges` edge
    draws and 2 * edges / degree nodes; |E| = distinct undirected edges after deduplication. The count is taken by
    MacCounter on the layer's own forward (H W by FlopCounterMode's formulas, A_hat (H W) as nnz x F)."""
    n = 2 * edges // degree
    gen = torch.Generator().manual_seed(seed)
    a_hat = propagation_matrix(torch.randint(0, n, (2, edges), generator=gen), n)
    x = torch.randn(n, in_features, generator=gen)
    layer = layer_cls(in_features, out_features).to(device)
    a_hat, x = a_hat.to(device), x.to(device)
    with MacCounter() as counter, torch.no_grad():
        layer(x, a_hat)
    nnz = a_hat.values().numel()
    return (nnz - n) // 2, counter.total


def complexity_slope(c: dict, *, layer_cls=GraphConvolution, device: str = "cpu") -> tuple[float, list[int], list[int]]:
    """Log-log slope of one layer's multiply-adds against |E| for graphs of growing size at fixed mean degree."""
    counts = [layer_macs(e, degree=c["complexity_degree"], in_features=c["complexity_in"],
                         out_features=c["complexity_out"], layer_cls=layer_cls, device=device)
              for e in c["complexity_edges"]]
    e, macs = [k[0] for k in counts], [k[1] for k in counts]
    return float(np.polyfit(np.log(e), np.log(macs), 1)[0]), e, macs


# --- node classification: full-batch training as in Sec. 5.2 ---

def train_node_classifier(model, x, a_hat, y, train_idx, val_idx, test_idx, *, epochs, lr, weight_decay,
                          early_stop_window) -> float:
    """Adam, L2 on the first layer only, stop when the validation loss exceeds the mean of the previous
    `early_stop_window` epochs (Sec. 5.2; window 0 = no early stopping). Returns test accuracy."""
    first, rest = model.layers[0].parameters(), [p for layer in model.layers[1:] for p in layer.parameters()]
    opt = torch.optim.Adam([{"params": first, "weight_decay": weight_decay}, {"params": rest}], lr=lr)
    val_losses = []
    for _ in range(epochs):
        model.train()
        loss = F.cross_entropy(model(x, a_hat)[train_idx], y[train_idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if early_stop_window:
            model.eval()
            with torch.no_grad():
                val_losses.append(F.cross_entropy(model(x, a_hat)[val_idx], y[val_idx]).item())
            window = val_losses[-early_stop_window - 1:-1]
            if len(window) == early_stop_window and val_losses[-1] > sum(window) / len(window):
                break
    model.eval()
    with torch.no_grad():
        return (model(x, a_hat)[test_idx].argmax(1) == y[test_idx]).float().mean().item()


def noisy_sbm(seed: int, c: dict):
    """A stochastic block model whose node features are weak class signals in Gaussian noise."""
    k, size = c["sbm_blocks"], c["sbm_block_size"]
    probs = [[c["sbm_p_in"] if i == j else c["sbm_p_out"] for j in range(k)] for i in range(k)]
    graph = nx.stochastic_block_model([size] * k, probs, seed=seed)
    y = torch.tensor([graph.nodes[v]["block"] for v in graph.nodes])
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(k, c["sbm_features"], generator=gen)
    x = c["sbm_signal"] * means[y] + torch.randn(len(y), c["sbm_features"], generator=gen)
    perm = torch.randperm(len(y), generator=gen)
    train = torch.cat([perm[y[perm] == cls][:c["sbm_labels_per_class"]] for cls in range(k)])
    rest = perm[~torch.isin(perm, train)]
    ei, n = edge_index_of(graph)
    return x, y, propagation_matrix(ei, n), train, rest[:c["sbm_val"]], rest[c["sbm_val"]:]


def gcn_vs_mlp(seed: int, c: dict, x, a_hat, y, train, val, test) -> tuple[float, float]:
    """Test accuracy of a GCN and of an MLP of the same width, each trained from `seed` on one split."""
    accs = []
    for build in (gcn, mlp):
        seed_everything(seed)
        model = build(in_features=x.shape[1], num_classes=int(y.max()) + 1, hidden=c["hidden"],
                      dropout=c["dropout"]).to(x.device)
        accs.append(train_node_classifier(model, x, a_hat, y, train, val, test, epochs=c["epochs"], lr=c["lr"],
                                          weight_decay=c["weight_decay"], early_stop_window=c["early_stop_window"]))
    return accs[0], accs[1]


def sbm_run(c: dict, seed: int) -> tuple[float, float]:
    x, y, a_hat, train, val, test = (t.to(c.get("device", "cpu")) for t in noisy_sbm(seed, c))
    return gcn_vs_mlp(seed, c, x, a_hat, y, train, val, test)


# --- Appendix A: an untrained GCN on Zachary's karate club ---

def knn_accuracy(emb: np.ndarray, labels: np.ndarray, seed: int) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(3), emb, labels, cv=folds).mean())


def karate_communities(graph: nx.Graph, tries: int = 10) -> np.ndarray:
    """App. A's labels: "one of four classes, obtained via modularity-based clustering" (Brandes et al. 2008). The
    partition of highest modularity over `tries` Louvain runs; for the karate club it is the optimum, Q = 0.4198
    with 4 communities (tests/test_gcn.py)."""
    from networkx.algorithms.community import louvain_communities, modularity

    best = max((louvain_communities(graph, weight=None, seed=s) for s in range(tries)),
               key=lambda c: modularity(graph, c, weight=None))
    index = {v: i for i, v in enumerate(graph.nodes)}
    labels = np.zeros(len(index), dtype=int)
    for k, members in enumerate(sorted(best, key=min)):
        labels[[index[v] for v in members]] = k
    return labels


def label_modularity(graph: nx.Graph, labels: np.ndarray) -> float:
    """Newman's modularity Q of the partition that `labels` (one class per node, in graph.nodes order) makes."""
    from networkx.algorithms.community import modularity

    nodes = list(graph.nodes)
    return modularity(graph, [{nodes[i] for i in np.flatnonzero(labels == k)} for k in range(labels.max() + 1)], weight=None)


def karate_embedding_gap(seeds: list[int], labels: np.ndarray, device: str = "cpu") -> list[float]:
    """kNN accuracy on `labels` (the 4 modularity communities) of the untrained GCN's 2-D embedding minus that of a
    random 2-D embedding, one pair per seed."""
    graph = nx.karate_club_graph()
    ei, n = edge_index_of(graph)
    a_hat = propagation_matrix(ei, n).to(device)
    gaps = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = untrained_embedding_gcn(in_features=n).to(device)
        with torch.no_grad():
            emb = model(torch.eye(n, device=device), a_hat).cpu().numpy()  # X = I_N: featureless nodes (App. A)
        rand = np.random.default_rng(seed).standard_normal((n, 2))
        gaps.append(knn_accuracy(emb, labels, seed) - knn_accuracy(rand, labels, seed))
    return gaps


# --- full profile: Planetoid (Yang et al. 2016) splits, Table 2 ---

def _rows_at(m, rows: np.ndarray, n: int):
    """An n-row matrix (scipy sparse or numpy) holding m's rows at `rows` and zeros elsewhere."""
    import scipy.sparse as sp

    place = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, np.arange(len(rows)))), shape=(n, len(rows)))
    return (place @ m).tocsr() if sp.issparse(m) else place @ m


def load_planetoid(folder: Path | str, name: str):
    """Features (row-normalised, as the authors' code), labels, A_hat and the standard split of the raw files.

    Citeseer's isolated test nodes have no features in the files: zero rows, as the authors do. NELL (name
    "nell.0.001"): the same for every node past allx that is not a test node, and each of those (the relation
    nodes) gets a one-hot feature of its own (Sec. 5.1: 61,278 features); NELL's features stay sparse."""
    import scipy.sparse as sp

    folder = Path(folder)
    if not (folder / f"ind.{name}.x").exists():
        raise FileNotFoundError(f"{folder}/ind.{name}.x not found: download the `data/` folder of "
                                "https://github.com/kimiyoung/planetoid and set gcn.full.planetoid_dir in params.yaml")
    parts = {}
    for part in ("x", "y", "tx", "ty", "allx", "ally", "graph"):
        with open(folder / f"ind.{name}.{part}", "rb") as f:
            parts[part] = pickle.load(f, encoding="latin1")
    test_index = np.array([int(line) for line in (folder / f"ind.{name}.test.index").read_text().split()])
    sorted_test = np.sort(test_index)
    allx, tx = sp.csr_matrix(parts["allx"], dtype=np.float32), sp.csr_matrix(parts["tx"], dtype=np.float32)
    ally, ty = np.asarray(parts["ally"], dtype=np.float32), np.asarray(parts["ty"], dtype=np.float32)
    nell = name.startswith("nell")
    if name == "citeseer" or nell:  # test rows spread over a block with gaps: zero rows in the gaps
        start = sorted_test.min() if name == "citeseer" else allx.shape[0]
        size = sorted_test.max() - start + 1 if name == "citeseer" else len(parts["graph"]) - allx.shape[0]
        tx, ty = _rows_at(tx, sorted_test - start, size), _rows_at(ty, sorted_test - start, size)
    x, y = sp.vstack([allx, tx]).tocsr(), np.vstack([ally, ty])
    order = np.arange(x.shape[0])
    order[test_index] = sorted_test  # the test rows are stored in sorted order
    x, y = x[order], y[order]
    if nell:
        relation = np.setdiff1d(np.arange(allx.shape[0], x.shape[0]), test_index)
        x = sp.hstack([x, _rows_at(sp.identity(len(relation), np.float32, format="csr"), relation, x.shape[0])]).tocsr()
    rowsum = np.asarray(x.sum(1)).ravel()
    x = (sp.diags(np.where(rowsum > 0, 1 / np.maximum(rowsum, 1e-12), 0.0).astype(np.float32)) @ x).tocoo()
    features = (torch.sparse_coo_tensor(np.vstack([x.row, x.col]), x.data, x.shape).coalesce() if nell
                else torch.from_numpy(x.toarray()))
    edges = [(u, v) for u, nbrs in parts["graph"].items() for v in nbrs]
    a_hat = propagation_matrix(torch.tensor(edges, dtype=torch.long).T, x.shape[0])
    n_train = len(parts["y"])
    return (features, torch.from_numpy(y.argmax(1)).long(), a_hat, torch.arange(n_train),
            torch.arange(n_train, n_train + 500), torch.from_numpy(sorted_test))


def planetoid_run(cfg: dict, job: tuple[str, int]) -> tuple[float, float]:
    name, seed = job
    c = cfg | cfg.get("planetoid_overrides", {}).get(name, {})  # Sec. 5.2: NELL has its own hyperparameters
    data = load_planetoid(Path(REPO, c["planetoid_dir"]), name)
    x, y, a_hat, train, val, test = (t.to(c.get("device", "cpu")) for t in data)
    return gcn_vs_mlp(seed, c, x, a_hat, y, train, val, test)


def measure(cfg: dict, run) -> dict:
    cfg = {**cfg, "device": run.device}
    seeds = run.seeds(cfg["seeds"])
    metrics: dict = {}
    spectra = {(name, r): spectrum(make(), r) for name, make in SPECTRUM_GRAPHS.items() for r in (False, True)}
    first, renorm = [spectra[k] for k in spectra if not k[1]], [spectra[k] for k in spectra if k[1]]
    metrics["eig_first_order_min"] = min(float(s.min()) for s in first)
    metrics["eig_first_order_max"] = max(float(s.max()) for s in first)
    metrics["eig_renorm_min"] = min(float(s.min()) for s in renorm)
    metrics["eig_renorm_max"] = max(float(s.max()) for s in renorm)

    slope, edges, macs = complexity_slope(cfg)  # an op count: on the CPU at every profile
    metrics["layer_macs_loglog_slope_vs_edges"] = slope
    metrics["layer_macs_per_edge_feature_product"] = [m / (e * cfg["complexity_in"] * cfg["complexity_out"])
                                                      for e, m in zip(edges, macs)]

    sbm = map_seeds(functools.partial(sbm_run, cfg), seeds)
    metrics["sbm_acc_gcn"] = [g for g, _ in sbm]
    metrics["sbm_acc_mlp"] = [m for _, m in sbm]
    metrics["sbm_acc_gcn_minus_mlp"] = [g - m for g, m in sbm]
    karate = nx.karate_club_graph()
    labels = karate_communities(karate)
    metrics["karate_knn_acc_untrained_gcn_minus_random"] = karate_embedding_gap(run.seeds(cfg["karate_seeds"]), labels,
                                                                                run.device)
    metrics["karate_label_classes"] = int(labels.max() + 1)
    metrics["karate_label_modularity"] = label_modularity(karate, labels)
    metrics["karate_undirected_edges"] = karate.number_of_edges()
    metrics["karate_nodes"] = karate.number_of_nodes()

    setting = {"spectrum_graphs": list(SPECTRUM_GRAPHS) + ["(networkx bundled, unweighted)"],
               "sbm": {k: cfg[k] for k in cfg if k.startswith("sbm_")},
               "complexity": {"edges": edges, "macs": macs, "mean_degree": cfg["complexity_degree"],
                              "C_in": cfg["complexity_in"], "F_out": cfg["complexity_out"],
                              "graphs": "uniform random edge draws, 2|E|/degree nodes, seed 0",
                              "count": "aten ops of one GraphConvolution forward (dense: FlopCounterMode formulas; "
                                       "sparse x dense: nnz x columns)"},
               "training": {k: cfg[k] for k in ("hidden", "dropout", "lr", "weight_decay", "epochs", "early_stop_window")},
               "karate": f"untrained 34-4-4-2 tanh GCN, X = I, {cfg['karate_seeds']} seeds, 5-fold 3-NN accuracy "
                         "on the 4 modularity communities minus that of a N(0, I_2) embedding"}
    for name in cfg.get("planetoid", []):
        runs = map_seeds(functools.partial(planetoid_run, cfg), [(name, s) for s in seeds], label="dataset,seed")
        label = name.split(".")[0]  # nell.0.001 (label rate 0.001, the paper's split) -> nell
        metrics[f"{label}_acc_gcn"] = [g for g, _ in runs]
        metrics[f"{label}_acc_mlp"] = [m for _, m in runs]
        setting["planetoid"] = {"datasets": cfg["planetoid"], "folder": cfg["planetoid_dir"], "runs": len(seeds),
                                "overrides": cfg.get("planetoid_overrides", {})}
    return {"seeds": seeds, "metrics": metrics, "setting": setting}
