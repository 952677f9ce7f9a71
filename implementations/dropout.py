"""Dropout: A Simple Way to Prevent Neural Networks from Overfitting.

Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov, JMLR 15(56):1929-1958, 2014.
https://jmlr.org/papers/v15/srivastava14a.html

Idea: during training, keep each unit with probability p (0.8 for inputs, 0.5 for hidden units; Sec. 4, 7.3) and
train the thinned network; at test time use the whole network with weights scaled by p, a cheap approximation of
averaging the 2^n thinned networks (Sec. 4, Fig. 2), which Monte-Carlo averaging confirms (Sec. 7.5). Works best
with max-norm regularisation, ||w|| <= c for each unit's incoming weights (Sec. 5.1), and high learning rates.

The paper's p is a *retain* probability; torch's nn.Dropout takes the drop probability 1 - p and scales the kept
units by 1/p at training time ("inverted dropout"), which is the same network as scaling the weights by p at test.
"""
from __future__ import annotations

import torch
from torch import nn


def dropout_mlp(*, in_features: int = 784, hidden: tuple[int, ...] = (1024, 1024, 1024), num_classes: int = 10,
                retain_input: float = 0.8, retain_hidden: float = 0.5) -> nn.Sequential:
    """Sec. 6.1.1 / Table 2: ReLU MLP (3x1024 on MNIST) with dropout on the input and on every hidden layer."""
    layers: list[nn.Module] = [nn.Dropout(1 - retain_input)]
    for h in hidden:
        layers += [nn.Linear(in_features, h), nn.ReLU(), nn.Dropout(1 - retain_hidden)]
        in_features = h
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)


@torch.no_grad()
def max_norm_(model: nn.Module, c: float) -> None:
    """Sec. 5.1: after each update, project each hidden unit's incoming weight vector onto the ball ||w||_2 <= c.

    The output layer is constrained too, as in the paper's Appendix B.1 ("all weights").
    """
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.weight.copy_(torch.renorm(m.weight, p=2, dim=0, maxnorm=c))


@torch.no_grad()
def weight_scaled_probs(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Sec. 4: the deterministic test-time network (eval mode: torch's inverted dropout = weights scaled by p)."""
    model.eval()
    return model(X).softmax(1)


@torch.no_grad()
def monte_carlo_probs(model: nn.Module, X: torch.Tensor, k: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sec. 7.5: sample k thinned networks (dropout on, a fresh mask per example and sample), average their softmax."""
    model.train()
    total = torch.zeros(())
    for _ in range(k):
        out = X
        for m in model:  # apply each layer, drawing dropout masks from `generator` for reproducibility
            if isinstance(m, nn.Dropout) and m.p > 0:
                keep = 1 - m.p
                out = out * (torch.rand(out.shape, generator=generator) < keep) / keep
            else:
                out = m(out)
        total = total + out.softmax(1)
    model.eval()
    return total / k
