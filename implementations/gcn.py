"""Semi-Supervised Classification with Graph Convolutional Networks.

Thomas N. Kipf, Max Welling. ICLR 2017. https://arxiv.org/abs/1609.02907

Idea: a first-order approximation of spectral graph convolutions gives the layer H' = sigma(A_hat H W) (Eq. 2),
where A_hat = D~^-1/2 (A + I) D~^-1/2 is the "renormalization trick" (Sec. 2.2) that keeps the propagation
operator's spectrum in (-1, 1]; a two-layer GCN (Eq. 9) trained on a few labelled nodes classifies the rest.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def propagation_matrix(edge_index: torch.Tensor, num_nodes: int, *, renormalize: bool = True,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The propagation operator as a sparse (num_nodes x num_nodes) CSR tensor.

    edge_index: (2, E) long tensor of an undirected graph, each edge listed once or in both directions.
    renormalize=True:  D~^-1/2 (A + I) D~^-1/2 with D~_ii = sum_j (A + I)_ij (Sec. 2.2, the renormalization trick).
    renormalize=False: I + D^-1/2 A D^-1/2, the first-order operator of Eq. 6 with eigenvalues in [0, 2].
    """
    n = num_nodes
    src, dst = edge_index[:, edge_index[0] != edge_index[1]]  # self-loops come from the identity only
    a = torch.sparse_coo_tensor(torch.stack([torch.cat([src, dst]), torch.cat([dst, src])]),
                                torch.ones(2 * src.numel(), dtype=dtype), (n, n), check_invariants=False).coalesce()
    a = torch.sparse_coo_tensor(a.indices(), torch.ones_like(a.values()), (n, n), check_invariants=False)  # repeated edges count once
    eye = torch.sparse_coo_tensor(torch.arange(n).repeat(2, 1), torch.ones(n, dtype=dtype), (n, n), check_invariants=False)
    a = (a + eye if renormalize else a).coalesce()  # A~ = A + I_N
    deg = torch.sparse.sum(a, dim=1).to_dense()
    d = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))  # an isolated node of A has degree 0
    i, j = a.indices()
    norm = torch.sparse_coo_tensor(a.indices(), d[i] * a.values() * d[j], (n, n), check_invariants=False)
    # CSR: on CPU torch.sparse.mm with a COO matrix measured superlinear in nnz (57 ms vs 1.1 ms at 2.2e5 nnz)
    return (norm if renormalize else norm + eye).coalesce().to_sparse_csr()


class GraphConvolution(nn.Module):
    """One layer of Eq. 2 without its nonlinearity: A_hat H W (+ b). Glorot-initialised weights, as in Sec. 5.2."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        nn.init.xavier_uniform_(self.linear.weight)
        if bias:
            nn.init.zeros_(self.linear.bias)

    def transform(self, h: torch.Tensor) -> torch.Tensor:
        """H W (+ b); H may be a sparse COO matrix (NELL's 61,278-dimensional one-hot-extended features)."""
        if not h.is_sparse:
            return self.linear(h)
        hw = torch.sparse.mm(h, self.linear.weight.T)
        return hw + self.linear.bias if self.linear.bias is not None else hw

    def forward(self, h: torch.Tensor, a_hat: torch.Tensor) -> torch.Tensor:
        # multiply by W first: cost O(|E| F C) for A_hat X W with sparse A_hat (Sec. 2.2, complexity of Eq. 8)
        return torch.sparse.mm(a_hat, self.transform(h))


def sparse_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout on the stored entries of a sparse COO matrix (the authors' code does the same for sparse inputs)."""
    if not training or p == 0:
        return x
    x = x.coalesce()
    keep = torch.rand_like(x.values()) >= p
    return torch.sparse_coo_tensor(x.indices()[:, keep], x.values()[keep] / (1 - p), x.shape)


class GCN(nn.Module):
    """Stacked graph convolutions: Z = A_hat act(... act(A_hat X W0) ...) W_L (Eq. 9 for two layers).

    The last layer returns logits (the softmax of Eq. 9 lives in the cross-entropy loss). Dropout before every
    layer, as in the authors' code (Sec. 5.2: dropout rate 0.5). `graph=False` drops A_hat: the MLP baseline.
    """

    def __init__(self, sizes: list[int], *, dropout: float = 0.5, activation=F.relu, graph: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(GraphConvolution(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout, self.activation, self.graph = dropout, activation, graph

    def forward(self, x: torch.Tensor, a_hat: torch.Tensor | None) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            drop = sparse_dropout if x.is_sparse else F.dropout
            x = drop(x, self.dropout, self.training)
            x = layer(x, a_hat) if self.graph else layer.transform(x)
            if k < len(self.layers) - 1:
                x = self.activation(x)
        return x


def gcn(*, in_features: int, num_classes: int, hidden: int = 16, dropout: float = 0.5) -> GCN:
    """The paper's two-layer GCN (Eq. 9; Sec. 5.2: 16 hidden units, dropout 0.5, Adam 0.01, L2 5e-4 on layer 1)."""
    return GCN([in_features, hidden, num_classes], dropout=dropout)


def mlp(*, in_features: int, num_classes: int, hidden: int = 16, dropout: float = 0.5) -> GCN:
    """The MLP baseline of Table 3: the same two layers with A_hat replaced by the identity."""
    return GCN([in_features, hidden, num_classes], dropout=dropout, graph=False)


def untrained_embedding_gcn(*, in_features: int, sizes: tuple[int, ...] = (4, 4, 2)) -> GCN:
    """Appendix A / Fig. 3: a 3-layer GCN with random Glorot weights and tanh, no training, 2-D node embeddings."""
    return GCN([in_features, *sizes], dropout=0.0, activation=torch.tanh)
