"""Random functions from a node's parents to the node: small MLPs and tree ensembles (TabICL's MLP/tree SCM).

Each mechanism maps standardised parent values (rows, n_parents) to one column (rows,). Both are drawn
fresh per node and evaluated once, vectorised over rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tabdiff.prior.draws import log_uniform, pick

Activation = Literal["identity", "tanh", "relu", "leaky_relu", "sin", "abs", "square", "step", "sigmoid", "elu"]
ALL_ACTIVATIONS: tuple[Activation, ...] = (
    "identity", "tanh", "relu", "leaky_relu", "sin", "abs", "square", "step", "sigmoid", "elu",
)  # fmt: skip

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.1 * x),
    "sin": np.sin,
    "abs": np.abs,
    # clipped so a chain of squares cannot overflow; inputs are standardised anyway
    "square": lambda x: np.minimum(x * x, 100.0),
    "step": lambda x: (x > 0).astype(np.float64),
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
}


def activate(kind: Activation, x: np.ndarray) -> np.ndarray:
    return _ACTIVATIONS[kind](x)


@dataclass(frozen=True)
class MechanismConfig:
    activations: tuple[Activation, ...] = ALL_ACTIVATIONS  # hidden/output nonlinearities, one per layer
    hidden_range: tuple[int, int] = (2, 16)  # MLP hidden width, uniform
    max_hidden_layers: int = 2  # MLP depth 0 (a linear map + activation) .. this
    weight_scale_range: tuple[float, float] = (0.3, 3.0)  # how nonlinear the MLP is: input gain, log-uniform
    tree_depth_range: tuple[int, int] = (1, 4)  # depth of each random tree, uniform
    max_trees: int = 4  # a tree mechanism sums 1..max_trees trees (a random forest-like additive model)


def mlp_mechanism(rng: np.random.Generator, cfg: MechanismConfig, x: np.ndarray) -> np.ndarray:
    """A random MLP on the parents x (rows, p) -> (rows,), each layer with its own activation."""
    h = x
    n_hidden = int(rng.integers(0, cfg.max_hidden_layers + 1))
    gain = log_uniform(rng, *cfg.weight_scale_range)
    for _ in range(n_hidden):
        width = int(rng.integers(cfg.hidden_range[0], cfg.hidden_range[1] + 1))
        w = rng.standard_normal((h.shape[1], width)) * (gain / np.sqrt(h.shape[1]))
        h = activate(pick(rng, cfg.activations), h @ w + rng.normal(0.0, 0.5, width))
    w = rng.standard_normal(h.shape[1]) * (gain / np.sqrt(h.shape[1]))
    return activate(pick(rng, cfg.activations), h @ w + rng.normal(0.0, 0.5))


def tree_mechanism(rng: np.random.Generator, cfg: MechanismConfig, x: np.ndarray) -> np.ndarray:
    """A sum of random axis-aligned decision trees on the parents x (rows, p) -> (rows,), piecewise constant.

    Each internal node splits on a random parent at the value of a random row, so no split is empty
    at the root and the leaves partition the data unevenly, as fitted trees do.
    """
    n_rows, n_parents = x.shape
    out = np.zeros(n_rows)
    for _ in range(int(rng.integers(1, cfg.max_trees + 1))):
        depth = int(rng.integers(cfg.tree_depth_range[0], cfg.tree_depth_range[1] + 1))
        n_internal = 2**depth - 1
        feature = rng.integers(0, n_parents, n_internal)  # heap order: children of i are 2i+1, 2i+2
        threshold = x[rng.integers(0, n_rows, n_internal), feature]
        leaf_value = rng.standard_normal(2**depth)
        node = np.zeros(n_rows, dtype=np.int64)
        for _ in range(depth):
            go_right = x[np.arange(n_rows), feature[node]] > threshold[node]
            node = 2 * node + 1 + go_right
        out += leaf_value[node - n_internal]
    return out


Mechanism = Literal["mlp", "tree"]


def apply_mechanism(rng: np.random.Generator, cfg: MechanismConfig, kind: Mechanism, x: np.ndarray) -> np.ndarray:
    if kind == "mlp":
        return mlp_mechanism(rng, cfg, x)
    if kind == "tree":
        return tree_mechanism(rng, cfg, x)
    raise ValueError(f"unknown mechanism {kind!r}")
