"""Structural causal model tables: a random DAG, a random mechanism per node, a subset of nodes observed.

In the spirit of TabPFN's SCM prior and TabICL's MLP/tree mix (70/30, notes section 2): nodes are
computed in topological order as `x_j = standardise(f_j(parents)) + noise_j`, where `f_j` is a small
random MLP or a sum of random trees. There are more nodes than columns, so some causes stay hidden and
the observed columns are noisy, partly confounded views of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tabdiff.prior.draws import Noise, log_uniform, noise, pick, standardize
from tabdiff.prior.mechanisms import MechanismConfig, apply_mechanism
from tabdiff.prior.table import RawTable

RootDist = Literal["normal", "uniform", "mixture"]


@dataclass(frozen=True)
class SCMConfig:
    hidden_node_range: tuple[float, float] = (0.25, 1.0)  # extra (unobserved) nodes as a fraction of cols, uniform
    root_frac_range: tuple[float, float] = (0.1, 0.4)  # fraction of nodes without parents, uniform
    max_parents: int = 4  # each non-root node draws 1..max_parents parents among earlier nodes
    tree_prob: float = 0.3  # probability a node's mechanism is a tree ensemble instead of an MLP (TabICL 70/30)
    root_dists: tuple[RootDist, ...] = ("normal", "uniform", "mixture")  # distribution of root causes
    noise_dists: tuple[Noise, ...] = ("gaussian", "laplace", "student_t", "uniform")  # one per table
    noise_range: tuple[float, float] = (0.01, 0.5)  # per-node noise std relative to the signal, log-uniform
    effect_target_prob: float = 0.5  # probability the last column is a sink-ward node (an effect: a "target")
    sort_prob: float = 0.3  # probability the observed columns keep topological order, else shuffled
    mechanism: MechanismConfig = field(default_factory=MechanismConfig)  # how the MLP / tree mechanisms look


def root_values(rng: np.random.Generator, dist: RootDist, n_rows: int) -> np.ndarray:
    if dist == "normal":
        return rng.standard_normal(n_rows)
    if dist == "uniform":
        return rng.uniform(-1.0, 1.0, n_rows)
    if dist == "mixture":
        # clustered causes: a few well-separated modes of random widths
        k = int(rng.integers(2, 5))
        centres, widths = rng.normal(0.0, 2.0, k), rng.uniform(0.1, 1.0, k)
        z = rng.integers(0, k, n_rows)
        return centres[z] + widths[z] * rng.standard_normal(n_rows)
    raise ValueError(f"unknown root distribution {dist!r}")


class SCMPrior:
    """Random DAG + random MLP/tree mechanisms; observed columns are a random subset of nodes."""

    family = "scm"

    def __init__(self, config: SCMConfig | None = None) -> None:
        self.config = config or SCMConfig()

    def sample(self, rng: np.random.Generator, n_rows: int, n_cols: int) -> RawTable:
        cfg = self.config
        n_nodes = n_cols + int(round(n_cols * rng.uniform(*cfg.hidden_node_range)))
        n_roots = max(1, int(round(n_nodes * rng.uniform(*cfg.root_frac_range))))
        noise_kind = pick(rng, cfg.noise_dists)
        noise_std = log_uniform(rng, *cfg.noise_range)  # one level per table, varied per node below
        nodes = np.empty((n_rows, n_nodes))
        for j in range(n_nodes):
            if j < n_roots:
                nodes[:, j] = root_values(rng, pick(rng, cfg.root_dists), n_rows)
                continue
            k = int(rng.integers(1, min(cfg.max_parents, j) + 1))
            # favour recent nodes as parents, so chains grow deep instead of everything hanging off the roots
            recency = np.arange(1, j + 1, dtype=np.float64)
            parents = rng.choice(j, size=k, replace=False, p=recency / recency.sum())
            kind = "tree" if rng.random() < cfg.tree_prob else "mlp"
            signal = standardize(apply_mechanism(rng, cfg.mechanism, kind, nodes[:, parents])[:, None])[:, 0]
            scale = noise_std * rng.uniform(0.5, 2.0)
            nodes[:, j] = signal + scale * noise(rng, noise_kind, n_rows)
        nodes = standardize(nodes)
        observed, target_col = self._observe(rng, n_nodes, n_roots, n_cols)
        return RawTable.numeric(nodes[:, observed], target_col=target_col)

    def _observe(
        self, rng: np.random.Generator, n_nodes: int, n_roots: int, n_cols: int
    ) -> tuple[np.ndarray, int | None]:
        """Which nodes become columns, in which order, and which column (if any) is the target."""
        cfg = self.config
        if rng.random() < cfg.effect_target_prob and n_nodes > n_roots:
            # target: one of the last non-root nodes, an effect with many ancestors
            target = int(rng.integers(max(n_roots, n_nodes - 3), n_nodes))
            rest = np.delete(np.arange(n_nodes), target)
            others = rng.choice(rest, size=n_cols - 1, replace=False)
            others = np.sort(others) if rng.random() < cfg.sort_prob else others
            return np.append(others, target), n_cols - 1
        observed = rng.choice(n_nodes, size=n_cols, replace=False)
        return (np.sort(observed) if rng.random() < cfg.sort_prob else observed), None
